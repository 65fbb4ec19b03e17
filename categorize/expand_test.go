package categorize

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"mailward/directory"
	"mailward/events"
	"mailward/orgauth"
	"mailward/queue"
)

// A group nested three deep, with an outside member: every mailbox of
// the tree gets one copy here, the outside member is relayed once and
// knows the group it came through, and each group is expanded (event
// 3005) exactly once.
func TestExpandNested(t *testing.T) {
	f := org3()
	f.Mailboxes = []directory.OrgMailbox{mailbox("alice@example.test", "mx1"), mailbox("bob@example.test", "mx1"),
		mailbox("carol@example.test", "mx1"), mailbox("erin@example.test", "mx1")}
	f.DistGroups = []directory.DistributionGroup{
		group("everyone@example.test", "alice@example.test", "bob@example.test", "team@example.test", "friend@remote.test"),
		group("team@example.test", "alice@example.test", "carol@example.test", "sub@example.test"),
		group("sub@example.test", "erin@example.test", "bob@example.test"),
	}
	o := startOrg(t, t.TempDir(), orgSetup{Org: f, Self: "mx1"})
	o.send(queue.Envelope{}, "everyone@example.test")
	o.settle()
	want := []string{"alice@example.test", "bob@example.test", "carol@example.test", "erin@example.test"}
	if got := o.mailboxes(); !slices.Equal(got, want) {
		t.Errorf("copies in %v, want one each in %v", got, want)
	}
	r := o.remoteSent()
	if len(r) != 1 || r[0].Rcpt.Addr != "friend@remote.test" || !slices.Equal(r[0].Rcpt.ExpandedFrom, []string{"everyone@example.test"}) {
		t.Errorf("remote: %+v, want friend@remote.test once, from everyone", r)
	}
	if n := len(o.notices()); n != 0 {
		t.Errorf("%d notices for a message delivered to everyone", n)
	}
	var groups []string
	for _, e := range o.events(events.GroupExpanded) {
		groups = append(groups, e.Fields["group"])
	}
	slices.Sort(groups)
	if !slices.Equal(groups, []string{"everyone@example.test", "sub@example.test", "team@example.test"}) {
		t.Errorf("events 3005 for %v, want each group once", groups)
	}
}

// Groups nested in a cycle (a directory config check would refuse,
// as after a bad reload or from a future LDAP backend): each group is
// expanded once, each member gets one copy, and event 3006 names the
// cycle.
func TestExpandCycle(t *testing.T) {
	f := org3()
	f.Mailboxes = []directory.OrgMailbox{mailbox("alice@example.test", "mx1"), mailbox("bob@example.test", "mx1")}
	f.DistGroups = []directory.DistributionGroup{
		group("a@example.test", "alice@example.test", "b@example.test"),
		group("b@example.test", "bob@example.test", "a@example.test"),
	}
	o := startOrg(t, t.TempDir(), orgSetup{Org: f, Self: "mx1"})
	o.send(queue.Envelope{}, "a@example.test")
	o.settle()
	if got := o.mailboxes(); !slices.Equal(got, []string{"alice@example.test", "bob@example.test"}) {
		t.Errorf("copies in %v, want one each for alice and bob", got)
	}
	if n := len(o.events(events.GroupExpanded)); n != 2 {
		t.Errorf("%d events 3005, want 2 (a and b once each)", n)
	}
	cyc := o.events(events.ExpansionCycle)
	if len(cyc) != 1 || cyc[0].Fields["chain"] != "a@example.test → b@example.test → a@example.test" {
		t.Errorf("events 3006: %+v, want one with the chain a → b → a", cyc)
	}
}

// One copy per mailbox, however it is reached: alice addressed by her
// primary and a proxy address and through two groups, carol through
// two groups by two addresses. The other recipients say whose copy they
// share.
func TestExpandOneCopyEach(t *testing.T) {
	f := org3()
	f.Mailboxes = []directory.OrgMailbox{mailbox("alice@example.test", "mx1", "a.smith@example.test"),
		mailbox("carol@example.test", "mx1", "c.jones@example.test")}
	f.DistGroups = []directory.DistributionGroup{
		group("everyone@example.test", "a.smith@example.test", "team@example.test"),
		group("team@example.test", "alice@example.test", "carol@example.test"),
		group("jones@example.test", "c.jones@example.test"),
	}
	o := startOrg(t, t.TempDir(), orgSetup{Org: f, Self: "mx1"})
	o.send(queue.Envelope{}, "everyone@example.test", "A.Smith@example.test", "jones@example.test", "alice@example.test")
	o.settle()
	if got := o.mailboxes(); !slices.Equal(got, []string{"alice@example.test", "carol@example.test"}) {
		t.Errorf("copies in %v, want exactly one for alice and one for carol", got)
	}
	if n := len(o.remoteSent()) + len(o.notices()); n != 0 {
		t.Errorf("%d remote deliveries or notices", n)
	}
}

