package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const minimal = `
[server]
fqdn = "MX1.Example.Test."
[[domain]]
name = "example.test"
[[virtual_server]]
name = "default"
address = "127.0.0.1:2525"
`

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	l := c.VirtualServers[0]
	if c.Server.FQDN != "mx1.example.test" || c.Server.DefaultDomain != "example.test" || c.Server.Postmaster != "postmaster@example.test" {
		t.Fatalf("server defaults: %+v", c.Server)
	}
	if l.FQDN != "mx1.example.test" || l.TLS != VirtualServerTLSStartTLS || l.BareLF != BareLFReject || l.MaxLineLength != 1000 ||
		l.MaxRecipients != 100 || l.MaxMessageSize != 25<<20 || l.IdleTimeout.Duration != 5*time.Minute {
		t.Fatalf("virtual server defaults: %+v", l)
	}
	// Never an open relay by default.
	if l.RelayAuthenticated || len(l.RelayNetworks) != 0 || len(l.Auth) != 0 {
		t.Fatalf("default virtual server may relay: %+v", l)
	}
	if d := c.Domains[0]; !*d.RecipientFiltering || d.Tarpit.Duration != DefaultTarpit {
		t.Fatalf("domain defaults: %+v", d)
	}
	if c.Diagnostics["smtp_receive"] != DiagMinimum || len(c.Queue.RetrySchedule) == 0 {
		t.Fatalf("diagnostics/queue defaults: %v %v", c.Diagnostics, c.Queue)
	}
	// A non-delivery report returns at most 50,000 bytes of the
	// original (Postfix's bounce_size_limit), and a limit set is kept.
	if c.Queue.BounceSizeLimit != 50000 {
		t.Fatalf("queue.bounce_size_limit default %d, want 50000", c.Queue.BounceSizeLimit)
	}
	if c, err := Parse([]byte("[queue]\nbounce_size_limit = 8000\n" + minimal)); err != nil || c.Queue.BounceSizeLimit != 8000 {
		t.Fatalf("queue.bounce_size_limit = 8000 read as %v (%v)", c, err)
	}
}

// Strict parsing: an unknown key is an error naming the key and its line.
func TestUnknownKeyNamesKeyAndLine(t *testing.T) {
	_, err := Parse([]byte(minimal + "relay_network = [\"0.0.0.0/0\"]\n"))
	if err == nil {
		t.Fatal("unknown key accepted")
	}
	if !strings.Contains(err.Error(), `line 9: unknown key "virtual_server.relay_network"`) {
		t.Fatalf("error does not name key and line: %v", err)
	}
}

// The table's old name is refused with the new one.
func TestListenerRenamed(t *testing.T) {
	_, err := Parse([]byte(strings.Replace(minimal, "[[virtual_server]]", "[[listener]]", 1)))
	if err == nil || !strings.Contains(err.Error(), "[[listener]] is now called [[virtual_server]]") {
		t.Fatalf("old table name: %v", err)
	}
}

