package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
	"mailward/reply"
)

// A frozen message is not attempted, not even by a retry of everything,
// stays frozen across a restart (its "f 1" state line), and is attempted
// at once when unfrozen; the summary counts it and its size.
func TestFreezeHoldsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	defer1 := func(m *Message, _ int) []Result {
		var out []Result
		for _, i := range m.Pending() {
			out = append(out, Result{Index: i, State: Pending, Hop: "example.net", Reply: reply.FromStatus("4.4.1", "no answer")})
		}
		return out
	}
	q := open(t, dir, func(o *Options) { o.RetrySchedule = []time.Duration{time.Hour} })
	rec := &recorder{answer: defer1}
	ctx, cancel := context.WithCancel(context.Background())
	q.Start(ctx, rec.handle, func(*Message, []int) error { return nil }, nil)
	id := enqueue(t, q, testEnv(), "Subject: hello\r\n\r\nbody\r\n")
	testkit.WaitFor(t, 5*time.Second, "the first attempt", func() bool { return rec.n() == 1 && !q.NextRetry(id).IsZero() })

	if changed, err := q.Freeze(id, true); err != nil || !changed {
		t.Fatalf("Freeze = %v, %v; want true, nil", changed, err)
	}
	if changed, err := q.Freeze(id, true); err != nil || changed {
		t.Fatalf("second Freeze = %v, %v; want false, nil", changed, err)
	}
	if n := q.Retry(); n != 0 {
		t.Errorf("Retry() moved %d messages; a frozen one is not in the retry heap", n)
	}
	s := q.Summary(time.Now())
	if s.Frozen != 1 || s.Waiting != 0 || s.Bytes != int64(len("Subject: hello\r\n\r\nbody\r\n")) {
		t.Errorf("summary: frozen %d waiting %d bytes %d", s.Frozen, s.Waiting, s.Bytes)
	}
	if len(s.Hops) != 1 || s.Hops[0].Hop != "example.net" || s.Hops[0].Bytes != s.Bytes || s.Hops[0].Oldest.IsZero() {
		t.Errorf("hops = %+v", s.Hops)
	}
	if v, _ := q.Message(id); !v.Frozen {
		t.Error("the view does not show the message frozen")
	}
	cancel()
	q.Wait()

	// Restart: loaded frozen, never attempted.
	q = open(t, dir)
	rec = &recorder{}
	ctx, cancel = context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx, rec.handle, func(*Message, []int) error { return nil }, nil)
	waitLoaded(t, q)
	if v, ok := q.Message(id); !ok || !v.Frozen {
		t.Fatalf("after the restart: found %v, frozen %v; want frozen", ok, v.Frozen)
	}
	if s := q.Summary(time.Now()); s.Frozen != 1 || s.Ready != 0 {
		t.Errorf("after the restart: frozen %d ready %d; want 1, 0", s.Frozen, s.Ready)
	}
	if rec.n() != 0 {
		t.Fatalf("a frozen message was attempted %d time(s) after the restart", rec.n())
	}
	if changed, err := q.Freeze(id, false); err != nil || !changed {
		t.Fatalf("unfreeze = %v, %v", changed, err)
	}
	testkit.WaitFor(t, 5*time.Second, "delivery after the unfreeze", func() bool {
		_, ok := q.Message(id)
		return rec.n() == 1 && !ok
	})
	if s := q.Summary(time.Now()); s.Frozen != 0 || s.Bytes != 0 {
		t.Errorf("after delivery: frozen %d bytes %d", s.Frozen, s.Bytes)
	}
}

// Find matches sender, any recipient and the decoded subject,
// case-insensitively, across queues.
func TestFind(t *testing.T) {
	dir := t.TempDir()
	// Start is not called: no worker takes the messages, they stay
	// ready, and Find only reads them.
	q := open(t, dir)
	a := enqueue(t, q, &Envelope{From: "Bob@example.test", Recipients: []Recipient{{Addr: "carol@example.net"}}},
		"Subject: =?utf-8?q?Caf=C3=A9_invoice?=\r\n\r\nx\r\n")
	b := enqueue(t, q, &Envelope{From: "eve@example.test", Recipients: []Recipient{{Addr: "dave@example.org"}, {Addr: "Carol@Example.NET"}}},
		"Subject: lunch\r\n\r\ny\r\n")
	ids := func(vs []View) string {
		var s []string
		for _, v := range vs {
			s = append(s, v.ID)
		}
		return strings.Join(s, ",")
	}
	for _, c := range []struct {
		f    Filter
		want string
	}{
		{Filter{From: "bob@"}, a},
		{Filter{To: "carol@example.net"}, a + "," + b},
		{Filter{To: "CAROL", Subject: "lunch"}, b},
		{Filter{Subject: "café"}, a},
		{Filter{From: "nobody"}, ""},
	} {
		got, total := q.Find(c.f, 0)
		if ids(got) != c.want || total != len(got) {
			t.Errorf("Find(%+v) = %s (%d); want %s", c.f, ids(got), total, c.want)
		}
	}
	got, total := q.Find(Filter{To: "carol"}, 1)
	if len(got) != 1 || total != 2 || got[0].Subject != "Café invoice" {
		t.Errorf("Find limit 1 = %+v, total %d", got, total)
	}
}
