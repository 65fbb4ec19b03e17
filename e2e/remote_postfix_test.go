package e2e

// mailward and a real, independent MTA (Debian's Postfix, a private
// instance from internal/peers) relay to each other over STARTTLS.

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailward/internal/certs"
	"mailward/internal/peers"
	"mailward/internal/testkit"
)

// startPostfix starts a private Postfix and stops it when the test ends.
func startPostfix(t *testing.T, o peers.PostfixOptions) *peers.Postfix {
	t.Helper()
	peers.Require(t)
	p, err := peers.StartPostfix(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("postfix log:\n%s", p.Log())
		}
		if err := p.Stop(); err != nil {
			t.Errorf("stop postfix: %v", err)
		}
	})
	return p
}

// postfixCert writes a self-signed certificate for name where Postfix's
// daemons can read it (the test's own temporary directories are 0700).
func postfixCert(t *testing.T, name string) (certFile, keyFile string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "mailward-e2e-pfcert-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := certs.SelfSigned(certFile, keyFile, name); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// maildirFiles lists the files in new/ and cur/ of a Maildir.
func maildirFiles(dir string) []string {
	var out []string
	for _, sub := range []string{"new", "cur"} {
		ents, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, e := range ents {
			if e.Type().IsRegular() {
				out = append(out, filepath.Join(dir, sub, e.Name()))
			}
		}
	}
	return out
}

// postfixMessage waits until user's Maildir at Postfix holds one message
// and returns it.
func postfixMessage(t *testing.T, p *peers.Postfix, user string) string {
	t.Helper()
	testkit.WaitFor(t, 20*time.Second, "the message in Postfix's Maildir for "+user, func() bool {
		n, _ := p.MaildirCount(user)
		return n == 1
	})
	files := maildirFiles(p.Maildir(user))
	if len(files) != 1 {
		t.Fatalf("%s's Maildir holds %v", user, files)
	}
	return readFile(t, files[0])
}

// TestRelayToPostfixOverSTARTTLS: a client relays through mailward to
// bob@remote.test; a [[route]] sends remote.test to a Postfix smart host
// with tls = "required", and the message lands in Postfix's Maildir with
// Postfix's own Received header saying ESMTPS (STARTTLS was used).
func TestRelayToPostfixOverSTARTTLS(t *testing.T) {
	cert, key := postfixCert(t, "postfix.remote.test")
	p := startPostfix(t, peers.PostfixOptions{
		MyHostname: "postfix.remote.test",
		MyDomain:   "remote.test",
		Mailboxes:  []string{"bob"},
		ExtraMain: map[string]string{
			"smtpd_tls_security_level":  "may",
			"smtpd_tls_cert_file":       cert,
			"smtpd_tls_key_file":        key,
			"smtpd_tls_received_header": "yes",
		},
	})
	cfg := remoteConfig("", 0)
	cfg.Routes = []testkit.Route{{Domain: "remote.test", SmartHost: "[127.0.0.1]:" + strconv.Itoa(p.Port), TLS: "required"}}
	s := startServer(t, cfg)

	id := relayMsg(t, s, "<alice@example.test>", "<bob@remote.test>", "to-postfix-tls")
	msg := postfixMessage(t, p, "bob")
	hdr := header(msg)
	if !strings.Contains(hdr, "Subject: to-postfix-tls") {
		t.Errorf("delivered message is not ours:\n%s", hdr)
	}
	if !strings.Contains(hdr, "by postfix.remote.test (Postfix) with ESMTPS") {
		t.Errorf("Postfix's Received header does not show ESMTPS (STARTTLS):\n%s", hdr)
	}
	if !strings.Contains(hdr, "from mx1.example.test") {
		t.Errorf("Postfix's Received header does not name our EHLO name mx1.example.test:\n%s", hdr)
	}
	if !strings.Contains(hdr, "with ESMTP id "+id) && !strings.Contains(hdr, "id "+id) {
		t.Errorf("our own Received header (id %s) is missing:\n%s", id, hdr)
	}
	recs := waitEvents(t, s, 3000, id, 1, 5*time.Second)
	if !strings.Contains(recs[0].Fields["where"], "127.0.0.1:"+strconv.Itoa(p.Port)) {
		t.Errorf("event 3000 says %q", recs[0].Fields["where"])
	}
	settle(t, s)
}

// TestPostfixRelaysIntoMailward: Postfix relays mail for
// alice@example.test to mailward (relayhost, smtp_tls_security_level =
// encrypt: it must use STARTTLS or not deliver at all); the message lands
// in alice's Maildir and mailward's Received header says ESMTPS.
func TestPostfixRelaysIntoMailward(t *testing.T) {
	peers.Require(t) // before mailward starts: a missing Postfix costs nothing
	cfg := remoteConfig("", 0)
	cfg.VirtualServers[0].TLS = "starttls"
	s := startServer(t, cfg)
	_, port, _ := strings.Cut(s.Addr, ":")
	p := startPostfix(t, peers.PostfixOptions{
		MyHostname: "postfix.test",
		MyDomain:   "postfix.test",
		MyNetworks: "127.0.0.0/8", // our test client may relay through Postfix
		RelayHost:  "[127.0.0.1]:" + port,
		ExtraMain: map[string]string{
			"smtp_tls_security_level": "encrypt",
			"smtp_tls_loglevel":       "1",
		},
	})

	c := dial(t, p.Addr)
	defer c.Close()
	c.expect("EHLO client.postfix.test", 250)
	c.expect("MAIL FROM:<carol@postfix.test>", 250)
	c.expect("RCPT TO:<alice@example.test>", 250)
	r, err := c.dataErr(message("carol@postfix.test", "alice@example.test", "from-postfix-tls", "via Postfix"))
	if err != nil || r.Code != 250 {
		t.Fatalf("Postfix refused the message: %v %v", r, err)
	}
	c.cmdErr("QUIT")

	msg := findMessageWithin(t, 20*time.Second, s, "alice@example.test", "Subject: from-postfix-tls")
	hdr := header(msg)
	// Our Received header is the first one after Return-Path/Delivered-To.
	i := strings.Index(hdr, "Received: from postfix.test ")
	if i < 0 {
		t.Fatalf("no Received header of ours naming Postfix's EHLO name postfix.test:\n%s", hdr)
	}
	ours := hdr[i:]
	if j := strings.Index(ours[1:], "\nReceived:"); j >= 0 {
		ours = ours[:j+1]
	}
	if !strings.Contains(ours, "by mx1.example.test (mailward) with ESMTPS id") {
		t.Errorf("our Received header does not say ESMTPS:\n%s", ours)
	}
	if !strings.Contains(hdr, "by postfix.test (Postfix) with ESMTP") {
		t.Errorf("Postfix's own Received header is missing:\n%s", hdr)
	}
	if got := strings.Count(p.Log(), "Trusted TLS connection established") + strings.Count(p.Log(), "Untrusted TLS connection established") +
		strings.Count(p.Log(), "Anonymous TLS connection established"); got == 0 {
		t.Errorf("Postfix logged no TLS connection to mailward:\n%s", p.Log())
	}
}
