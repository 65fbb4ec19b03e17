package categorize

import (
	"strings"

	"mailward/events"
	"mailward/queue"
)

// attemptFields are the fields of every event of a recipient's attempt
// (3000, 3001, 3002), the same keys everywhere so that message tracking
// can follow them (docs/tracking.md): the queue ID and the Message-ID,
// the recipient, the delivery queue (next hop) and host it was tried
// through, and which attempt this was. The first attempt is also
// preceded by event 2021, which says which delivery queue the recipient
// was queued for.
func (c *Categorizer) attemptFields(m *queue.Message, r queue.Result) []any {
	rcpt := m.Env.Recipients[r.Index].Addr
	attempt := 1 // the queue counts it once the results are in
	if r.Index < len(m.Status) {
		attempt += m.Status[r.Index].Attempts
	}
	kv := []any{"queue_id", m.Env.ID, "message_id", m.MessageID(), "rcpt", rcpt, "hop", r.Hop,
		"host", r.RemoteMTA, "attempt", attempt}
	if attempt == 1 && r.Hop != "" && r.Hop != ExpandedHop && r.Hop != ForwardedHop {
		c.Events.Emit(events.MessageRouted, "queue_id", m.Env.ID, "message_id", m.MessageID(), "rcpt", rcpt, "hop", r.Hop)
	}
	return kv
}

// addrList is the addresses of rs, for an event's field.
func addrList(rs []queue.Recipient) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Addr
	}
	return strings.Join(out, ",")
}
