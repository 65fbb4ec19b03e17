package categorize

import (
	"testing"

	"mailward/directory"
	"mailward/queue"
)

// A mailbox's alternate recipient that the message already reaches
// another way (a member of the same group) gets one copy, not two: the
// issue's "or when the alternate is also a member of a group the message
// reached". Both orders: the alternate reached before the mailbox, and
// after it.
func TestAlternateAlsoMemberGetsOneCopy(t *testing.T) {
	for _, members := range [][]string{
		{"alice@example.test", "bob@example.test"},
		{"bob@example.test", "alice@example.test"},
	} {
		dir := orgRecipients(t, "mx1", directory.OrgFile{
			Mailboxes: []directory.OrgMailbox{
				{Address: "alice@example.test", HomeServer: "mx1"},
				{Address: "bob@example.test", HomeServer: "mx1", AlternateRecipient: "alice@example.test", DeliverToBoth: true},
			},
			DistGroups: []directory.DistributionGroup{{Address: "everyone@example.test", Members: members}},
		})
		p := planFor(&Categorizer{Dir: dir}, "sender@example.test", "everyone@example.test")
		if n := p.copies("alice@example.test"); n != 1 {
			t.Errorf("members %v: alice gets %d copies, want 1", members, n)
		}
		if n := p.copies("bob@example.test"); n != 1 {
			t.Errorf("members %v: bob gets %d copies, want 1 (deliver to both)", members, n)
		}
	}
}

// A forwarding loop (dave → erin → dave) is cut on the first server,
// and the cut is recorded (the mailbox's alternate counts as applied):
// the server erin is homed on gets her with "forwarded" in the XEXCH50
// properties and does not forward her to dave again.
func TestForwardingLoopCutIsRecorded(t *testing.T) {
	dir := orgRecipients(t, "mx1", directory.OrgFile{
		Mailboxes: []directory.OrgMailbox{
			{Address: "dave@example.test", HomeServer: "mx1", AlternateRecipient: "erin@example.test"},
			{Address: "erin@example.test", HomeServer: "mx2", AlternateRecipient: "dave@example.test"},
		},
	})
	p := planFor(&Categorizer{Dir: dir}, "sender@example.test", "dave@example.test")
	if p.copies("erin@example.test") != 1 || p.copies("dave@example.test") != 0 {
		t.Fatalf("erin %d, dave %d copies; want erin 1 (dave forwards to her, the loop ends there)",
			p.copies("erin@example.test"), p.copies("dave@example.test"))
	}
	erin := -1
	for i, r := range p.recips {
		if r.Addr == "erin@example.test" {
			erin = i
		}
	}
	recorded := false
	for _, x := range p.exps {
		recorded = recorded || (x.Index == erin && x.Forwarded)
	}
	if !recorded {
		t.Errorf("the loop's cut at erin is not recorded (expansions %+v): mx2 would forward her to dave again", p.exps)
	}
}

// A crash after the forwarding was recorded (the state file's x ... fw)
// but before the mailbox's outcome was: after the restart the mailbox,
// forwarded without deliver-to-both, still gets no copy of its own — its
// alternate has it. A forwarding loop's cut (also recorded as forwarded)
// still keeps its one copy.
func TestForwardedMailboxAfterRestart(t *testing.T) {
	dir := orgRecipients(t, "mx1", directory.OrgFile{
		Mailboxes: []directory.OrgMailbox{
			{Address: "dave@example.test", HomeServer: "mx1", AlternateRecipient: "erin@example.test"},
			{Address: "erin@example.test", HomeServer: "mx1", AlternateRecipient: "dave@example.test"},
		},
	})
	// As the queue loads the message: dave's x record applied, both
	// recipients pending.
	env := &queue.Envelope{ID: "T1", From: "sender@example.test", Recipients: []queue.Recipient{
		{Addr: "dave@example.test", Forwarded: true},
		{Addr: "erin@example.test", ORCPT: "rfc822;dave@example.test", ForwardedFrom: []string{"dave@example.test"}, Forwarded: true},
	}}
	p := (&Categorizer{Dir: dir}).plan(&queue.Message{Env: env, Status: make([]queue.RcptStatus, 2)})
	if p.copies("dave@example.test") != 0 || p.copies("erin@example.test") != 1 {
		t.Errorf("dave %d, erin %d copies; want erin's one only (dave forwards to her, the loop is cut at her)",
			p.copies("dave@example.test"), p.copies("erin@example.test"))
	}
}
