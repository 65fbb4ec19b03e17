package categorize

import (
	"slices"
	"testing"

	"mailward/directory"
	"mailward/queue"
)

// Routing by home server: a mailbox homed here, and this server's own
// mailbox, are delivered here; the others go to their home servers as
// deliver.Job{Server} (no [[route]]), one copy each even when addressed
// by two addresses; an address of no organization domain goes out as
// usual (no Server).
func TestRouteByHomeServer(t *testing.T) {
	f := org3()
	f.Mailboxes = []directory.OrgMailbox{mailbox("alice@example.test", "mx1"), mailbox("bob@example.test", "mx2", "b.brown@example.test"),
		mailbox("carol@example.test", "mx3")}
	o := startOrg(t, t.TempDir(), orgSetup{Org: f, Self: "mx1"})
	o.send(queue.Envelope{}, "alice@example.test", "b.brown@example.test", "carol@example.test", "dave@local.test",
		"bob@example.test", "friend@remote.test")
	o.settle()
	if got := o.mailboxes(); !slices.Equal(got, []string{"alice@example.test", "dave@local.test"}) {
		t.Errorf("local copies %v, want alice (homed here) and dave (this server's own)", got)
	}
	got := map[string]string{}
	for _, s := range o.remoteSent() {
		if _, dup := got[s.Rcpt.Addr]; dup {
			t.Errorf("%s sent twice", s.Rcpt.Addr)
		}
		got[s.Rcpt.Addr] = s.Server
	}
	want := map[string]string{"b.brown@example.test": "mx2", "carol@example.test": "mx3", "friend@remote.test": ""}
	if len(got) != len(want) {
		t.Errorf("remote: %v, want %v", got, want)
	}
	for a, s := range want {
		if g, ok := got[a]; !ok || g != s {
			t.Errorf("remote %s: server %q (sent %v), want %q", a, g, ok, s)
		}
	}
}
