package categorize

import (
	"testing"

	"mailward/events"
	"mailward/message"
)

// Every event of an attempt carries what message tracking follows
// (docs/tracking.md): the queue ID, the Message-ID read from the stored
// header (from memory, or from the file after a restart), the
// recipient, the delivery queue, the host and the attempt; event 2021
// says which delivery queue each recipient was queued for.
func TestAttemptEventsCarryTrackingFields(t *testing.T) {
	for _, c := range []struct {
		name, header, want string
		fromDisk           bool
	}{
		{"from memory", "Message-ID: <t1@client.test>\r\n", "<t1@client.test>", false},
		{"from the file", "Message-ID: <t2@client.test>\r\n", "<t2@client.test>", true},
		{"none", "", message.NoMessageID, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := run(t, c.fromDisk, 0, queued(c.header), "alice@example.test", "bob@remote.test")
			routed, done := o.count(events.MessageRouted), o.count(events.Delivered)
			if len(routed) != 2 || len(done) != 2 {
				t.Fatalf("%d events 2021 and %d events 3000, want 2 and 2", len(routed), len(done))
			}
			hops := map[string]string{"alice@example.test": "local", "bob@remote.test": "remote.test"}
			for _, r := range append(routed, done...) {
				f := r.Fields
				if f["queue_id"] == "" || f["message_id"] != c.want || f["hop"] != hops[f["rcpt"]] {
					t.Errorf("event %d: %v; want message_id %q and hop %q", r.ID, f, c.want, hops[f["rcpt"]])
				}
				if r.ID == events.Delivered && f["attempt"] != "1" {
					t.Errorf("event 3000 for %s: attempt %q, want 1", f["rcpt"], f["attempt"])
				}
			}
		})
	}
}
