package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mailward/internal/testkit"
)

// directoryConfig: example.test's recipients are those of
// recipients.toml beside the configuration.
func directoryConfig() *testkit.Config {
	c := testkit.NewConfig()
	c.Directory = &testkit.Directory{File: "recipients.toml"}
	c.Domains[0].RecipientFiltering = testkit.Bool(true)
	return c
}

const recipientsFile = `
[[mailbox]]
address = "carol@example.test"
`

// TestDirectoryOutage: recipients come from an external file. While it
// is missing, RCPT for a local address answers 451 4.3.0 — never 250
// (accept-then-lose), never 550 (a false "unknown") and never relay —
// and event 1022 is written; once it is back, 250 again.
func TestDirectoryOutage(t *testing.T) {
	s := startServer(t, directoryConfig())
	file := filepath.Join(s.Dir, "recipients.toml")
	if err := os.WriteFile(file, []byte(recipientsFile), 0o600); err != nil {
		t.Fatal(err)
	}

	c := dial(t, s.Addr)
	defer c.Close()
	c.expect("EHLO client.test", 250)
	c.expect("MAIL FROM:<sender@elsewhere.test>", 250)
	if r := c.cmd("RCPT TO:<carol@example.test>"); r.String() != "250 2.1.5 carol@example.test" {
		t.Fatalf("RCPT for a mailbox in the file: got %q", r)
	}
	if r := c.cmd("RCPT TO:<nobody@example.test>"); r.String() != "550 5.1.1 nobody@example.test... User unknown" {
		t.Errorf("RCPT for an unknown mailbox: got %q", r)
	}
	id := queueID(t, mustData(t, c, message("sender@elsewhere.test", "carol@example.test", "directory-up", "x")))
	findMessage(t, s, "carol@example.test", "Subject: directory-up")

	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	before := len(s.Events(1022))
	c.expect("MAIL FROM:<sender@elsewhere.test>", 250)
	for _, rcpt := range []string{"carol@example.test", "nobody@example.test", "Carol@Example.Test"} {
		r := c.cmd("RCPT TO:<" + rcpt + ">")
		if r.Code != 451 || !strings.HasPrefix(r.String(), "451 4.3.0 ") {
			t.Errorf("RCPT %s with the directory missing: got %q, want 451 4.3.0", rcpt, r)
		}
	}
	// A remote recipient is still refused: an outage never opens the relay.
	if r := c.cmd("RCPT TO:<victim@remote.test>"); r.String() != "550 5.7.1 Unable to relay for victim@remote.test" {
		t.Errorf("remote RCPT during the outage: got %q", r)
	}
	// Nothing was accepted, so DATA has no recipients.
	if r := c.cmd("DATA"); r.Code != 554 {
		t.Errorf("DATA with only refused recipients: got %q, want 554", r)
	}
	evs := s.Events(1022)
	if len(evs) <= before {
		t.Fatalf("no event 1022 (directory unavailable) during the outage")
	}
	if ev := evs[len(evs)-1]; ev.Severity != "error" || !strings.Contains(ev.Message, "recipients.toml") {
		t.Errorf("event 1022: %s %q; want an error naming the file", ev.Severity, ev.Message)
	}

	if err := os.WriteFile(file, []byte(recipientsFile), 0o600); err != nil {
		t.Fatal(err)
	}
	c.expect("RSET", 250)
	c.expect("MAIL FROM:<sender@elsewhere.test>", 250)
	if r := c.cmd("RCPT TO:<carol@example.test>"); r.String() != "250 2.1.5 carol@example.test" {
		t.Errorf("RCPT after the file is restored: got %q", r)
	}
	id2 := queueID(t, mustData(t, c, message("sender@elsewhere.test", "carol@example.test", "directory-back", "x")))
	findMessage(t, s, "carol@example.test", "Subject: directory-back")
	settle(t, s)
	if got := len(s.Maildir("carol@example.test")); got != 2 {
		t.Errorf("carol has %d messages, want 2 (%s, %s)", got, id, id2)
	}
}

// mustData sends DATA and the message; a transport error is fatal.
func mustData(t *testing.T, c *client, msg string) reply {
	t.Helper()
	r, err := c.dataErr(msg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
