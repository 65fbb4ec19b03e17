package e2e

import (
	"encoding/base64"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
)

// submissionConfig is the quick-start layout: a port-25 style virtual server
// and a submission virtual server with its own FQDN that requires STARTTLS,
// offers AUTH PLAIN and LOGIN and lets authenticated users relay.
func submissionConfig(aliceHash string) *testkit.Config {
	c := testkit.NewConfig()
	c.Diagnostics = map[string]string{"auth": "maximum"}
	c.Domains[0].RecipientFiltering = testkit.Bool(true)
	c.Mailboxes = []testkit.Mailbox{{Address: "alice@example.test", PasswordHash: aliceHash}, {Address: "bob@example.test"}}
	c.VirtualServers = []testkit.VirtualServer{{Name: "default", TLS: "starttls"},
		{Name: "submission", FQDN: "submit.example.test", TLS: "required", Auth: []string{"PLAIN", "LOGIN"},
			RelayAuthenticated: true, AuthFailureDelay: "10ms"}}
	return c
}

const alicePassword = "alice-secret"

func startSubmission(t *testing.T) *server {
	t.Helper()
	return startServer(t, submissionConfig(bcryptHash(t, alicePassword)))
}

// findMessage waits (bounded) for a message containing token in addr's
// Maildir and returns its content.
func findMessage(t *testing.T, s *server, addr, token string) string {
	t.Helper()
	return findMessageWithin(t, 10*time.Second, s, addr, token)
}

// findMessageWithin is findMessage waiting up to d (a message relayed
// through another MTA first).
func findMessageWithin(t *testing.T, d time.Duration, s *server, addr, token string) string {
	t.Helper()
	var found string
	testkit.WaitFor(t, d, "a message with "+token+" in "+addr+"'s Maildir", func() bool {
		for _, f := range s.Maildir(addr) {
			if c := readFile(t, f); strings.Contains(c, token) {
				found = c
				return true
			}
		}
		return false
	})
	return found
}

// header returns the header block of a message (up to the empty line).
func header(msg string) string {
	msg = strings.ReplaceAll(msg, "\r\n", "\n")
	h, _, _ := strings.Cut(msg, "\n\n")
	return h
}

// requireSwaks finds swaks and checks that it can do what the tests ask
// of it: STARTTLS needs the Perl module Net::SSLeay, which Debian's swaks
// only recommends (without it swaks --tls says "TLS not available:
// requires Net::SSLeay" and exits 10), and AUTH PLAIN/LOGIN needs
// MIME::Base64 from perl. It returns the program's path.
func requireSwaks(t *testing.T) string {
	t.Helper()
	path := testkit.RequireProgram(t, "swaks", "swaks")
	var support string
	supports := func(feature string) func() error {
		return func() error {
			if support == "" {
				out, err := runBounded(exec.Command(path, "--support"), 30*time.Second)
				if err != nil {
					return fmt.Errorf("swaks --support: %v\n%s", err, out)
				}
				support = string(out)
			}
			if strings.Contains(support, "=== "+feature+" supported") {
				return nil
			}
			for _, line := range strings.Split(support, "\n") {
				if strings.HasPrefix(line, "*** "+feature+" not available") {
					return fmt.Errorf("swaks --support: %s", strings.TrimPrefix(line, "*** "))
				}
			}
			return fmt.Errorf("swaks --support does not list %q as supported:\n%s", feature, support)
		}
	}
	testkit.RequireCheck(t, "libnet-ssleay-perl", supports("TLS"))
	testkit.RequireCheck(t, "perl", supports("Basic AUTH"))
	return path
}

// swaks runs swaks (the path from requireSwaks) against the submission
// virtual server with extra arguments.
func swaks(t *testing.T, path string, s *server, args ...string) (string, error) {
	t.Helper()
	host, port, _ := strings.Cut(s.SubmissionAddr, ":")
	base := []string{"--server", host, "--port", port, "--ehlo", "swaks.client.test", "--timeout", "10",
		"--from", "alice@example.test", "--to", "bob@example.test"}
	out, err := runBounded(exec.Command(path, append(base, args...)...), 30*time.Second)
	return string(out), err
}

