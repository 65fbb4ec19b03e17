package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mailward/internal/testkit"
	"mailward/internal/testkit/orgbackend"
	"mailward/journal"
)

// Envelope journaling across real servers (docs/journaling.md): once per
// message per organization, the duplicate when XEXCH50 fails
// (KB843106), a journal recipient that cannot be reached, a SIGKILL.

// journalMember is orgMember with the categorizer's events at maximum
// (3012: not journaled again).
func journalMember(name string) *testkit.Config {
	c := orgMember(name)
	c.Diagnostics["categorizer"] = "maximum"
	return c
}

// reports parses the journal reports in a mailbox of s.
func reports(t *testing.T, s *server, addr string) []*journal.Parsed {
	t.Helper()
	var out []*journal.Parsed
	for _, f := range s.Maildir(addr) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// The Maildir copy starts with Return-Path and Delivered-To.
		_, rest, _ := strings.Cut(string(b), "Delivered-To: "+addr+"\r\n")
		p, err := journal.Parse([]byte(rest))
		if err != nil {
			t.Fatalf("%s: %v:\n%.600s", f, err, b)
		}
		out = append(out, p)
	}
	return out
}

// lines are a report's recipient lines as the report shows them.
func lines(p *journal.Parsed) []string {
	var out []string
	for _, l := range p.Recipients {
		s := l.Field + ": " + l.Addr
		for _, g := range l.Expanded {
			s += ", Expanded: " + g
		}
		for _, f := range l.Forwarded {
			s += ", Forwarded: " + f
		}
		out = append(out, s)
	}
	return out
}

// A message crosses three servers: mx1 takes it from outside for carol
// (homed on mx1, in To:) and team@ (Bcc), which only mx2 expands; mx2
// delivers alice and sends bob on to mx3. alice and bob are journaled.
// mx1, the first to categorize it, journals it — resolving team@'s
// members without expanding it — and marks it journaled; mx2 and mx3 do
// not journal it again. One report, listing every recipient, the Bcc
// ones and the group each came through included.
func TestOrgJournalOnceAcrossThreeServers(t *testing.T) {
	orgbackend.ForEach(t, testOrgJournalOnceAcrossThreeServers)
}

func testOrgJournalOnceAcrossThreeServers(t *testing.T, b orgbackend.Backend) {
	d := orgRecipients(t, "mx1", "mx2", "mx3")
	homed(d, "mx1", "carol@example.test", "journal@example.test")
	homed(d, "mx2", "alice@example.test")
	homed(d, "mx3", "bob@example.test")
	d.DistGroups = []testkit.DistributionGroup{{Address: "team@example.test", ExpansionServer: "mx2",
		Members: []string{"alice@example.test", "bob@example.test"}}}
	d.JournalRules = []testkit.JournalRule{
		{Name: "alice", Mailboxes: []string{"alice@example.test"}, Recipient: "journal@example.test"},
		{Name: "bob", Mailboxes: []string{"bob@example.test"}, Recipient: "journal@example.test"},
	}
	net := startOrgNetOn(t, b, d, journalMember("mx3"), journalMember("mx2"), journalMember("mx1"))
	mx1, mx2, mx3 := net["mx1"], net["mx2"], net["mx3"]

	id := sendAnon(t, mx1.Addr, "<erin@partner.test>", []string{"<carol@example.test>", "<team@example.test>"}, "three-servers")
	delivered(t, mx3, "bob@example.test", 1)
	delivered(t, mx2, "alice@example.test", 1)
	delivered(t, mx1, "journal@example.test", 1)
	settleOrg(t, mx1, mx2, mx3)
	copies(t, map[string]int{"carol@example.test": 1, "alice@example.test": 1, "bob@example.test": 1, "journal@example.test": 1},
		map[string]*server{"carol@example.test": mx1, "alice@example.test": mx2, "bob@example.test": mx3, "journal@example.test": mx1})
	for _, s := range []*server{mx2, mx3} {
		if s.Maildir("journal@example.test") != nil {
			t.Errorf("a journal mailbox on %s", s.Addr)
		}
	}
	rs := reports(t, mx1, "journal@example.test")
	want := []string{"To: carol@example.test", "Bcc: alice@example.test, Expanded: team@example.test",
		"Bcc: bob@example.test, Expanded: team@example.test"}
	if got := lines(rs[0]); !slices.Equal(got, want) || rs[0].Sender != "erin@partner.test" ||
		rs[0].MessageID != "<three-servers@e2e.test>" || rs[0].From != "journaling@example.test" {
		t.Errorf("report: sender %q, message-id %q, from %q, lines %q; want lines %q", rs[0].Sender, rs[0].MessageID, rs[0].From, got, want)
	}
	if !strings.Contains(string(rs[0].Original), "Subject: three-servers\r\n") {
		t.Errorf("the original is not attached:\n%s", rs[0].Original)
	}
	if recs := mx1.EventsFor(3011, "queue_id", id); len(recs) != 1 || recs[0].Fields["rules"] != "alice, bob" {
		t.Errorf("mx1's 3011 events: %+v, want one naming the rules alice and bob", recs)
	}
	if n := eventCount(mx2, 3011, "") + eventCount(mx3, 3011, ""); n != 0 {
		t.Errorf("mx2 and mx3 journaled the message again (%d events 3011)", n)
	}
	for _, s := range []*server{mx2, mx3} {
		if recs := s.Events(3012); len(recs) == 0 || !strings.Contains(recs[0].Fields["reason"], "journaled upstream") {
			t.Errorf("%s does not say it did not journal the message again (3012): %+v", s.Addr, recs)
		}
	}
}

