package categorize

// Journaling at receipt (docs/journaling.md): the journal recipients of
// a message are decided before its envelope is written, and written with
// it, so that the report is queued in the same durable commit as the
// message: once the client has its 250, a crash can neither lose the
// report nor, deciding again, double it. The decision is the planner's
// own (the same rules, expansion and recipient list as a categorizer
// attempt would make), run without recording or delivering anything.

import (
	"strings"

	"mailward/events"
	"mailward/queue"
)

// Journaled is what JournalAtReceipt decided, for JournalQueued.
type Journaled struct {
	Added  []queue.Recipient // the journal recipients appended
	Reason string            // why the message is not journaled here, when a rule could apply
}

// JournalAtReceipt decides journaling for env, a message being received
// whose recipients are all known: it appends the journal recipients to
// env.Recipients and sets env.JournalChecked. When the decision cannot
// be made now (a directory lookup failed), env is left as it was and the
// categorizer decides, recording it before any delivery (plan.journal).
func (c *Categorizer) JournalAtReceipt(env *queue.Envelope) Journaled {
	if c.Org == nil {
		return Journaled{}
	}
	if org := c.Org(); org == nil || len(org.JournalRules) == 0 {
		return Journaled{}
	}
	dry := *c
	dry.Events = nil // a dry run: its expansions and refusals happen later, for real
	m := &queue.Message{Env: env, Status: make([]queue.RcptStatus, len(env.Recipients))}
	p := dry.plan(m)
	if p.dirTrouble {
		return Journaled{}
	}
	var j Journaled
	for _, x := range p.exps {
		for _, r := range x.Add {
			if r.Journal != nil {
				j.Added = append(j.Added, r)
			}
		}
	}
	j.Reason = p.notJournaledWhy
	env.Recipients = append(env.Recipients, j.Added...)
	env.JournalChecked = true
	return j
}

// JournalQueued writes the events of what JournalAtReceipt decided, once
// the message is committed: 3011 for each journal recipient added, or
// 3012 with the reason it is not journaled here.
func (c *Categorizer) JournalQueued(env *queue.Envelope, j Journaled) {
	if j.Reason != "" {
		c.Events.Emit(events.JournalNotRepeated, "queue_id", env.ID, "message_id", env.MessageID, "reason", j.Reason)
	}
	first := len(env.Recipients) - len(j.Added)
	for k, r := range j.Added {
		c.Events.Emit(events.JournalReportQueued, "queue_id", env.ID, "message_id", env.MessageID, "journal_recipient", r.Addr, "index", first+k,
			"rules", strings.Join(r.Journal.Rules, ", "), "recipients", len(r.Journal.Recipients),
			"without_properties", r.Journal.NoUpstream)
	}
}
