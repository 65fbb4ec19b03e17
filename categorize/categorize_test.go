package categorize

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mailward/deliver"
	"mailward/directory"
	"mailward/events"
	"mailward/internal/testkit"
	"mailward/queue"
	"mailward/reply"
)

// outcome is what the queue did with one message: the recipients'
// final states as the bouncer saw them, and whether remote delivery was
// asked for anything.
type outcome struct {
	status      []queue.RcptStatus
	bounced     []int
	remoteCalls int
	events      []events.Record
	maildir     string
}

// run queues content for rcpts, runs one real queue over the
// categorizer until the message is final (bounded), and reports what
// happened. With fromDisk the message is in the spool at start, as after
// a restart; otherwise it is queued while the queue runs. The content is what the receive side would have queued: it
// starts with this server's own Received: field.
func run(t *testing.T, fromDisk bool, maxHops int, content string, rcpts ...string) outcome {
	t.Helper()
	dir := t.TempDir()
	evPath := filepath.Join(dir, "events.log")
	ev, err := events.OpenLog(nil, nil, evPath, events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	spool := queue.Options{Dir: filepath.Join(dir, "queue"), Workers: 1,
		RetrySchedule: []time.Duration{time.Hour}, Events: ev}
	env := &queue.Envelope{From: "sender@example.test", ClientIP: "192.0.2.1", Helo: "client.test", VirtualServer: "default"}
	for _, r := range rcpts {
		env.Recipients = append(env.Recipients, queue.Recipient{Addr: r})
	}
	enqueue := func(q *queue.Queue) {
		w, err := q.Create(env)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(content))
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if fromDisk {
		// Queued by an earlier run of the server: the new one finds it
		// in the spool at start and reads it from the file.
		earlier, err := queue.Open(spool)
		if err != nil {
			t.Fatal(err)
		}
		enqueue(earlier)
	}
	q, err := queue.Open(spool)
	if err != nil {
		t.Fatal(err)
	}

	var o outcome
	var mu sync.Mutex
	o.maildir = filepath.Join(dir, "mailboxes")
	c := &Categorizer{
		Dir:     &directory.Recipients{Local: directory.New([]string{"example.test"}, []directory.Mailbox{{Address: "alice@example.test"}}, "")},
		Queue:   q,
		Maildir: deliver.NewMaildir(o.maildir, "mx1.example.test"),
		Events:  ev,
		MaxHops: maxHops,
		Remote: func(_ context.Context, m *queue.Message, jobs []deliver.Job) []queue.Result {
			mu.Lock()
			o.remoteCalls++
			mu.Unlock()
			var out []queue.Result
			for _, j := range jobs {
				out = append(out, queue.Result{Index: j.Index, State: queue.Delivered, Hop: "remote.test",
					Reply: reply.New(250, "2.0.0", "relayed")})
			}
			return out
		},
	}
	done := make(chan struct{}, 1)
	handle := func(ctx context.Context, m *queue.Message) []queue.Result {
		res := c.Handle(ctx, m)
		defer func() { done <- struct{}{} }()
		mu.Lock()
		defer mu.Unlock()
		o.status = make([]queue.RcptStatus, len(m.Status))
		copy(o.status, m.Status)
		for _, r := range res {
			o.status[r.Index].State, o.status[r.Index].Reply = r.State, r.Reply
		}
		return res
	}
	bounce := func(m *queue.Message, failed []int) error {
		mu.Lock()
		o.bounced = append(o.bounced, failed...)
		mu.Unlock()
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := q.Start(ctx, handle, bounce, nil); err != nil {
		t.Fatal(err)
	}
	if !fromDisk {
		enqueue(q) // as the receive side does: delivered from memory
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the message was not handled within 10 s")
	}
	// The worker records the outcome after the handler returns: wait for
	// the message to leave the spool (bounded), then stop.
	testkit.Eventually(10*time.Second, func() bool { return len(q.Messages()) == 0 })
	cancel()
	q.Wait()
	ev.Close()
	if o.events, err = events.Read(evPath, events.Filter{}); err != nil {
		t.Fatal(err)
	}
	return o
}

// received returns n Received: fields of other servers, the newest first.
func received(n int) string {
	var b strings.Builder
	for i := n; i > 0; i-- {
		fmt.Fprintf(&b, "Received: from hop%d.example.net (hop%d.example.net [192.0.2.%d])\r\n\tby hop%d.example.net with ESMTP id X%d; Mon, 1 Jan 2024 00:00:%02d +0000\r\n",
			i-1, i-1, i%250, i, i, i%60)
	}
	return b.String()
}

// queued is a message as the receive side queues it: our own Received:
// field, then the message as it arrived with its trace fields.
func queued(trace string) string {
	return "Received: from client.test ([192.0.2.1])\r\n\tby mx1.example.test (mailward) with ESMTP id Q1; Mon, 1 Jan 2024 00:01:00 +0000\r\n" +
		trace + "From: <sender@example.test>\r\nTo: <alice@example.test>\r\nSubject: loop\r\n\r\nbody\r\n"
}

func (o outcome) count(id int) []events.Record {
	var out []events.Record
	for _, r := range o.events {
		if r.ID == id {
			out = append(out, r)
		}
	}
	return out
}

func (o outcome) mailboxFiles(t *testing.T) int {
	t.Helper()
	n := 0
	filepath.WalkDir(o.maildir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, string(filepath.Separator)+"new"+string(filepath.Separator)) {
			n++
		}
		return nil
	})
	return n
}

