package e2e

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"mailward/internal/testkit"
)

// The shipped quick start, as its README describes it: nobody may relay
// through the port-25 style virtual server.
func quickstartLike() *testkit.Config {
	c := testkit.NewConfig()
	c.Mailboxes = testkit.Mailboxes("alice@example.test")
	c.VirtualServers[0].TLS = "starttls"
	return c
}

// "mailward diag relay" runs the seven relay tests of KB304897 and the
// probes against a running mailward: none relays, exit status 0.
func TestDiagRelayAgainstMailward(t *testing.T) {
	s := startServer(t, quickstartLike())
	host, port, _ := strings.Cut(s.Addr, ":")
	out, err := s.Run("diag", "relay", "--host", host, "--port", port, "--local-domain", "example.test")
	if err != nil {
		t.Fatalf("diag relay failed: %v\n%s", err, out)
	}
	for _, want := range []string{"MAIL FROM:LocalUser", "RCPT TO:User%relay-test.invalid", `RCPT TO:"User@relay-test.invalid"`,
		"550 5.7.1 Unable to relay for Recipient@relay-test.invalid"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(out, "verdict: RELAYED") || !strings.Contains(out, "SUMMARY: not an open relay (15 tests: 15 refused") {
		t.Fatalf("unexpected verdicts:\n%s", out)
	}
}

// The same tool must catch an open relay: a virtual server explicitly
// configured to let 127.0.0.0/8 relay is reported, exit status 3.
func TestDiagRelayCatchesOpenRelay(t *testing.T) {
	c := quickstartLike()
	c.VirtualServers[0].RelayNetworks = []string{"127.0.0.0/8"}
	s := startServer(t, c)
	host, port, _ := strings.Cut(s.Addr, ":")
	out, err := s.Run("diag", "relay", "--host", host, "--port", port, "--local-domain", "example.test")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("want exit status 3 for an open relay, got %v\n%s", err, out)
	}
	if !strings.Contains(out, "verdict: RELAYED") {
		t.Fatalf("report does not say RELAYED:\n%s", out)
	}
}