// KB843106's duplicate. mx1 journals alice's message and sends her copy
// to mx2 marked journaled. With the trust working mx2 journals nothing;
// with mx1's FQDN wrong, mx2 does not know mx1, refuses its XEXCH50
// (504), never learns that the message was journaled, and journals it
// again: two reports, and the events on both sides say why.
func TestOrgJournalDuplicateWhenXEXCH50Fails(t *testing.T) {
	setup := func(t *testing.T, mx1FQDN string) (mx1, mx2 *server) {
		d := orgRecipients(t, "mx1", "mx2")
		homed(d, "mx1", "journal@example.test")
		homed(d, "mx2", "alice@example.test")
		d.JournalRules = []testkit.JournalRule{{Name: "alice", Mailboxes: []string{"alice@example.test"}, Recipient: "journal@example.test"}}
		c1 := journalMember("mx1")
		c1.Server.FQDN = mx1FQDN
		net := startOrgNet(t, d, journalMember("mx2"), c1)
		return net["mx1"], net["mx2"]
	}
	t.Run("trust working", func(t *testing.T) {
		mx1, mx2 := setup(t, "mx1.example.test")
		sendAnon(t, mx1.Addr, "<erin@partner.test>", []string{"<alice@example.test>"}, "trusted")
		delivered(t, mx2, "alice@example.test", 1)
		delivered(t, mx1, "journal@example.test", 1)
		settleOrg(t, mx1, mx2)
		if rs := reports(t, mx1, "journal@example.test"); len(rs) != 1 {
			t.Errorf("%d journal reports, want 1", len(rs))
		}
		if n := eventCount(mx2, 3011, "") + eventCount(mx1, 7004, "") + eventCount(mx2, 1713, ""); n != 0 {
			t.Errorf("%d events 3011 on mx2, 7004 on mx1 or 1713 on mx2; want none", n)
		}
	})
	t.Run("XEXCH50 refused", func(t *testing.T) {
		mx1, mx2 := setup(t, "mx1.example.local")
		id := sendAnon(t, mx1.Addr, "<erin@partner.test>", []string{"<alice@example.test>"}, "untrusted")
		delivered(t, mx2, "alice@example.test", 1)
		delivered(t, mx1, "journal@example.test", 2)
		settleOrg(t, mx1, mx2)
		rs := reports(t, mx1, "journal@example.test")
		if len(rs) != 2 {
			t.Fatalf("%d journal reports, want KB843106's duplicate (2)", len(rs))
		}
		for _, r := range rs {
			if r.MessageID != "<untrusted@e2e.test>" || !slices.Equal(lines(r), []string{"To: alice@example.test"}) {
				t.Errorf("report: message-id %q lines %q", r.MessageID, lines(r))
			}
		}
		const consequence = "journal reports will be duplicated, restricted groups will refuse"
		if recs := waitEvents(t, mx1, 7004, id, 1, 10*time.Second); !strings.Contains(recs[0].Message, "504") ||
			!strings.Contains(recs[0].Message, consequence) {
			t.Errorf("7004 on mx1 does not explain the duplicate: %s", recs[0].Message)
		}
		if recs := mx2.Events(1713); len(recs) == 0 || !strings.Contains(recs[0].Message, consequence) {
			t.Errorf("1713 on mx2 does not explain the duplicate: %+v", recs)
		}
		if n := eventCount(mx2, 3011, ""); n != 1 {
			t.Errorf("mx2 journaled %d time(s), want once (the duplicate)", n)
		}
	})
}

