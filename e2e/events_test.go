package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"mailward/events"
	"mailward/internal/testkit"
)

// relayConfig: alice's mailbox; nobody may relay.
func relayConfig() *testkit.Config {
	c := testkit.NewConfig()
	c.Mailboxes = testkit.Mailboxes("alice@example.test")
	return c
}

// TestEventsCommand: after a denied RCPT, "mailward events --id 1020"
// prints the relay-denied event; --since 1h includes it; --since with a
// future RFC 3339 time excludes it.
func TestEventsCommand(t *testing.T) {
	s := startServer(t, relayConfig())
	c := dial(t, s.Addr)
	defer c.Close()
	c.expect("EHLO stranger.test", 250)
	c.expect("MAIL FROM:<spammer@stranger.test>", 250)
	if r := c.cmd("RCPT TO:<victim@remote.test>"); r.String() != "550 5.7.1 Unable to relay for victim@remote.test" {
		t.Fatalf("remote RCPT: got %q", r)
	}
	c.expect("QUIT", 221)

	run := func(args ...string) string {
		t.Helper()
		out, err := s.Run(append([]string{"events", "--config", s.Config}, args...)...)
		if err != nil {
			t.Fatalf("mailward events %v: %v\n%s", args, err, out)
		}
		return out
	}

	out := run("--id", "1020")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("--id 1020: want exactly one line, got:\n%s", out)
	}
	for _, want := range []string{" 1020 ", "warning", "smtp_receive", "Relay denied on virtual server default",
		"[127.0.0.1]", "EHLO stranger.test", "spammer@stranger.test", "victim@remote.test"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("--id 1020 line lacks %q: %s", want, lines[0])
		}
	}
	if all := run(); !strings.Contains(all, " 1000 ") {
		t.Errorf("without --id, the service-start event 1000 is missing:\n%s", all)
	}

	if got := run("--id", "1020", "--since", "1h"); !strings.Contains(got, "victim@remote.test") {
		t.Errorf("--since 1h excludes the event:\n%s", got)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if got := run("--id", "1020", "--since", future); strings.TrimSpace(got) != "" {
		t.Errorf("--since %s (the future) prints:\n%s", future, got)
	}
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	if got := run("--id", "1020", "--since", past); !strings.Contains(got, "victim@remote.test") {
		t.Errorf("--since %s excludes the event:\n%s", past, got)
	}

	// --json prints the stored records.
	var rec events.Record
	if err := json.Unmarshal([]byte(strings.TrimSpace(run("--id", "1020", "--json"))), &rec); err != nil {
		t.Fatalf("--json: %v", err)
	}
	if rec.ID != 1020 || rec.Fields["rcpt"] != "victim@remote.test" || rec.Fields["from"] != "spammer@stranger.test" {
		t.Errorf("--json record: %+v", rec)
	}

	// A bad --since is an error, not an empty list.
	if out, err := s.Run("events", "--config", s.Config, "--since", "yesterday"); err == nil {
		t.Errorf("--since yesterday accepted:\n%s", out)
	}
}
