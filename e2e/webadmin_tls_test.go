package e2e

// The web administration over HTTPS (web_admin.tls_cert and tls_key),
// as any address but loopback requires.

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailward/internal/certs"
	"mailward/internal/testkit"
)

// TestWebAdminHTTPS: with tls_cert and tls_key the listener speaks TLS
// only: a client that verifies the certificate logs in and gets its
// Secure session cookie; plain HTTP gets no page.
func TestWebAdminHTTPS(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "web.crt"), filepath.Join(dir, "web.key")
	if err := certs.SelfSigned(cert, key, "admin.example.test"); err != nil {
		t.Fatal(err)
	}
	cfg := testkit.NewConfig()
	cfg.WebAdmin = webAdminConfig(t)
	cfg.WebAdmin.TLSCert, cfg.WebAdmin.TLSKey = "web.crt", "web.key"
	addr := cfg.WebAdmin.Address
	startServerIn(t, dir, cfg)

	pem, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := httpClient()
	c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "admin.example.test"}}
	var resp *http.Response
	testkit.WaitFor(t, 10*time.Second, "the web administration answers over HTTPS", func() bool {
		resp, err = c.PostForm("https://"+addr+"/login", url.Values{"user": {webUser}, "password": {webPassword}})
		return err == nil
	})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.TLS == nil || len(resp.Cookies()) != 1 || !resp.Cookies()[0].Secure {
		t.Fatalf("login over HTTPS: %s, TLS %v, cookies %v", resp.Status, resp.TLS != nil, resp.Cookies())
	}
	if r, err := httpClient().Get("http://" + addr + "/login"); err == nil {
		body := readBody(t, r)
		if strings.Contains(body, "Log in") {
			t.Errorf("plain HTTP got the login page: %s", r.Status)
		}
	}
}