// A journal recipient that cannot be reached never drops the report: it
// stays queued and is retried while the archive answers 451; when the
// archive refuses it for good (550), the non-delivery report goes to the
// postmaster. bob, the sender, hears nothing about it at all.
func TestOrgJournalRecipientUndeliverable(t *testing.T) {
	var refuse atomic.Bool
	archive := testkit.StartSMTP(t, testkit.SMTP{Name: "archive.test", Handle: func(_ *testkit.SMTPSession, verb, line string) testkit.Reply {
		if verb == "RCPT" && strings.Contains(line, "vault@archive.test") {
			if refuse.Load() {
				return testkit.Reply{Text: "550 5.1.1 <vault@archive.test>: no such archive"}
			}
			return testkit.Reply{Text: "451 4.3.0 archive busy"}
		}
		return testkit.Reply{}
	}})
	d := orgRecipients(t, "mx1")
	homed(d, "mx1", "alice@example.test", "bob@example.test", "postmaster@example.test")
	d.JournalRules = []testkit.JournalRule{{Name: "bob", Mailboxes: []string{"bob@example.test"}, Recipient: "vault@archive.test"}}
	c := journalMember("mx1")
	c.Routes = []testkit.Route{{Domain: "archive.test", SmartHost: archive.Addr, TLS: "none"}}
	mx1 := startOrgNet(t, d, c)["mx1"]

	id := sendAnon(t, mx1.Addr, "<bob@example.test>", []string{"<alice@example.test>"}, "to-alice")
	delivered(t, mx1, "alice@example.test", 1)
	// Three attempts at the archive: queued all along.
	testkit.WaitFor(t, 20*time.Second, "three attempts at the archive", func() bool {
		n := 0
		for _, c := range archive.Commands() {
			if strings.HasPrefix(c, "RCPT TO:<vault@archive.test>") {
				n++
			}
		}
		return n >= 3
	})
	if !slices.Contains(mx1.QueueActive(), id) && !slices.ContainsFunc(mx1.QueueActive(), func(f string) bool { return strings.HasPrefix(f, id) }) {
		t.Fatalf("the message left the queue while its journal report was not delivered: %v", mx1.QueueActive())
	}
	for _, c := range archive.Commands() {
		if strings.HasPrefix(c, "MAIL FROM:") && !strings.HasPrefix(c, "MAIL FROM:<postmaster@example.test>") {
			t.Errorf("the report is sent as %q, want from the postmaster", c)
		}
	}
	refuse.Store(true)
	delivered(t, mx1, "postmaster@example.test", 1)
	settleOrg(t, mx1)
	n := parseNDR(t, readFile(t, mx1.Maildir("postmaster@example.test")[0]))
	if got := n.finalRecipients(); len(got) != 1 || got[0] != "vault@archive.test" {
		t.Errorf("the postmaster's NDR names %v, want vault@archive.test", got)
	}
	if got := mx1.Maildir("bob@example.test"); len(got) != 0 {
		t.Errorf("the sender got %d notice(s) about the journal recipient", len(got))
	}
	if got := mx1.Maildir("alice@example.test"); len(got) != 1 {
		t.Errorf("alice has %d copies, want 1", len(got))
	}
}