// A group whose expansion server is another server goes there
// unexpanded (a deliver.Job with Server), and is not expanded here; on
// its expansion server it is.
func TestExpansionServer(t *testing.T) {
	f := org3()
	f.Mailboxes = []directory.OrgMailbox{mailbox("alice@example.test", "mx1"), mailbox("carol@example.test", "mx2")}
	far := group("far@example.test", "alice@example.test", "carol@example.test")
	far.ExpansionServer = "mx2"
	f.DistGroups = []directory.DistributionGroup{far, group("near@example.test", "far@example.test")}

	mx1 := startOrg(t, t.TempDir(), orgSetup{Org: f, Self: "mx1"})
	mx1.send(queue.Envelope{}, "near@example.test")
	mx1.settle()
	r := mx1.remoteSent()
	if len(r) != 1 || r[0].Rcpt.Addr != "far@example.test" || r[0].Server != "mx2" {
		t.Fatalf("remote: %+v, want far@example.test to mx2, unexpanded", r)
	}
	if !slices.Equal(r[0].Rcpt.ExpandedFrom, []string{"near@example.test"}) {
		t.Errorf("far's recipient came through %v, want [near]", r[0].Rcpt.ExpandedFrom)
	}
	if got := mx1.mailboxes(); len(got) != 0 {
		t.Errorf("mx1 delivered to %v: it does not expand far", got)
	}
	if e := mx1.events(events.GroupExpanded); len(e) != 1 || e[0].Fields["group"] != "near@example.test" {
		t.Errorf("mx1 events 3005: %+v, want near only", e)
	}

	mx2 := startOrg(t, t.TempDir(), orgSetup{Org: f, Self: "mx2"})
	mx2.send(queue.Envelope{}, "far@example.test")
	mx2.settle()
	if got := mx2.mailboxes(); !slices.Equal(got, []string{"carol@example.test"}) {
		t.Errorf("mx2 copies %v, want carol's", got)
	}
	if r := mx2.remoteSent(); len(r) != 1 || r[0].Rcpt.Addr != "alice@example.test" || r[0].Server != "mx1" {
		t.Errorf("mx2 remote: %+v, want alice to her home server mx1", r)
	}
}

// The limit on expanded recipients: a group that would pass it fails
// with 5.2.4 and its own NDR (event 3009) and none of its members gets
// a copy; what was expanded within the limit is delivered.
func TestExpansionLimit(t *testing.T) {
	f := org3()
	var members []string
	for i := range 5 {
		a := fmt.Sprintf("user%d@example.test", i)
		f.Mailboxes = append(f.Mailboxes, mailbox(a, "mx1"))
		members = append(members, a)
	}
	f.DistGroups = []directory.DistributionGroup{
		group("big@example.test", members...),
		group("outer@example.test", "user0@example.test", "user1@example.test", "inner@example.test"),
		group("inner@example.test", "user2@example.test", "user3@example.test"),
	}
	t.Run("too big", func(t *testing.T) {
		o := startOrg(t, t.TempDir(), orgSetup{Org: f, Self: "mx1", MaxExpanded: 4})
		o.send(queue.Envelope{}, "big@example.test")
		o.settle()
		if got := o.mailboxes(); len(got) != 0 {
			t.Errorf("copies in %v for a group over the limit", got)
		}
		n := o.notices()
		if len(n) != 1 || n[0].Rcpt.Addr != "sender@remote.test" || !strings.Contains(n[0].Content, "Status: 5.2.4") ||
			!strings.Contains(n[0].Content, "Final-Recipient: rfc822;big@example.test") {
			t.Errorf("notices: %+v, want one NDR to the sender for big@example.test with 5.2.4", n)
		}
		if e := o.events(events.ExpansionLimit); len(e) != 1 || e[0].Fields["group"] != "big@example.test" || e[0].Fields["max"] != "4" {
			t.Errorf("events 3009: %+v", e)
		}
	})
	t.Run("nested past the limit", func(t *testing.T) {
		o := startOrg(t, t.TempDir(), orgSetup{Org: f, Self: "mx1", MaxExpanded: 4})
		o.send(queue.Envelope{}, "outer@example.test")
		o.settle()
		if got := o.mailboxes(); !slices.Equal(got, []string{"user0@example.test", "user1@example.test"}) {
			t.Errorf("copies in %v, want user0 and user1 (outer's 3 recipients fit, inner's 2 more do not)", got)
		}
		n := o.notices()
		if len(n) != 1 || !strings.Contains(n[0].Content, "Final-Recipient: rfc822;inner@example.test") || !strings.Contains(n[0].Content, "Status: 5.2.4") {
			t.Errorf("notices: %+v, want one NDR for inner@example.test with 5.2.4", n)
		}
	})
}

// A nesting cycle across servers: outer (expanded on mx1) reached
// inner, whose expansion server is mx2, and inner contains outer. mx2
// knows from the properties that outer is expanded already: it logs the
// cycle instead of expanding outer a second time.
func TestExpandCycleAcrossServers(t *testing.T) {
	f := org3()
	f.Mailboxes = []directory.OrgMailbox{mailbox("alice@example.test", "mx1"), mailbox("carol@example.test", "mx2")}
	inner := group("inner@example.test", "carol@example.test", "outer@example.test")
	inner.ExpansionServer = "mx2"
	f.DistGroups = []directory.DistributionGroup{group("outer@example.test", "alice@example.test", "inner@example.test"), inner}
	o := startOrg(t, t.TempDir(), orgSetup{Org: f, Self: "mx2"})
	up := props(t, "", orgauth.RcptProp{Address: "inner@example.test", ExpandedFrom: "outer@example.test", Groups: []string{"outer@example.test"}})
	o.send(queue.Envelope{OrgProps: up}, "inner@example.test")
	o.settle()
	if got := o.mailboxes(); !slices.Equal(got, []string{"carol@example.test"}) {
		t.Errorf("copies %v, want carol's", got)
	}
	if r := o.remoteSent(); len(r) != 0 {
		t.Errorf("outer expanded again: sent %+v", r)
	}
	if e := o.events(events.ExpansionCycle); len(e) != 1 || e[0].Fields["chain"] != "outer@example.test → inner@example.test → outer@example.test" {
		t.Errorf("events 3006: %+v", e)
	}
}
