package e2e

// Mail loops (RFC 5321 §6.3) on the delivery side: a smart host that is
// this server itself, a next hop that greets with this server's name,
// and a looping message already in the spool at start. None of them
// depends on the receive side refusing such mail at DATA.

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailward/events"
	"mailward/internal/testkit"
	"mailward/queue"
)

// attempts is the number of delivery outcomes (events 3000, 3001, 3002)
// recorded for message id.
func attempts(s *server, id string) int {
	n := 0
	for _, ev := range []int{events.Delivered, events.DeliveryDeferred, events.DeliveryFailed} {
		n += len(s.EventsFor(ev, "queue_id", id))
	}
	return n
}

// The reproduction: smart_host is this server's own virtual server,
// which lets 127.0.0.1 relay, and one message goes to user@remote.test.
// Before, it went round thousands of times, growing a Received: field
// each time. Now the first attempt sees the next hop is this server:
// the sender gets one NDR with status 5.4.6, event 3004 names the loop,
// the spool empties, and no copy of the message ever comes back in.
func TestLoopSmartHostIsThisServer(t *testing.T) {
	cfg := remoteConfig("", 0)
	cfg.ListenOnFreePorts(t)
	cfg.Delivery.SmartHost = cfg.VirtualServer("default").Address
	s := startServer(t, cfg)
	id := relayMsg(t, s, "<alice@example.test>", "<user@remote.test>", "loop-to-self")

	n := waitNDR(t, s, "alice@example.test", id)
	if len(n.recipients) != 1 || n.finalRecipients()[0] != "user@remote.test" {
		t.Fatalf("NDR recipients %v, want user@remote.test", n.finalRecipients())
	}
	rb := n.recipients[0]
	if rb.Get("Action") != "failed" || rb.Get("Status") != "5.4.6" || !strings.Contains(rb.Get("Diagnostic-Code"), "mail for remote.test loops back to myself") {
		t.Errorf("NDR: Action %q, Status %q, Diagnostic-Code %q; want failed, 5.4.6, loops back to myself",
			rb.Get("Action"), rb.Get("Status"), rb.Get("Diagnostic-Code"))
	}
	settle(t, s)
	loops := s.EventsFor(events.MailLoopsBack, "queue_id", id)
	if len(loops) != 1 || loops[0].Fields["domain"] != "remote.test" || !strings.Contains(loops[0].Message, "listens on") {
		t.Errorf("events 3004 for %s: %+v; want one naming remote.test and our virtual server", id, loops)
	}
	// Two retry intervals more: a loop would have brought copies back by
	// now. Only the original was ever received, and it was tried once.
	time.Sleep(2 * time.Second)
	if got := len(s.Events(events.MessageQueued)); got != 1 {
		t.Errorf("%d messages received (events 2000); want 1, the original: the message came back round", got)
	}
	if got := attempts(s, id); got < 1 || got > 3 {
		t.Errorf("%d delivery outcomes for %s, want between 1 and 3", got, id)
	}
	if got := len(s.EventsFor(events.DeliveryFailed, "queue_id", id)); got != 1 {
		t.Errorf("%d events 3002 for %s, want 1", got, id)
	}
	if got := len(s.Maildir("alice@example.test")); got != 1 {
		t.Errorf("alice has %d messages, want the one NDR", got)
	}
	if q := s.QueueActive(); len(q) != 0 {
		t.Errorf("spool not empty: %v", q)
	}
}

