package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
)

// The organization diagnostics as the command line runs them: exit
// status (exitError) and what they print. cmdDiagOrg writes to os.Stdout,
// so these tests swap it for a pipe; they must not run in parallel.

// captureStdout runs f with os.Stdout redirected and returns what it wrote.
func captureStdout(t *testing.T, f func() error) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	ferr := f()
	os.Stdout = saved
	w.Close()
	out := <-done
	r.Close()
	return out, ferr
}

const diagOrgConfig = `
[server]
fqdn = "%FQDN%"
data_dir = "data"
[[domain]]
name = "example.test"
[[virtual_server]]
name = "default"
address = "127.0.0.1:2525"
org_auth = ["LOGIN"]
[organization]
name = "Example"
self = "mx1"
file = "organization.toml"
`

// spnsOK are the four SPNs KB979174 asks for, for mx1 and mx2.
const orgDirectoryOK = `
[[server]]
name = "mx1"
fqdn = "mx1.example.test"
spns = ["SMTP/mx1", "SMTP/mx1.example.test", "SMTPSVC/mx1", "SMTPSVC/mx1.example.test"]
[[server]]
name = "mx2"
fqdn = "mx2.example.test"
spns = ["SMTP/mx2", "SMTP/mx2.example.test", "SMTPSVC/mx2", "SMTPSVC/mx2.example.test"]
`

// writeOrgConfig writes mailward.toml (with the given fqdn) and the
// organization directory beside it, and returns the configuration's path.
func writeOrgConfig(t *testing.T, fqdn, directory string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "mailward.toml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(diagOrgConfig, "%FQDN%", fqdn)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "organization.toml"), []byte(directory), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func wantExit(t *testing.T, err error, code int, msg string) {
	t.Helper()
	var e exitError
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want exit status %d", err, err, code)
	}
	if e.code != code || !strings.Contains(e.msg, msg) {
		t.Errorf("exit %d %q, want %d with %q", e.code, e.msg, code, msg)
	}
}

func TestDiagSPNDuplicates(t *testing.T) {
	clean := writeOrgConfig(t, "mx1.example.test", orgDirectoryOK)
	out, err := captureStdout(t, func() error { return cmdDiagOrg("spn", []string{"--duplicates", "--config", clean}) })
	if err != nil {
		t.Fatalf("clean directory: %v\n%s", err, out)
	}
	if !strings.HasSuffix(out, "found 0 group(s) of duplicate SPNs.\n") {
		t.Errorf("clean directory:\n%s", out)
	}

	// mx2 also holds mx1's SMTP/<fqdn> (KB979174: a duplicate SPN).
	dup := strings.Replace(orgDirectoryOK, `"SMTPSVC/mx2.example.test"]`, `"SMTPSVC/mx2.example.test", "SMTP/mx1.example.test"]`, 1)
	path := writeOrgConfig(t, "mx1.example.test", dup)
	out, err = captureStdout(t, func() error { return cmdDiagOrg("spn", []string{"--config", path, "--duplicates"}) })
	wantExit(t, err, 1, "1 group(s) of duplicate SPNs")
	if !strings.Contains(out, "smtp/mx1.example.test is registered on: mx1, mx2\n") ||
		!strings.HasSuffix(out, "found 1 group(s) of duplicate SPNs.\n") {
		t.Errorf("duplicates:\n%s", out)
	}

	// Without --duplicates: the per-server listing, same verdict.
	out, err = captureStdout(t, func() error { return cmdDiagOrg("spn", []string{"--config", path, "--server", "mx2"}) })
	wantExit(t, err, 1, "1 SPN problem(s)")
	if !strings.Contains(out, "SMTP/mx1.example.test  DUPLICATE: also on mx1") || strings.Contains(out, "for mx1 (") {
		t.Errorf("spn --server mx2:\n%s", out)
	}
	out, err = captureStdout(t, func() error { return cmdDiagOrg("spn", []string{"--config", clean}) })
	if err != nil || strings.Contains(out, "MISSING") {
		t.Errorf("spn on a clean directory: %v\n%s", err, out)
	}
	_, err = captureStdout(t, func() error { return cmdDiagOrg("spn", []string{"--config", clean, "--server", "mx9"}) })
	if err == nil || !strings.Contains(err.Error(), `no server "mx9"`) {
		t.Errorf("unknown server: %v", err)
	}
}