// A SIGKILL during journaling. First at a fixed point: the journal
// recipient is written with the message (decided at receipt) and the
// copies for alice and bob are written, the report is held (MAILWARD_TEST_LOCAL_HOLD, the e2e
// build's hook) when the server is killed. After the restart there is
// one report, and one copy each. Then at whatever point: ten messages,
// killed once some reports are written; after the restart every message
// has exactly one report.
func TestOrgJournalSIGKILL(t *testing.T) {
	d := orgRecipients(t, "mx1")
	homed(d, "mx1", "alice@example.test", "bob@example.test", "journal@example.test")
	d.JournalRules = []testkit.JournalRule{{Name: "all", Domain: "example.test", Recipient: "journal@example.test"}}
	hold := t.TempDir()
	s := startServerEnv(t, orgServerDir(t, d), journalMember("mx1"), []string{"MAILWARD_TEST_LOCAL_HOLD=2:" + hold})

	id := sendAnon(t, s.Addr, "<erin@partner.test>", []string{"<alice@example.test>", "<bob@example.test>"}, "held")
	delivered(t, s, "alice@example.test", 1)
	delivered(t, s, "bob@example.test", 1)
	// Decided at receipt: the journal recipient is in the queue file's
	// envelope, written in the same commit as the message.
	queued := readFile(t, filepath.Join(s.DataDir, "queue", "active", id))
	head, _, _ := strings.Cut(queued, "\n\n")
	if !strings.Contains(head, "\nrcpt journal@example.test\njournal {") || !strings.Contains(head, "\njournal_checked true\n") {
		t.Fatalf("the journal recipient is not in the message's envelope:\n%.600s", head)
	}
	s.Kill()
	if n := len(s.Maildir("journal@example.test")); n != 0 {
		t.Fatalf("%d reports before the kill, want none (held)", n)
	}
	s.Env = nil
	s.Restart()
	testkit.WaitFor(t, 20*time.Second, "an empty queue after the restart", func() bool { return len(s.QueueActive()) == 0 })
	for a, want := range map[string]int{"alice@example.test": 1, "bob@example.test": 1, "journal@example.test": 1} {
		if n := len(s.Maildir(a)); n != want {
			t.Errorf("%s has %d message(s) after the restart, want %d", a, n, want)
		}
	}
	if n := eventCount(s, 3011, id); n != 1 {
		t.Errorf("%d journal decisions (3011) for the message, want 1", n)
	}

	const n = 10
	for i := range n {
		sendAnon(t, s.Addr, "<erin@partner.test>", []string{"<alice@example.test>"}, "loop"+string(rune('a'+i)))
	}
	testkit.WaitFor(t, 20*time.Second, "a few reports", func() bool { return len(s.Maildir("journal@example.test")) >= 3 })
	s.Kill()
	s.Restart()
	testkit.WaitFor(t, 30*time.Second, "an empty queue after the second restart", func() bool { return len(s.QueueActive()) == 0 })
	if got := len(s.Maildir("journal@example.test")); got != 1+n {
		t.Errorf("%d reports for %d messages", got, 1+n)
	}
	if got := len(s.Maildir("alice@example.test")); got != 1+n {
		t.Errorf("alice has %d copies of %d messages", got, 1+n)
	}
	ids := map[string]int{}
	for _, r := range reports(t, s, "journal@example.test") {
		ids[r.MessageID]++
	}
	for m, k := range ids {
		if k != 1 {
			t.Errorf("message %s has %d reports", m, k)
		}
	}
}
