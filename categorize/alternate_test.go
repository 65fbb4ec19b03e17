package categorize

import (
	"slices"
	"testing"

	"mailward/directory"
	"mailward/events"
	"mailward/orgauth"
	"mailward/queue"
)

// withAlternate is m forwarding to alt, keeping a copy with both.
func withAlternate(m directory.OrgMailbox, alt string, both bool) directory.OrgMailbox {
	m.AlternateRecipient, m.DeliverToBoth = alt, both
	return m
}

// An alternate recipient is applied once, here (event 3008): without
// deliver-to-both the mailbox gets nothing, with it both get one copy;
// the alternate's copy knows whose alternate it is.
func TestAlternateRecipient(t *testing.T) {
	for _, both := range []bool{false, true} {
		name := map[bool]string{false: "forward only", true: "deliver to both"}[both]
		t.Run(name, func(t *testing.T) {
			f := org3()
			f.Mailboxes = []directory.OrgMailbox{withAlternate(mailbox("alice@example.test", "mx1"), "fwd@remote.test", both)}
			o := startOrg(t, t.TempDir(), orgSetup{Org: f, Self: "mx1"})
			o.send(queue.Envelope{}, "alice@example.test")
			o.settle()
			var want []string
			if both {
				want = []string{"alice@example.test"}
			}
			if got := o.mailboxes(); !slices.Equal(got, want) {
				t.Errorf("local copies %v, want %v", got, want)
			}
			r := o.remoteSent()
			if len(r) != 1 || r[0].Rcpt.Addr != "fwd@remote.test" || !slices.Equal(r[0].Rcpt.ForwardedFrom, []string{"alice@example.test"}) {
				t.Errorf("remote %+v, want fwd@remote.test once, forwarded from alice", r)
			}
			e := o.events(events.AlternateApplied)
			if len(e) != 1 || e[0].Fields["mailbox"] != "alice@example.test" || e[0].Fields["alternate"] != "fwd@remote.test" {
				t.Errorf("events 3008: %+v", e)
			}
		})
	}
}

// Across two servers: mx1 applies the alternate of a mailbox homed on
// mx2 and sends the mailbox's copy there marked forwarded (the XEXCH50
// properties say it); mx2, reading that, does not apply it again. The
// mailbox and the alternate each get one copy.
func TestAlternateAcrossServers(t *testing.T) {
	f := org3()
	f.Mailboxes = []directory.OrgMailbox{withAlternate(mailbox("alice@example.test", "mx2"), "fwd@remote.test", true)}

	mx1 := startOrg(t, t.TempDir(), orgSetup{Org: f, Self: "mx1"})
	mx1.send(queue.Envelope{}, "alice@example.test")
	mx1.settle()
	got := map[string]sent{}
	for _, s := range mx1.remoteSent() {
		got[s.Rcpt.Addr] = s
	}
	if a, ok := got["alice@example.test"]; len(got) != 2 || !ok || a.Server != "mx2" || !a.Rcpt.Forwarded || got["fwd@remote.test"].Server != "" {
		t.Fatalf("mx1 sent %+v; want alice to mx2 marked forwarded, and fwd@remote.test", got)
	}

	mx2 := startOrg(t, t.TempDir(), orgSetup{Org: f, Self: "mx2"})
	mx2.send(queue.Envelope{OrgProps: props(t, "", orgauth.RcptProp{Address: "alice@example.test", Forwarded: true})}, "alice@example.test")
	mx2.settle()
	if got := mx2.mailboxes(); !slices.Equal(got, []string{"alice@example.test"}) {
		t.Errorf("mx2 copies %v, want alice's", got)
	}
	if r := mx2.remoteSent(); len(r) != 0 {
		t.Errorf("mx2 forwarded again: %+v", r)
	}
	if e := mx2.events(events.AlternateApplied); len(e) != 0 {
		t.Errorf("mx2 events 3008: %+v", e)
	}
}

