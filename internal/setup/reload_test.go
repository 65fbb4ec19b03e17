package setup

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mailward/config"
	"mailward/internal/certs"
)

// A changed [categorizer] is applied by a restart only (the categorizer
// is built once), and the reload says so instead of keeping silent.
func TestReloadNamesCategorizerForRestart(t *testing.T) {
	old := &config.Config{}
	cfg := &config.Config{Categorizer: config.Categorizer{MaxExpandedRecipients: 5}}
	if got := restartOnly(old, cfg); !slices.Contains(got, "[categorizer]") {
		t.Errorf("restart-only sections %v, want [categorizer] among them", got)
	}
}

const reloadBase = `
[server]
fqdn = "mx1.example.test"
data_dir = "data"
[tls]
cert_file = "%s"
key_file = "%s"
[[domain]]
name = "example.test"
[[virtual_server]]
name = "default"
address = "127.0.0.1:2525"
tls = "starttls"
max_recipients = %d
`

// A reload gives the virtual servers their new settings (for the
// sessions to come) and serves the certificate of other files, and names
// neither for a restart; a file Build refuses (here: a certificate file
// that is missing) changes nothing.
func TestReloadVirtualServersAndCertificateFiles(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a", "b"} {
		if err := certs.SelfSigned(filepath.Join(dir, n+".pem"), filepath.Join(dir, n+"-key.pem"), "mx1.example.test"); err != nil {
			t.Fatal(err)
		}
	}
	st, err := Build(loadConfig(t, dir, fmt.Sprintf(reloadBase, "a.pem", "a-key.pem", 10)))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Open(); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	served := func() string { return servedBy(t, st.TLS) }
	serial := func(name string) string {
		t.Helper()
		c, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(c.Certificate[0])
		return leaf.SerialNumber.String()
	}
	if served() != serial("a") {
		t.Fatal("a.pem is not served at start")
	}

	before := st.SMTP(0) // a session that connected before the reload
	r, err := st.Reload(loadConfig(t, dir, fmt.Sprintf(reloadBase, "b.pem", "b-key.pem", 3)))
	if err != nil {
		t.Fatal(err)
	}
	if got := st.VirtualServers[0].Settings.MaxRecipients; got != 3 {
		t.Errorf("max_recipients after the reload: %d, want 3", got)
	}
	if got := st.SMTP(0).Settings.MaxRecipients; got != 3 {
		t.Errorf("the options for new sessions have max_recipients %d, want 3", got)
	}
	if served() != serial("b") || servedBy(t, st.SMTP(0).TLS) != serial("b") {
		t.Error("b.pem is not served after the reload that names it")
	}
	if servedBy(t, before.TLS) != serial("a") || before.Settings.MaxRecipients != 10 {
		t.Error("a session from before the reload does not keep its certificate and settings")
	}
	if len(r.NeedRestart) > 0 {
		t.Errorf("the reload names for a restart %v, want nothing", r.NeedRestart)
	}

	// A certificate file that is not there: config.Load passes it,
	// Build does not (as at start).
	bad := fmt.Sprintf(reloadBase, "missing.pem", "missing-key.pem", 7)
	if _, err := st.Reload(loadConfig(t, dir, bad)); err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Fatalf("reload of a file naming a missing certificate: %v", err)
	}
	if got := st.VirtualServers[0].Settings.MaxRecipients; got != 3 || served() != serial("b") || st.Config.VirtualServers[0].MaxRecipients != 3 {
		t.Errorf("a refused reload changed something: max_recipients %d, certificate a: %v", got, served() == serial("a"))
	}
}

// What still needs a restart is named: data_dir ([server]) and [queue].
func TestReloadNamesDataDirAndQueueForRestart(t *testing.T) {
	old := &config.Config{}
	cfg := &config.Config{Server: config.Server{DataDir: "/elsewhere"}, Queue: config.Queue{Workers: 3}}
	got := restartOnly(old, cfg)
	for _, w := range []string{"[server]", "[queue]"} {
		if !slices.Contains(got, w) {
			t.Errorf("restart-only sections %v, want %s among them", got, w)
		}
	}
	for _, w := range []string{"[[virtual_server]]", "[[dnsbl]]", "[tls] file names"} {
		if slices.Contains(restartOnly(&config.Config{}, &config.Config{VirtualServers: []config.VirtualServer{{Name: "x"}}}), w) {
			t.Errorf("%s named for a restart", w)
		}
	}
}

// servedBy is the serial of the certificate tc presents.
func servedBy(t *testing.T, tc *tls.Config) string {
	t.Helper()
	c, err := tc.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.SerialNumber.String()
}
