package events

// The events of what an administrator holds in the queue across a
// restart (docs/queue.md#looking-at-the-queue): 2020-2029.
const (
	QueueStillSuspended = 2020
)

func init() {
	for _, d := range []Def{
		{QueueStillSuspended, Warning, "queue", Minimum,
			"Delivery queue {queue} is still suspended: it was suspended before the restart.",
			"An administrator suspended the delivery queue (mailward queue suspend) and did not resume it before the server stopped. A suspension is kept on disk (queue/suspended/ in the data directory), so the queue stays held after a restart; its messages are attempted on schedule and deferred.",
			"Resume the queue when its next hop works again: mailward queue resume <queue>."},
	} {
		Catalogue[d.ID] = d
	}
}