// A next hop reached by an address this server does not know as its own
// (here 127.0.0.2) that greets with this server's fqdn — this server
// behind another address, or a second server given the same name — is a
// loop too: 5.4.6, nothing sent to it.
func TestLoopNextHopGreetsWithOurName(t *testing.T) {
	fake := testkit.StartSMTP(t, testkit.SMTP{Addr: "127.0.0.2:0", Name: "mx1.example.test"})
	cfg := remoteConfig("", 0)
	cfg.Delivery.SmartHost = fake.Addr
	s := startServer(t, cfg)
	id := relayMsg(t, s, "<alice@example.test>", "<user@remote.test>", "loop-by-name")
	n := waitNDR(t, s, "alice@example.test", id)
	if rb := n.recipients[0]; rb.Get("Status") != "5.4.6" || !strings.Contains(rb.Get("Diagnostic-Code"), "with this server's own name mx1.example.test") {
		t.Errorf("NDR Status %q, Diagnostic-Code %q; want 5.4.6 naming our own name", rb.Get("Status"), rb.Get("Diagnostic-Code"))
	}
	settle(t, s)
	if fake.Count() != 0 || fake.CountCommands("MAIL") != 0 {
		t.Errorf("the next hop with our name was sent %d message(s), %d MAIL command(s)", fake.Count(), fake.CountCommands("MAIL"))
	}
	if len(s.EventsFor(events.MailLoopsBack, "queue_id", id)) != 1 {
		t.Errorf("no event 3004 for %s", id)
	}
}

// A looping message already in the spool at start, with 40 Received:
// fields over the default server.max_hops of 30 (queued before the limit
// was lowered, or the looping message surviving a restart): it
// is not delivered anywhere, neither to its remote recipient (whose
// smart host would take it) nor to its local one; the sender gets one
// NDR with status 5.4.6 for both, and event 3003 gives the count.
func TestLoopQueuedMessageBouncedAtStart(t *testing.T) {
	fake := testkit.StartSMTP(t, testkit.SMTP{Addr: "127.0.0.2:0", Name: "relay.remote.test"})
	dir := t.TempDir()
	q, err := queue.Open(queue.Options{Dir: filepath.Join(dir, "data", "queue"), Workers: 1, RetrySchedule: []time.Duration{time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	env := &queue.Envelope{From: "alice@example.test", ClientIP: "127.0.0.1", Helo: "mx1.example.test", VirtualServer: "default",
		Body: "7BIT", Recipients: []queue.Recipient{{Addr: "user@remote.test"}, {Addr: "postmaster@example.test"}}}
	w, err := q.Create(env)
	if err != nil {
		t.Fatal(err)
	}
	var msg strings.Builder
	for i := 40; i > 0; i-- {
		fmt.Fprintf(&msg, "Received: from mx1.example.test ([127.0.0.1])\r\n\tby mx1.example.test (mailward) with ESMTP id LOOP%02d; %s\r\n",
			i, time.Now().Format(time.RFC1123Z))
	}
	msg.WriteString("From: <alice@example.test>\r\nTo: <user@remote.test>\r\nSubject: looping\r\nMessage-ID: <looping@e2e.test>\r\n\r\ngoing round\r\n")
	w.Write([]byte(msg.String()))
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	id := w.ID()

	cfg := remoteConfig("", 0)
	cfg.Delivery.SmartHost = fake.Addr
	s := startServerIn(t, dir, cfg)
	n := waitNDR(t, s, "alice@example.test", id)
	if got := n.finalRecipients(); len(got) != 2 {
		t.Fatalf("NDR for %v, want both recipients", got)
	}
	for _, rb := range n.recipients {
		if rb.Get("Action") != "failed" || rb.Get("Status") != "5.4.6" || !strings.Contains(rb.Get("Diagnostic-Code"), "too many hops: 40 trace fields") {
			t.Errorf("%s: Action %q, Status %q, Diagnostic-Code %q; want failed, 5.4.6, too many hops",
				rb.Get("Final-Recipient"), rb.Get("Action"), rb.Get("Status"), rb.Get("Diagnostic-Code"))
		}
	}
	settle(t, s)
	if ev := s.EventsFor(events.HopLimitExceeded, "queue_id", id); len(ev) != 1 || ev[0].Fields["hops"] != "40" || ev[0].Fields["max"] != "30" {
		t.Errorf("events 3003 for %s: %+v; want one with hops 40, max 30", id, ev)
	}
	if fake.Count() != 0 {
		t.Errorf("the looping message was relayed %d time(s)", fake.Count())
	}
	if got := len(s.Maildir("postmaster@example.test")); got != 0 {
		t.Errorf("postmaster received %d copies of the looping message", got)
	}
	if got := len(s.Maildir("alice@example.test")); got != 1 {
		t.Errorf("alice has %d messages, want the one NDR", got)
	}
}
