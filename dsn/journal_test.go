package dsn

import (
	"slices"
	"strings"
	"testing"

	"mailward/queue"
)

// A journal recipient's reports go to the postmaster, never to the
// sender (docs/journaling.md): when it fails with another recipient,
// the sender's notice names only the other one, and the postmaster's
// only the journal recipient.
func TestJournalRecipientReportsToPostmaster(t *testing.T) {
	env := &queue.Envelope{From: "sender@remote.test", Recipients: []queue.Recipient{
		{Addr: "a@remote.test"},
		{Addr: "vault@archive.test", ReportTo: "postmaster@example.test", Journal: &queue.JournalEnvelope{From: "journaling@example.test"}},
	}}
	got, _ := runNotices(t, env, failed)
	if len(got) != 2 || got[0].to != "postmaster@example.test" || got[1].to != "sender@remote.test" {
		t.Fatalf("notices %+v, want one to the postmaster and one to the sender", got)
	}
	if f := finals(got[0].content); !slices.Equal(f, []string{"vault@archive.test"}) {
		t.Errorf("the postmaster's notice reports %v, want the journal recipient", f)
	}
	if f := finals(got[1].content); !slices.Equal(f, []string{"a@remote.test"}) || strings.Contains(got[1].content, "vault@archive.test") {
		t.Errorf("the sender's notice reports %v or names the journal recipient:\n%s", f, got[1].content)
	}
}
