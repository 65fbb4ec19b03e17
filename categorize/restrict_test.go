package categorize

import (
	"slices"
	"strings"
	"testing"

	"mailward/directory"
	"mailward/events"
	"mailward/orgauth"
	"mailward/queue"
)

// props is an XEXCH50 blob from the organization server before this
// one, saying who authenticated ("" nobody) and giving recipients'
// properties.
func props(t *testing.T, authSender string, rcpts ...orgauth.RcptProp) []byte {
	t.Helper()
	b, err := (&orgauth.Props{Envelope: orgauth.EnvelopeProp{AuthSender: authSender, OriginServer: "mx2"}, Recipients: rcpts}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A restriction the categorizer enforces (the group was not addressed
// on a server that could refuse it at RCPT): "authenticated" is the
// AUTH on this server or the XEXCH50 properties of the server before.
// A refused sender gets an NDR (550 5.7.1 naming the group) and event
// 3007, and no member a copy.
func TestRestrictionInCategorizer(t *testing.T) {
	f := org3()
	// The senders are homed on mx3, so that their notices leave.
	f.Mailboxes = []directory.OrgMailbox{mailbox("bob@example.test", "mx1"), mailbox("carol@example.test", "mx1"),
		mailbox("alice@example.test", "mx3"), mailbox("mallory@example.test", "mx3", "m.m@example.test")}
	staff := group("staff@example.test", "bob@example.test", "carol@example.test")
	staff.AcceptOnlyAuthenticated = true
	board := group("board@example.test", "bob@example.test")
	board.AcceptFrom = []string{"staff@example.test", "mallory@example.test"}
	board.RejectFrom = []string{"mallory@example.test"}
	f.DistGroups = []directory.DistributionGroup{staff, board}

	cases := []struct {
		name  string
		env   queue.Envelope
		rcpt  string
		why   string // "" delivered
		copie []string
	}{
		{"authenticated upstream (XEXCH50)", queue.Envelope{From: "alice@example.test", OrgProps: props(t, "alice@example.test")},
			"staff@example.test", "", []string{"bob@example.test", "carol@example.test"}},
		{"XEXCH50 without an authenticated sender", queue.Envelope{From: "alice@example.test", OrgProps: props(t, "")},
			"staff@example.test", "staff@example.test accepts mail only from authenticated senders", nil},
		{"no XEXCH50 (KB843106's failure)", queue.Envelope{From: "alice@example.test"},
			"staff@example.test", "staff@example.test accepts mail only from authenticated senders", nil},
		{"AUTH here", queue.Envelope{From: "alice@example.test", AuthUser: "alice@example.test"},
			"staff@example.test", "", []string{"bob@example.test", "carol@example.test"}},
		{"accept_from a group, sender a member", queue.Envelope{From: "carol@example.test"},
			"board@example.test", "", []string{"bob@example.test"}},
		{"reject_from wins, sender by proxy", queue.Envelope{From: "M.M@example.test", AuthUser: "mallory@example.test"},
			"board@example.test", "board@example.test does not accept mail from M.M@example.test", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := startOrg(t, t.TempDir(), orgSetup{Org: f, Self: "mx1"})
			o.send(c.env, c.rcpt)
			o.settle()
			if got := o.mailboxes(); !slices.Equal(got, c.copie) {
				t.Errorf("copies in %v, want %v", got, c.copie)
			}
			n := o.notices()
			refused := o.events(events.RestrictionRefused)
			if c.why == "" {
				if len(n) != 0 || len(refused) != 0 {
					t.Errorf("delivered, yet %d notices and events 3007 %+v", len(n), refused)
				}
				return
			}
			if len(n) != 1 || n[0].Rcpt.Addr != c.env.From || n[0].Server != "mx3" || !strings.Contains(n[0].Content, "Status: 5.7.1") ||
				!strings.Contains(n[0].Content, "Final-Recipient: rfc822;"+c.rcpt) || !strings.Contains(flatten(n[0].Content), c.why) {
				t.Errorf("notices %+v; want one NDR to %s: 5.7.1 %s", n, c.env.From, c.why)
			}
			if len(refused) != 1 || refused[0].Fields["group"] != c.rcpt || refused[0].Fields["reason"] != c.why {
				t.Errorf("events 3007: %+v, want one for %s: %s", refused, c.rcpt, c.why)
			}
		})
	}
}

// A restricted group expanded on another server is not judged here:
// it goes to its expansion server, which has the properties to decide.
func TestRestrictionDecidedOnExpansionServer(t *testing.T) {
	f := org3()
	f.Mailboxes = []directory.OrgMailbox{mailbox("bob@example.test", "mx2")}
	staff := group("staff@example.test", "bob@example.test")
	staff.AcceptOnlyAuthenticated, staff.ExpansionServer = true, "mx2"
	f.DistGroups = []directory.DistributionGroup{staff}
	o := startOrg(t, t.TempDir(), orgSetup{Org: f, Self: "mx1"})
	o.send(queue.Envelope{}, "staff@example.test")
	o.settle()
	if r := o.remoteSent(); len(r) != 1 || r[0].Rcpt.Addr != "staff@example.test" || r[0].Server != "mx2" {
		t.Errorf("remote: %+v, want staff@example.test passed to mx2", r)
	}
	if n, e := len(o.notices()), len(o.events(events.RestrictionRefused)); n != 0 || e != 0 {
		t.Errorf("%d notices and %d events 3007 on a server that does not expand the group", n, e)
	}
}

// flatten undoes the folding of a notice's lines, for phrase checks.
func flatten(s string) string { return strings.Join(strings.Fields(s), " ") }
