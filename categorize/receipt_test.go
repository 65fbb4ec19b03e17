package categorize

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"mailward/directory"
	"mailward/orgauth"
	"mailward/queue"
)

func receiptCategorizer(t *testing.T) *Categorizer {
	dir := orgRecipients(t, "mx1", journalOrg())
	return &Categorizer{Dir: dir, Org: dir.Org, Postmaster: "postmaster@example.test"}
}

// Decided at receipt: the journal recipients are appended to the
// envelope that is about to be written (so they are committed with the
// message), the same ones a categorizer attempt would add; the attempt
// that follows records no journal recipient of its own and routes the
// ones it finds to their mailboxes.
func TestJournalAtReceiptAddsToTheEnvelope(t *testing.T) {
	c := receiptCategorizer(t)
	rcpts := []queue.Recipient{{Addr: "team@example.test"}, {Addr: "bob@example.test"}}
	env := &queue.Envelope{ID: "R1", From: "x@partner.test", Recipients: append([]queue.Recipient(nil), rcpts...)}
	j := c.JournalAtReceipt(env)
	want := journalRecips(journalPlan(t, "mx1", journalOrg(), &queue.Envelope{ID: "R1", From: "x@partner.test", Recipients: rcpts}, nil))
	if len(want) != 2 || !reflect.DeepEqual(j.Added, want) || !env.JournalChecked ||
		!reflect.DeepEqual(env.Recipients[2:], want) || len(env.Recipients) != 4 {
		t.Fatalf("added %+v, envelope %+v (checked %v); want the planner's %+v appended", j.Added, env.Recipients, env.JournalChecked, want)
	}
	p := c.plan(&queue.Message{Env: env, Status: make([]queue.RcptStatus, len(env.Recipients))})
	for _, x := range p.exps {
		for _, r := range x.Add {
			if r.Journal != nil {
				t.Errorf("the attempt after receipt records journal recipient %s again", r.Addr)
			}
		}
	}
	if got := len(journalRecips(p)); got != 2 {
		t.Errorf("the attempt sees %d journal recipients, want the 2 from receipt", got)
	}
	reports := 0
	for _, l := range p.local {
		if l.report && l.mailbox == "journal@example.test" {
			reports++
		}
	}
	if reports != 1 {
		t.Errorf("local jobs %+v: want one report for journal@example.test", p.local)
	}
}

// Journaled upstream: nothing added, the decision is still recorded
// (checked) with its reason; no rule matching: checked, nothing added,
// so no later attempt decides again.
func TestJournalAtReceiptNothingToAdd(t *testing.T) {
	c := receiptCategorizer(t)
	env := &queue.Envelope{ID: "R2", From: "alice@example.test", OrgProps: upstreamProps(t, orgauth.MessageProp{Journaled: true}),
		Recipients: []queue.Recipient{{Addr: "bob@example.test"}}}
	j := c.JournalAtReceipt(env)
	if len(j.Added) != 0 || len(env.Recipients) != 1 || !env.JournalChecked || !strings.Contains(j.Reason, "journaled upstream") {
		t.Errorf("journaled upstream: added %+v, reason %q, checked %v", j.Added, j.Reason, env.JournalChecked)
	}
	env = &queue.Envelope{ID: "R3", From: "x@remote.test", Recipients: []queue.Recipient{{Addr: "bob@example.test"}}}
	if j := c.JournalAtReceipt(env); len(j.Added) != 0 || !env.JournalChecked || j.Reason != "" {
		t.Errorf("no rule: added %+v, reason %q, checked %v", j.Added, j.Reason, env.JournalChecked)
	}
	// A rule that would match now does not make the categorizer add one
	// later: the decision was made at receipt.
	env.From = "a.smith@example.test"
	p := c.plan(&queue.Message{Env: env, Status: make([]queue.RcptStatus, 1)})
	if js := journalRecips(p); len(js) != 0 {
		t.Errorf("decided at receipt, the categorizer still adds %+v", js)
	}
}

// failingDir fails every lookup, as a directory outage.
type failingDir struct{ Directory }

func (failingDir) Find(string) (directory.Entry, error) {
	return directory.Entry{}, errors.New("directory down")
}

// A directory outage at receipt: the envelope is left undecided, and the
// categorizer decides once it can see every recipient (recorded with
// the expansion before any delivery).
func TestJournalAtReceiptDirectoryDown(t *testing.T) {
	c := receiptCategorizer(t)
	c.Dir = failingDir{c.Dir}
	env := &queue.Envelope{ID: "R4", From: "x@partner.test", Recipients: []queue.Recipient{{Addr: "bob@example.test"}}}
	if j := c.JournalAtReceipt(env); len(j.Added) != 0 || env.JournalChecked || len(env.Recipients) != 1 {
		t.Fatalf("directory down: added %+v, checked %v, recipients %+v; want the envelope untouched", j.Added, env.JournalChecked, env.Recipients)
	}
	c = receiptCategorizer(t)
	p := c.plan(&queue.Message{Env: env, Status: make([]queue.RcptStatus, 1)})
	if js := journalRecips(p); len(js) != 1 || len(p.exps) != 1 || p.exps[0].Add[0].Addr != "vault@archive.test" {
		t.Errorf("the categorizer after the outage: journal recipients %+v, expansions %+v; want vault@archive.test recorded", js, p.exps)
	}
}