func TestDiagFQDN(t *testing.T) {
	good := writeOrgConfig(t, "mx1.example.test", orgDirectoryOK)
	out, err := captureStdout(t, func() error { return cmdDiagOrg("fqdn", []string{"--config", good}) })
	if err != nil || !strings.HasSuffix(out, "0 problem(s) found\n") {
		t.Errorf("consistent names: %v\n%s", err, out)
	}
	// KB843106: the FQDN is not the one the organization knows.
	wrong := writeOrgConfig(t, "mx1.example.local", orgDirectoryOK)
	out, err = captureStdout(t, func() error { return cmdDiagOrg("fqdn", []string{"--config", wrong}) })
	wantExit(t, err, 1, "2 FQDN problem(s)")
	if !strings.Contains(out, "PROBLEM: outbound EHLO name mx1.example.local is not mx1.example.test") {
		t.Errorf("wrong fqdn:\n%s", out)
	}
}

// greeter is a fake SMTP server that greets with greeting (and answers
// QUIT), for diag clock, which reads only the greeting.
func greeter(t *testing.T, greeting string) string {
	t.Helper()
	return testkit.StartSMTP(t, testkit.SMTP{Greeting: testkit.Greet(greeting)}).Addr
}

func TestDiagClock(t *testing.T) {
	mailwardGreeting := func(at time.Time) string {
		return "220 mx2.example.test ESMTP mailward ready at " + at.UTC().Format(time.RFC1123Z)
	}

	// Ten minutes behind: over Kerberos's five.
	addr := greeter(t, mailwardGreeting(time.Now().Add(-10*time.Minute)))
	out, err := captureStdout(t, func() error { return cmdDiagOrg("clock", []string{addr}) })
	wantExit(t, err, 1, "KRB_AP_ERR_SKEW")
	if !strings.Contains(out, "peer "+addr+": ") || !strings.Contains(out, "(Kerberos tolerates 5m0s)") ||
		!strings.Contains(out, "skew: 10m") {
		t.Errorf("skewed peer:\n%s", out)
	}

	// Ten minutes ahead, with the peer after the flags.
	addr = greeter(t, mailwardGreeting(time.Now().Add(10*time.Minute)))
	_, err = captureStdout(t, func() error { return cmdDiagOrg("clock", []string{"--timeout", "5s", addr}) })
	wantExit(t, err, 1, "KRB_AP_ERR_SKEW")

	// In step; Exchange's greeting form works too.
	for _, g := range []string{mailwardGreeting(time.Now()),
		"220 mx2.example.test Microsoft ESMTP MAIL Service ready at " + time.Now().UTC().Format(time.RFC1123Z)} {
		addr = greeter(t, g)
		out, err = captureStdout(t, func() error { return cmdDiagOrg("clock", []string{addr}) })
		if err != nil {
			t.Errorf("%q: %v\n%s", g, err, out)
		}
	}

	// A greeting without a date cannot be compared: an error, not "ok".
	addr = greeter(t, "220 mx.example.net ESMTP Postfix")
	_, err = captureStdout(t, func() error { return diagClock(addr, 5*time.Second) })
	if err == nil || !strings.Contains(err.Error(), "carries no date") {
		t.Errorf("greeting without a date: %v", err)
	}

	if err := diagClock("", time.Second); err == nil || !strings.Contains(err.Error(), "name the peer") {
		t.Errorf("no peer: %v", err)
	}
}

func TestDiagAuthNeedsPeer(t *testing.T) {
	path := writeOrgConfig(t, "mx1.example.test", orgDirectoryOK)
	_, err := captureStdout(t, func() error { return cmdDiagOrg("auth", []string{"--config", path}) })
	if err == nil || !strings.Contains(err.Error(), "name the peer") {
		t.Errorf("diag auth without a peer: %v", err)
	}
	// Dispatch from "mailward diag": unknown checks are named.
	if err := cmdDiag([]string{"kerberos"}); err == nil || !strings.Contains(err.Error(), "want relay, spn, fqdn, clock or auth") {
		t.Errorf("unknown check: %v", err)
	}
}
