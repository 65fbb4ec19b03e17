package e2e

import (
	"os"
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
	"mailward/internal/testkit/orgbackend"
)

// subjects counts the messages in addr's Maildir by their Subject.
func subjects(t *testing.T, s *server, addr string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, f := range s.Maildir(addr) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		head, _, _ := strings.Cut(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n\n")
		for _, l := range strings.Split(head, "\n") {
			if v, ok := strings.CutPrefix(l, "Subject: "); ok {
				out[v]++
			}
		}
	}
	return out
}

// Deliver to both across two servers: x (homed on mx2) has the alternate
// recipient y (homed on mx1). Whichever server the message comes in by,
// and also when y is a member of a group the message reached too (a
// group expanded by the first server, or one only mx2 expands), x and y
// each get exactly one copy, and the alternate is applied once (3008).
func TestOrgDeliverToBothAcrossServers(t *testing.T) {
	orgbackend.ForEach(t, testOrgDeliverToBothAcrossServers)
}

func testOrgDeliverToBothAcrossServers(t *testing.T, b orgbackend.Backend) {
	d := orgRecipients(t, "mx1", "mx2")
	d.Mailboxes = []testkit.OrgMailbox{
		{Address: "x@example.test", HomeServer: "mx2", AlternateRecipient: "y@example.test", DeliverToBoth: true},
		{Address: "y@example.test", HomeServer: "mx1"},
	}
	d.DistGroups = []testkit.DistributionGroup{
		{Address: "g@example.test", Members: []string{"x@example.test", "y@example.test"}},
		{Address: "h@example.test", Members: []string{"x@example.test", "y@example.test"}, ExpansionServer: "mx2"},
	}
	net := startOrgNetOn(t, b, d, orgMember("mx1"), orgMember("mx2"))
	mx1, mx2 := net["mx1"], net["mx2"]
	cases := []struct {
		subject string
		via     *server
		rcpts   []string
	}{
		{"to x via mx1", mx1, []string{"<x@example.test>"}},
		{"to x via mx2", mx2, []string{"<x@example.test>"}},
		{"to x and y via mx2", mx2, []string{"<x@example.test>", "<y@example.test>"}},
		{"to g via mx1", mx1, []string{"<g@example.test>"}},
		{"to g via mx2", mx2, []string{"<g@example.test>"}},
		{"to h and y via mx1", mx1, []string{"<h@example.test>", "<y@example.test>"}},
	}
	for n, c := range cases {
		sendAnon(t, c.via.Addr, "<someone@elsewhere.test>", c.rcpts, c.subject)
		delivered(t, mx2, "x@example.test", n+1)
		delivered(t, mx1, "y@example.test", n+1)
	}
	settleOrg(t, mx1, mx2)
	xs, ys := subjects(t, mx2, "x@example.test"), subjects(t, mx1, "y@example.test")
	for _, c := range cases {
		if xs[c.subject] != 1 || ys[c.subject] != 1 {
			t.Errorf("%s: x has %d copies, y %d; want exactly 1 each", c.subject, xs[c.subject], ys[c.subject])
		}
	}
	if n := eventCount(mx1, 3008, "") + eventCount(mx2, 3008, ""); n != len(cases) {
		t.Errorf("the alternate was applied %d times for %d messages (3008)", n, len(cases))
	}
}

// A forwarding loop across two servers (a on mx1 forwards to b on mx2,
// which forwards back to a) ends in one copy and an event (3010), not in
// the message going round until its hop count runs out.
func TestOrgForwardingLoopAcrossServers(t *testing.T) {
	d := orgRecipients(t, "mx1", "mx2")
	d.Mailboxes = []testkit.OrgMailbox{
		{Address: "a@example.test", HomeServer: "mx1", AlternateRecipient: "b@example.test"},
		{Address: "b@example.test", HomeServer: "mx2", AlternateRecipient: "a@example.test"},
	}
	net := startOrgNet(t, d, orgMember("mx1"), orgMember("mx2"))
	mx1, mx2 := net["mx1"], net["mx2"]
	sendAnon(t, mx1.Addr, "<someone@elsewhere.test>", []string{"<a@example.test>"}, "loop")
	testkit.WaitFor(t, 10*time.Second, "one copy for a or b", func() bool {
		return len(mx1.Maildir("a@example.test"))+len(mx2.Maildir("b@example.test")) >= 1
	})
	settleOrg(t, mx1, mx2)
	a, b := len(mx1.Maildir("a@example.test")), len(mx2.Maildir("b@example.test"))
	if a+b != 1 {
		t.Errorf("a has %d copies, b %d: want one copy in all", a, b)
	}
	if n := eventCount(mx1, 3010, "") + eventCount(mx2, 3010, ""); n != 1 {
		t.Errorf("%d forwarding-loop events (3010), want 1", n)
	}
	for name, s := range net {
		if n := eventCount(s, 3003, ""); n != 0 {
			t.Errorf("%s bounced the message for too many hops (%d events 3003)", name, n)
		}
	}
}