func TestValidation(t *testing.T) {
	cases := map[string]string{
		"no domain":                "[[virtual_server]]\nname=\"a\"\naddress=\"127.0.0.1:1\"\n",
		"default not local":        strings.Replace(minimal, "[server]\n", "[server]\ndefault_domain = \"other.test\"\n", 1),
		"bad tls":                  minimal + "tls = \"maybe\"\n",
		"bad auth":                 minimal + "auth = [\"CRAM-MD5\"]\n",
		"auth without tls":         minimal + "tls = \"none\"\nauth = [\"PLAIN\"]\n",
		"bad relay network":        minimal + "relay_networks = [\"everyone\"]\n",
		"bad bare_lf":              minimal + "bare_lf = \"accept\"\n",
		"short lines":              minimal + "max_line_length = 80\n",
		"negative errors":          minimal + "max_errors = -1\n",
		"bad duration":             minimal + "idle_timeout = \"5 minutes\"\n",
		"bad diagnostics":          minimal + "[diagnostics]\nsmtp_receive = \"loud\"\n",
		"unknown category":         minimal + "[diagnostics]\nsmtp = \"medium\"\n",
		"zero retry":               minimal + "[queue]\nretry_schedule = [\"0s\"]\n",
		"negative bounce":          minimal + "[queue]\nbounce_size_limit = -1\n",
		"mailbox elsewhere":        minimal + "[[mailbox]]\naddress = \"a@other.test\"\n",
		"plaintext password":       minimal + "[[mailbox]]\naddress = \"a@example.test\"\npassword_hash = \"secret\"\n",
		"duplicate virtual server": minimal + "[[virtual_server]]\nname = \"default\"\naddress = \"127.0.0.1:2526\"\n",
		// Option words are typed when parsed: anything else is refused,
		// integers too.
		"tls as a number":  minimal + "tls = 1\n",
		"bad delivery tls": "[delivery]\ntls = \"sometimes\"\n" + minimal,
		"bad route tls":    minimal + "[[route]]\ndomain = \"x.test\"\ntls = \"yes\"\n",
		"bad queue sync":   "[queue]\nsync = \"never\"\n" + minimal,
		"bad log level":    "[log]\nlevel = \"verbose\"\n" + minimal,
		"bad log format":   "[log]\nformat = \"xml\"\n" + minimal,
		// The domains may come from the organization directory, but
		// then default_domain must be said.
		"organization, no domain, no default": "[organization]\nfile = \"org.toml\"\n" +
			"[[virtual_server]]\nname=\"a\"\naddress=\"127.0.0.1:1\"\n",
	}
	for name, toml := range cases {
		if _, err := Parse([]byte(toml)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A word is matched without regard to case and kept as the typed value.
func TestWordsAreTyped(t *testing.T) {
	c, err := Parse([]byte("[delivery]\ntls = \"Required\"\n[queue]\nsync = \"fsync\"\n" + minimal + "tls = \"NONE\"\nbare_lf = \"normalize\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	l := c.VirtualServers[0]
	if c.Delivery.TLS != DeliveryTLSRequired || c.Queue.Sync != FSync || l.TLS != VirtualServerTLSNone || l.BareLF != BareLFNormalize {
		t.Fatalf("words: delivery %v, sync %v, virtual server %v, bare_lf %v", c.Delivery.TLS, c.Queue.Sync, l.TLS, l.BareLF)
	}
	_, err = Parse([]byte(minimal + "tls = \"maybe\"\n"))
	if err == nil || !strings.Contains(err.Error(), `line 9`) || !strings.Contains(err.Error(), `"maybe" is not one of: none, starttls, required`) {
		t.Fatalf("bad word error: %v", err)
	}
}

func TestRelativePathsFollowTheFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.toml")
	os.WriteFile(p, []byte(strings.Replace(minimal, "[server]\n", "[server]\ndata_dir = \"spool\"\n", 1)), 0o600)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.DataDir != filepath.Join(dir, "spool") || c.MailboxDir() != filepath.Join(dir, "spool", "mailboxes") {
		t.Fatalf("paths: %s %s", c.Server.DataDir, c.MailboxDir())
	}
}

func TestShippedExamplesParse(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.toml")
	if len(files) == 0 {
		t.Fatal("no examples found")
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestEventLogDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	want := EventLog{MaxSize: 10 << 20, MaxAge: Duration{24 * time.Hour}, Keep: 7, RateLimit: 10, Reserve: 1 << 20}
	if c.EventLog != want {
		t.Fatalf("event_log defaults %+v, want %+v", c.EventLog, want)
	}
}

func TestEventLogSettings(t *testing.T) {
	c, err := Parse([]byte(minimal + `
[event_log]
max_size = 1048576
max_age = "2h"
keep = 3
rate_limit = 100
reserve = 262144
`))
	if err != nil {
		t.Fatal(err)
	}
	want := EventLog{MaxSize: 1 << 20, MaxAge: Duration{2 * time.Hour}, Keep: 3, RateLimit: 100, Reserve: 256 << 10}
	if c.EventLog != want {
		t.Fatalf("event_log %+v, want %+v", c.EventLog, want)
	}
	// Strict parsing covers the new table too.
	if _, err := Parse([]byte(minimal + "[event_log]\nmax_files = 3\n")); err == nil || !strings.Contains(err.Error(), `"event_log.max_files"`) {
		t.Fatalf("unknown event_log key: %v", err)
	}
}

func TestEventLogValidation(t *testing.T) {
	cases := []struct{ line, want string }{
		{"max_size = -1", "event_log.max_size"},
		{"max_size = 4096", "event_log.max_size"},
		{`max_age = "30s"`, "event_log.max_age"},
		{"keep = -2", "event_log.keep"},
		{"keep = 1001", "event_log.keep"},
		{"rate_limit = -1", "event_log.rate_limit"},
		{"reserve = -1", "event_log.reserve"},
		{"reserve = 1024", "event_log.reserve"},
		{"reserve = 2147483648", "event_log.reserve"},
		{`max_size = "10M"`, "line 10"},
		{"max_age = 86400", "invalid duration"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(minimal + "[event_log]\n" + c.line + "\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.line, err, c.want)
		}
	}
	// The bounds themselves are accepted.
	if _, err := Parse([]byte(minimal + "[event_log]\nmax_size = 65536\nmax_age = \"1m\"\nkeep = 1000\nrate_limit = 1\nreserve = 65536\n")); err != nil {
		t.Fatalf("bounds refused: %v", err)
	}
}

// Every [event_log] key is documented in its section of
// docs/configuration.md.
func TestEventLogKeysDocumented(t *testing.T) {
	b, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "\n## [event_log]\n")
	if start < 0 {
		t.Fatal("docs/configuration.md has no [event_log] section")
	}
	section := doc[start+1:]
	if end := strings.Index(section[1:], "\n## "); end >= 0 {
		section = section[:end+1]
	}
	typ := reflect.TypeOf(EventLog{})
	for i := range typ.NumField() {
		key := typ.Field(i).Tag.Get("toml")
		if !strings.Contains(section, "| `"+key+"` |") {
			t.Errorf("event_log.%s is not in the [event_log] table of docs/configuration.md", key)
		}
	}
}

// A server of an organization may have no [[domain]] of its own: its
// default_domain is then checked against the directory's domains when
// the directory is read (internal/setup), not here.
func TestOrganizationDomainsOnly(t *testing.T) {
	c, err := Parse([]byte("[server]\ndefault_domain = \"Example.Test\"\n[organization]\nfile = \"org.toml\"\n" +
		"[[virtual_server]]\nname=\"a\"\naddress=\"127.0.0.1:1\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.DefaultDomain != "example.test" || c.Server.Postmaster != "postmaster@example.test" {
		t.Errorf("default_domain %q, postmaster %q", c.Server.DefaultDomain, c.Server.Postmaster)
	}
}

// [metrics] is off by default; an address must be host:port.
func TestMetricsAddress(t *testing.T) {
	base := "[server]\nfqdn = \"mx.example.test\"\n[[domain]]\nname = \"example.test\"\n[[virtual_server]]\nname = \"default\"\naddress = \"127.0.0.1:2525\"\n"
	c, err := Parse([]byte(base))
	if err != nil || c.Metrics.Address != "" {
		t.Fatalf("default: %+v, %v", c.Metrics, err)
	}
	c, err = Parse([]byte(base + "[metrics]\naddress = \"127.0.0.1:9325\"\n"))
	if err != nil || c.Metrics.Address != "127.0.0.1:9325" {
		t.Fatalf("set: %+v, %v", c.Metrics, err)
	}
	for _, a := range []string{"9325", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:70000"} {
		if _, err := Parse([]byte(base + "[metrics]\naddress = \"" + a + "\"\n")); err == nil || !strings.Contains(err.Error(), "metrics.address") {
			t.Errorf("address %q: %v", a, err)
		}
	}
}

// [protocol_log]: off everywhere by default, with the event log's
// rotation; the directory is resolved against the file; bad bounds are
// refused; every key is documented in its section.
func TestProtocolLogConfig(t *testing.T) {
	base := "[server]\nfqdn = \"mx.example.test\"\ndata_dir = \"/var/lib/mailward\"\n[[domain]]\nname = \"example.test\"\n[[virtual_server]]\nname = \"default\"\naddress = \"127.0.0.1:2525\"\n"
	c, err := Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.ProtocolLogOn() || c.Delivery.ProtocolLog || c.VirtualServers[0].ProtocolLog {
		t.Fatal("a protocol log is on by default")
	}
	if p := c.ProtocolLog; p.MaxSize != DefaultProtocolLogMaxSize || p.MaxAge.Duration != DefaultProtocolLogMaxAge || p.MaxFiles != DefaultProtocolLogMaxFiles {
		t.Fatalf("defaults %+v", p)
	}
	if d := c.ProtocolLogDir(); d != "/var/lib/mailward/protocol-log" {
		t.Fatalf("default directory %s", d)
	}
	c, err = Parse([]byte(strings.Replace(base, "address = \"127.0.0.1:2525\"\n", "address = \"127.0.0.1:2525\"\nprotocol_log = true\n", 1) +
		"[protocol_log]\ndirectory = \"/var/log/mailward/protocol-log\"\nmax_files = 3\n"))
	if err != nil || !c.ProtocolLogOn() || c.ProtocolLogDir() != "/var/log/mailward/protocol-log" || c.ProtocolLog.MaxFiles != 3 {
		t.Fatalf("set: %+v, %v", c.ProtocolLog, err)
	}
	for _, bad := range []string{"max_size = 100", "max_age = \"1s\"", "max_files = 1001", "compress = true"} {
		if _, err := Parse([]byte(base + "[protocol_log]\n" + bad + "\n")); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	b, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "\n## [protocol_log]\n")
	if start < 0 {
		t.Fatal("docs/configuration.md has no [protocol_log] section")
	}
	section := doc[start+1:]
	if end := strings.Index(section[1:], "\n## "); end >= 0 {
		section = section[:end+1]
	}
	typ := reflect.TypeOf(ProtocolLog{})
	for i := range typ.NumField() {
		if key := typ.Field(i).Tag.Get("toml"); !strings.Contains(section, "| `"+key+"` |") {
			t.Errorf("protocol_log.%s is not in the [protocol_log] table of docs/configuration.md", key)
		}
	}
}

// org_auth_offer follows the directory: "servers" with a file (the EHLO
// name decides trust, KB843106), "everyone" with LDAP, whose replica may
// not know a new server yet (KB979174); a value set is kept.
func TestOrgAuthOfferDefault(t *testing.T) {
	file, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if got := file.VirtualServers[0].OrgAuthOffer; got != OrgAuthOfferServers {
		t.Errorf("with a directory file: %v, want servers", got)
	}
	ldap := "[organization]\ndirectory = \"ldap\"\n[organization.ldap]\nurl = \"ldap://127.0.0.1:3389\"\nbase_dn = \"dc=example,dc=test\"\n" +
		"bind_dn = \"cn=mailward,dc=example,dc=test\"\npassword_file = \"ldap.secret\"\n"
	c, err := Parse([]byte(ldap + minimal))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.VirtualServers[0].OrgAuthOffer; got != OrgAuthOfferEveryone {
		t.Errorf("with LDAP: %v, want everyone", got)
	}
	c, err = Parse([]byte(ldap + minimal + "org_auth_offer = \"servers\"\n"))
	if err != nil || c.VirtualServers[0].OrgAuthOffer != OrgAuthOfferServers {
		t.Errorf("set to servers with LDAP: %v (%v)", c, err)
	}
	if _, err := Parse([]byte(minimal + "org_auth_offer = \"all\"\n")); err == nil || !strings.Contains(err.Error(), "servers, everyone") {
		t.Errorf("a wrong word: %v", err)
	}
}