// TestSwaksSubmission: swaks submits over the submission virtual server with
// STARTTLS then AUTH LOGIN and AUTH PLAIN, and the mail arrives; a wrong
// password gets 535 5.7.8; without STARTTLS swaks is offered no AUTH.
func TestSwaksSubmission(t *testing.T) {
	bin := requireSwaks(t)
	s := startSubmission(t)
	for _, mech := range []string{"LOGIN", "PLAIN"} {
		token := "swaks-" + strings.ToLower(mech) + "-token"
		out, err := swaks(t, bin, s, "--tls", "--auth", mech, "--auth-user", "alice@example.test",
			"--auth-password", alicePassword, "--header", "Subject: "+token, "--body", "sent by swaks "+token)
		if err != nil {
			t.Fatalf("swaks AUTH %s: %v\n%s", mech, err, out)
		}
		for _, want := range []string{"220 2.0.0 Ready to start TLS", "235 2.7.0 Authentication successful", "250 2.6.0 "} {
			if !strings.Contains(out, want) {
				t.Errorf("swaks AUTH %s: transcript lacks %q:\n%s", mech, want, out)
			}
		}
		msg := findMessage(t, s, "bob@example.test", token)
		if !strings.Contains(header(msg), "with ESMTPSA id") {
			t.Errorf("AUTH %s: Received: does not say ESMTPSA:\n%s", mech, header(msg))
		}
	}

	// A wrong password: 535 5.7.8, nothing queued, event 1030.
	out, err := swaks(t, bin, s, "--tls", "--auth", "LOGIN", "--auth-user", "alice@example.test",
		"--auth-password", "wrong-password", "--header", "Subject: swaks-wrong")
	if err == nil {
		t.Errorf("swaks with a wrong password succeeded:\n%s", out)
	}
	if !strings.Contains(out, "535 5.7.8 Authentication credentials invalid") {
		t.Errorf("wrong password: transcript lacks 535 5.7.8:\n%s", out)
	}
	if strings.Contains(out, "250 2.6.0") {
		t.Errorf("wrong password: a message was queued:\n%s", out)
	}
	if len(s.EventsFor(1030, "user", "alice@example.test")) == 0 {
		t.Errorf("no event 1030 (authentication failed) for alice")
	}

	// Without --tls: the server does not offer AUTH, so swaks cannot
	// authenticate (and the message is never sent).
	out, err = swaks(t, bin, s, "--auth", "PLAIN", "--auth-user", "alice@example.test",
		"--auth-password", alicePassword, "--header", "Subject: swaks-plaintext")
	if err == nil {
		t.Errorf("swaks without STARTTLS authenticated:\n%s", out)
	}
	if strings.Contains(out, "235 ") || strings.Contains(out, "250 2.6.0") {
		t.Errorf("without STARTTLS: authentication or queueing happened:\n%s", out)
	}
	if !strings.Contains(out, "Host did not advertise authentication") {
		t.Errorf("without STARTTLS: swaks did not report that AUTH was not advertised:\n%s", out)
	}
	if n := len(s.Maildir("bob@example.test")); n != 2 {
		t.Errorf("bob's Maildir has %d messages, want exactly the 2 authenticated submissions", n)
	}
}

