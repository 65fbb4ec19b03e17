package categorize

import (
	"mailward/events"
	"mailward/message"
	"mailward/queue"
	"mailward/reply"
)

// checkHops fails every pending recipient of a message that has been
// round too many servers (RFC 5321 §6.3: a relay must detect loops, and
// counting the trace fields is how): a message queued before the receive
// side refused such mail, or before server.max_hops was lowered, or one
// that came back here through a route that leads to this server, must not
// go round again, across restarts too. The header is read once per
// attempt, from memory while the message is still cached there.
func (c *Categorizer) checkHops(m *queue.Message) ([]queue.Result, bool) {
	if c.MaxHops <= 0 {
		return nil, false
	}
	body, err := m.Open()
	if err != nil {
		// Delivery reads the content again and defers on the same error.
		return nil, false
	}
	hops, err := message.CountHops(body)
	body.Close()
	// The count includes the Received: field this server added when it
	// queued the message, as the receive side's count at DATA does: a
	// message let in there (at most max_hops) is never bounced here.
	if err != nil || hops <= c.MaxHops {
		return nil, false
	}
	pending := m.Pending()
	why := reply.New(554, "5.4.6", "too many hops: %d trace fields (Received:, Delivered-To:), more than the limit of %d; the message is looping (RFC 5321 §6.3)",
		hops, c.MaxHops)
	out := make([]queue.Result, 0, len(pending))
	for _, i := range pending {
		out = append(out, queue.Result{Index: i, State: queue.Failed, Reply: why})
	}
	c.Events.Emit(events.HopLimitExceeded, "queue_id", m.Env.ID, "message_id", m.MessageID(), "from", m.Env.From, "hops", hops,
		"max", c.MaxHops, "recipients", len(out))
	for _, r := range out {
		c.report(m, r)
	}
	return out, true
}
