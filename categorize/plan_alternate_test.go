package categorize

import (
	"testing"

	"mailward/directory"
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