// TestAuthRequiresTLS: AUTH is not advertised before STARTTLS and is
// refused with 538 5.7.11 if tried anyway; MAIL before STARTTLS gets 530;
// after STARTTLS and a new EHLO, AUTH is advertised (and STARTTLS is not).
func TestAuthRequiresTLS(t *testing.T) {
	s := startSubmission(t)
	c := dial(t, s.SubmissionAddr)
	defer c.Close()

	kw := ehloKeywords(c.expect("EHLO raw.client.test", 250))
	if _, ok := kw["AUTH"]; ok {
		t.Errorf("AUTH advertised before STARTTLS: %v", kw)
	}
	if _, ok := kw["STARTTLS"]; !ok {
		t.Errorf("STARTTLS not advertised: %v", kw)
	}
	plain := base64.StdEncoding.EncodeToString([]byte("\x00alice@example.test\x00" + alicePassword))
	if r := c.cmd("AUTH PLAIN " + plain); r.String() != "538 5.7.11 Encryption required for requested authentication mechanism" {
		t.Errorf("AUTH PLAIN before STARTTLS: got %q, want 538 5.7.11", r)
	}
	if r := c.cmd("AUTH LOGIN"); r.Code != 538 {
		t.Errorf("AUTH LOGIN before STARTTLS: got %q, want 538", r)
	}
	if r := c.cmd("MAIL FROM:<alice@example.test>"); r.String() != "530 5.7.0 Must issue a STARTTLS command first" {
		t.Errorf("MAIL before STARTTLS on a tls=required virtual server: got %q, want 530 5.7.0", r)
	}

	c.starttls()
	// RFC 3207 §4.2: state is forgotten; EHLO again.
	if r := c.cmd("AUTH PLAIN " + plain); r.Code != 503 {
		t.Errorf("AUTH after STARTTLS without a new EHLO: got %q, want 503", r)
	}
	kw = ehloKeywords(c.expect("EHLO raw.client.test", 250))
	if kw["AUTH"] != "PLAIN LOGIN" {
		t.Errorf("after STARTTLS: AUTH keyword %q, want \"PLAIN LOGIN\" (keywords %v)", kw["AUTH"], kw)
	}
	if _, ok := kw["STARTTLS"]; ok {
		t.Errorf("STARTTLS still advertised inside TLS: %v", kw)
	}
	if r := c.cmd("AUTH PLAIN " + plain); r.String() != "235 2.7.0 Authentication successful" {
		t.Fatalf("AUTH PLAIN over TLS: got %q", r)
	}
	// Authenticated on a relay_authenticated virtual server: remote recipients
	// are accepted (relay), local ones delivered.
	c.expect("MAIL FROM:<alice@example.test>", 250)
	if r := c.cmd("RCPT TO:<bob@example.test>"); r.String() != "250 2.1.5 bob@example.test" {
		t.Errorf("local RCPT: got %q", r)
	}
	c.expect("RSET", 250)

	// The port-25 virtual server never offers AUTH, before or after TLS.
	d := dial(t, s.Addr)
	defer d.Close()
	if _, ok := ehloKeywords(d.expect("EHLO raw.client.test", 250))["AUTH"]; ok {
		t.Errorf("default virtual server advertises AUTH before TLS")
	}
	d.starttls()
	if _, ok := ehloKeywords(d.expect("EHLO raw.client.test", 250))["AUTH"]; ok {
		t.Errorf("default virtual server (no auth configured) advertises AUTH after TLS")
	}
	if r := d.cmd("AUTH PLAIN " + plain); r.Code != 502 {
		t.Errorf("AUTH on a virtual server without auth: got %q, want 502", r)
	}
}

// pySubmit is run by python3: STARTTLS, login, sendmail.
const pySubmit = `
import smtplib, ssl, sys
host, port, user, password, rcpt, token = sys.argv[1:7]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP(host, int(port), local_hostname="py.client.test", timeout=10)
s.ehlo()
assert not s.has_extn("auth"), "AUTH offered before STARTTLS"
s.starttls(context=ctx)
s.ehlo()
assert s.has_extn("auth"), "AUTH not offered after STARTTLS"
s.login(user, password)
msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@py.client.test>\r\n\r\nsent by smtplib %s\r\n"
       % (user, rcpt, token, token, token))
refused = s.sendmail(user, [rcpt], msg)
assert not refused, refused
s.quit()
print("python-ok")
`

// TestPythonSmtplib: Python's smtplib does starttls(), login(),
// sendmail(); the message arrives with Return-Path, Delivered-To and a
// Received: naming the submission virtual server's FQDN and ESMTPSA.
func TestPythonSmtplib(t *testing.T) {
	// smtplib and ssl are in libpython3-stdlib, a dependency of python3.
	py := testkit.RequireProgram(t, "python3", "python3")
	s := startSubmission(t)
	host, port, _ := strings.Cut(s.SubmissionAddr, ":")
	token := "python-smtplib-token"
	out, err := runBounded(exec.Command(py, "-c", pySubmit, host, port, "alice@example.test", alicePassword,
		"bob@example.test", token), 30*time.Second)
	if err != nil || !strings.Contains(string(out), "python-ok") {
		t.Fatalf("python smtplib: %v\n%s", err, out)
	}
	h := header(findMessage(t, s, "bob@example.test", token))
	lines := strings.Split(h, "\n")
	if lines[0] != "Return-Path: <alice@example.test>" {
		t.Errorf("first line %q, want Return-Path: <alice@example.test>", lines[0])
	}
	if len(lines) < 2 || lines[1] != "Delivered-To: bob@example.test" {
		t.Errorf("second line is not Delivered-To: bob@example.test:\n%s", h)
	}
	// Received: from py.client.test ([127.0.0.1])
	//	by submit.example.test (mailward) with ESMTPSA id <id>
	re := regexp.MustCompile(`(?m)^Received: from py\.client\.test \(\[127\.0\.0\.1\]\)\n\s+by submit\.example\.test \(mailward\) with ESMTPSA id [0-9A-F]+`)
	if !re.MatchString(h) {
		t.Errorf("no Received: naming submit.example.test and ESMTPSA:\n%s", h)
	}
	if len(s.EventsFor(1031, "user", "alice@example.test")) == 0 {
		t.Errorf("no event 1031 (authenticated) for alice at diagnostics.auth = maximum")
	}
}