// A queued message with more trace fields than max_hops (a looping
// message that survived a restart, or one queued before the limit was
// lowered) is not delivered anywhere: every recipient, local and remote,
// fails with 5.4.6, the failures go to the bouncer (the sender's NDR),
// and event 3003 says why.
func TestTooManyHopsFails(t *testing.T) {
	for _, fromDisk := range []bool{false, true} {
		t.Run(fmt.Sprintf("fromDisk=%v", fromDisk), func(t *testing.T) { tooManyHops(t, fromDisk) })
	}
}

func tooManyHops(t *testing.T, fromDisk bool) {
	o := run(t, fromDisk, 30, queued(received(40)), "alice@example.test", "user@remote.test")
	if len(o.status) != 2 {
		t.Fatalf("%d recipient states, want 2", len(o.status))
	}
	if o.remoteCalls != 0 {
		t.Errorf("remote delivery was asked %d time(s) for a looping message", o.remoteCalls)
	}
	if n := o.mailboxFiles(t); n != 0 {
		t.Errorf("%d local copies of a looping message", n)
	}
	for i, s := range o.status {
		if s.State != queue.Failed || s.Reply.Status != "5.4.6" || s.Reply.Code != 554 {
			t.Errorf("recipient %d: state %v, reply %q; want failed with 554 5.4.6", i, s.State, s.Reply)
		}
		if !strings.Contains(s.Reply.Text(), "41 trace fields") || !strings.Contains(s.Reply.Text(), "limit of 30") {
			t.Errorf("recipient %d: reply %q does not give the count and the limit", i, s.Reply)
		}
	}
	if len(o.bounced) != 2 {
		t.Errorf("bounced %v, want both recipients reported to the sender", o.bounced)
	}
	ev := o.count(events.HopLimitExceeded)
	if len(ev) != 1 || ev[0].Fields["hops"] != "41" || ev[0].Fields["max"] != "30" || ev[0].Fields["from"] != "sender@example.test" {
		t.Errorf("events 3003: %+v; want one with hops 41, max 30", ev)
	}
	if n := len(o.count(events.DeliveryFailed)); n != 2 {
		t.Errorf("%d events 3002, want one per recipient", n)
	}
}

// Delivered-To: counts as a hop too: a message forwarded round through
// local delivery is stopped as well.
func TestDeliveredToCounts(t *testing.T) {
	trace := received(20) + strings.Repeat("Delivered-To: alice@example.test\r\n", 15)
	o := run(t, false, 30, queued(trace), "alice@example.test")
	if len(o.status) != 1 || o.status[0].State != queue.Failed || o.status[0].Reply.Status != "5.4.6" {
		t.Errorf("20 Received: and 15 Delivered-To: over a limit of 30: %+v, want failed 5.4.6", o.status)
	}
}

// A message that arrived with max_hops - 1 trace fields was let in by
// the receive side, whose Received: field made max_hops: it is at the
// limit, not over it, and is delivered as usual.
func TestAtTheLimitDelivered(t *testing.T) {
	o := run(t, false, 30, queued(received(29)), "alice@example.test", "user@remote.test")
	for i, s := range o.status {
		if s.State != queue.Delivered {
			t.Errorf("recipient %d: %v %q, want delivered", i, s.State, s.Reply)
		}
	}
	if o.remoteCalls != 1 || o.mailboxFiles(t) != 1 {
		t.Errorf("remote calls %d, local copies %d; want 1 and 1", o.remoteCalls, o.mailboxFiles(t))
	}
	if n := len(o.count(events.HopLimitExceeded)); n != 0 {
		t.Errorf("%d events 3003 for a message within the limit", n)
	}
}

// Without a limit (MaxHops 0, a categorizer built without one) nothing
// is counted.
func TestNoLimit(t *testing.T) {
	o := run(t, false, 0, queued(received(40)), "alice@example.test")
	if len(o.status) != 1 || o.status[0].State != queue.Delivered {
		t.Errorf("MaxHops 0: %+v, want delivered", o.status)
	}
}
