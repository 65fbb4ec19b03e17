package events

// The events of message tracking (docs/tracking.md) that no other step
// wrote: 2021-2029 (2020 is queueheld.go's).
const (
	MessageRouted = 2021
)

func init() {
	Catalogue[MessageRouted] = Def{MessageRouted, Information, "delivery", Minimum,
		"Message {queue_id} ({message_id}): recipient {rcpt} queued for delivery queue {hop}.",
		"The categorizer resolved the recipient and its first delivery attempt goes through this delivery queue (next hop): \"local\" for a mailbox here, an organization server, a smart host or a domain. Written once per recipient, before the first attempt's event (3000, 3001 or 3002); a retry goes through the same queue.",
		"None needed. 'mailward track' shows a message's whole path."}
	// The record of mail flow that message tracking reads is never held
	// back by the rate limit (see notRateLimited): like 2000 and 3000, the
	// number of these events is bounded by the mail accepted.
	for _, id := range []int{MessageRouted, GroupExpanded, AlternateApplied, ForwardingLoop, JournalReportQueued} {
		notRateLimited[id] = true
	}
}
