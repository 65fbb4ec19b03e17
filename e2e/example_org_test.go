package e2e

import (
	"strings"
	"testing"
)

// TestExampleOrg runs the shipped examples/org (issue 8, point 7) as the
// README describes it — its two servers as real processes, the files as
// shipped but for the ports — and checks what the README says happens:
// everyone@ reaches alice, carol (on mx2) and bob (on mx1) with exactly
// one copy each, alice although two groups reach her; staff@ refuses an
// anonymous sender at RCPT with 550 5.7.1; bob, logged in on the
// submission virtual server, reaches carol on mx2 through X-EXPS and
// XEXCH50. The shared folder support@ (issue 9) gets a post on mx1 into
// both replicas, once each under one name, and mailward folder status
// prints exactly what the README shows.
func TestExampleOrg(t *testing.T) {
	mx1, mx2, _ := startExampleOrg(t, loadExampleOrg(t))
	exampleOrgBehaves(t, mx1, mx2)
}

// exampleOrgBehaves checks what the README says examples/org's two
// servers do (TestExampleOrg), whichever backend their directory is on.
func exampleOrgBehaves(t *testing.T, mx1, mx2 *server) {
	t.Helper()
	where := map[string]*server{"alice@example.test": mx2, "carol@example.test": mx2, "bob@example.test": mx1,
		"postmaster@example.test": mx1}

	everyone := sendAnon(t, mx1.Addr, "<someone@elsewhere.test>", []string{"<everyone@example.test>"}, "to everyone")
	delivered(t, mx2, "alice@example.test", 1)
	delivered(t, mx2, "carol@example.test", 1)
	delivered(t, mx1, "bob@example.test", 1)

	c := dial(t, mx1.Addr)
	c.expect("EHLO client.test", 250)
	c.expect("MAIL FROM:<someone@elsewhere.test>", 250)
	if r := c.cmd("RCPT TO:<staff@example.test>"); r.String() != "550 5.7.1 staff@example.test accepts mail only from authenticated senders" {
		t.Errorf("anonymous RCPT to staff@: got %q, want 550 5.7.1 ... accepts mail only from authenticated senders", r)
	}
	c.Close()

	if mx1.SubmissionAddr == "" {
		t.Fatal("examples/org/mx1.toml has no virtual server named submission")
	}
	staff := sendAuth(t, mx1.SubmissionAddr, "bob@example.test", "bob-secret", "<bob@example.test>",
		[]string{"<staff@example.test>"}, "to staff")
	delivered(t, mx2, "carol@example.test", 2)
	delivered(t, mx1, "bob@example.test", 2)

	post(t, mx1, "to the shared folder")

	settleOrg(t, mx1, mx2)
	sameReplicas(t, 1, mx1, mx2)
	status := "shared folder support@example.test: replicas mx1, mx2 (this server: mx1)\n" +
		"REPLICA    MESSAGES  BACKLOG\n" +
		"mx1 (here)        1        -\n" +
		"mx2               1        0\n"
	if out, err := mx1.Run("folder", "status", "support@example.test", "--config", mx1.Config); err != nil || out != status {
		t.Errorf("folder status (%v):\n%s\nthe README shows:\n%s", err, out, status)
	}
	if readme := readFile(t, "../README.md"); !strings.Contains(readme, "```text\n"+status+"```") {
		t.Error("README.md does not show this folder status output")
	}
	copies(t, map[string]int{"alice@example.test": 1, "carol@example.test": 2, "bob@example.test": 2,
		"postmaster@example.test": 0}, where)
	// mx1 expanded everything (everyone@, team@ in it, staff@), once; mx2
	// took each message with its properties (1712: one transaction from
	// mx1 per message, the folder's replication included) and expanded
	// nothing again.
	if n1, n2 := eventCount(mx1, 3005, everyone), eventCount(mx1, 3005, staff); n1 != 2 || n2 != 1 {
		t.Errorf("mx1 logged %d expansions (3005) for everyone@ and %d for staff@, want 2 and 1", n1, n2)
	}
	if n := eventCount(mx2, 3005, ""); n != 0 {
		t.Errorf("mx2 expanded %d group(s) again", n)
	}
	if recs := mx2.Events(1712); len(recs) != 3 || recs[0].Fields["server"] != "mx1" || recs[1].Fields["server"] != "mx1" ||
		recs[2].Fields["server"] != "mx1" {
		t.Errorf("mx2 should have accepted XEXCH50 from mx1 for each message: %+v", recs)
	}
	if n := eventCount(mx1, 7004, "") + eventCount(mx1, 7006, ""); n != 0 {
		t.Errorf("mx1 logged %d X-EXPS or XEXCH50 failures", n)
	}
	if n := eventCount(mx1, 1027, ""); n != 1 {
		t.Errorf("mx1 logged %d RCPT-time refusals (1027), want 1", n)
	}
	// carol's copy of bob's message says it came in authenticated from
	// mx1 (the Received: field mx2 wrote: ESMTPSA after X-EXPS).
	if msg := findMessage(t, mx2, "carol@example.test", "Subject: to staff"); !strings.Contains(msg, "from mx1.example.test") ||
		!strings.Contains(msg, "by mx2.example.test (mailward) with ESMTPSA") {
		t.Errorf("carol's copy of the staff@ message did not come from mx1 authenticated:\n%s", msg)
	}
}