// The alternate (deliver to both) is also reached another way — a
// member of a group of the message, or addressed directly, before or
// after the forwarding mailbox is decided: it gets one copy, and so does
// the mailbox.
func TestAlternateAlsoReached(t *testing.T) {
	f := org3()
	f.Mailboxes = []directory.OrgMailbox{withAlternate(mailbox("alice@example.test", "mx1"), "erin@example.test", true),
		mailbox("erin@example.test", "mx1", "e.e@example.test")}
	f.DistGroups = []directory.DistributionGroup{
		group("g-erin@example.test", "e.e@example.test"),
		group("g-alice@example.test", "alice@example.test"),
	}
	for _, rcpts := range [][]string{
		{"g-erin@example.test", "g-alice@example.test"},
		{"g-alice@example.test", "g-erin@example.test"},
		{"erin@example.test", "alice@example.test"},
		{"alice@example.test", "e.e@example.test"},
	} {
		t.Run(rcpts[0]+","+rcpts[1], func(t *testing.T) {
			o := startOrg(t, t.TempDir(), orgSetup{Org: f, Self: "mx1"})
			o.send(queue.Envelope{}, rcpts...)
			o.settle()
			if got := o.mailboxes(); !slices.Equal(got, []string{"alice@example.test", "erin@example.test"}) {
				t.Errorf("copies %v, want one for alice and one for erin", got)
			}
		})
	}
}

// A forwarding loop (alice → bob → alice) is cut: one copy, to the
// mailbox where the loop closes, and event 3010 with the chain. With
// deliver-to-both each mailbox keeps its one copy.
func TestForwardingLoop(t *testing.T) {
	for _, both := range []bool{false, true} {
		name := map[bool]string{false: "forward only", true: "deliver to both"}[both]
		t.Run(name, func(t *testing.T) {
			f := org3()
			f.Mailboxes = []directory.OrgMailbox{
				withAlternate(mailbox("alice@example.test", "mx1"), "bob@example.test", both),
				withAlternate(mailbox("bob@example.test", "mx1", "b.b@example.test"), "alice@example.test", both),
			}
			o := startOrg(t, t.TempDir(), orgSetup{Org: f, Self: "mx1"})
			o.send(queue.Envelope{}, "alice@example.test")
			o.settle()
			want := []string{"bob@example.test"}
			if both {
				want = []string{"alice@example.test", "bob@example.test"}
			}
			if got := o.mailboxes(); !slices.Equal(got, want) {
				t.Errorf("copies %v, want %v", got, want)
			}
			e := o.events(events.ForwardingLoop)
			if len(e) != 1 || e[0].Fields["chain"] != "alice@example.test → bob@example.test → alice@example.test" ||
				e[0].Fields["delivered"] != "bob@example.test" {
				t.Errorf("events 3010: %+v, want one: alice → bob → alice, delivered to bob", e)
			}
		})
	}
}

// A forwarding loop across servers: mx1 forwarded alice to carol (the
// properties say so); carol's alternate is alice again. mx2 cuts the
// loop with carol's copy instead of sending alice back to mx1.
func TestForwardingLoopAcrossServers(t *testing.T) {
	f := org3()
	f.Mailboxes = []directory.OrgMailbox{
		withAlternate(mailbox("alice@example.test", "mx1"), "carol@example.test", false),
		withAlternate(mailbox("carol@example.test", "mx2"), "alice@example.test", false),
	}
	o := startOrg(t, t.TempDir(), orgSetup{Org: f, Self: "mx2"})
	up := props(t, "", orgauth.RcptProp{Address: "carol@example.test", Alternate: true, ForwardedFrom: []string{"alice@example.test"}})
	o.send(queue.Envelope{OrgProps: up}, "carol@example.test")
	o.settle()
	if got := o.mailboxes(); !slices.Equal(got, []string{"carol@example.test"}) {
		t.Errorf("copies %v, want carol's", got)
	}
	if r := o.remoteSent(); len(r) != 0 {
		t.Errorf("sent on: %+v", r)
	}
	if e := o.events(events.ForwardingLoop); len(e) != 1 || e[0].Fields["chain"] != "alice@example.test → carol@example.test → alice@example.test" {
		t.Errorf("events 3010: %+v", e)
	}
}
