package queue

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mailward/internal/durable"
	"mailward/internal/testkit"
	"mailward/reply"
)

// fastSpool writes n committed messages to dir quickly (no flushes: the
// test does not crash) and returns their IDs. Each is for one recipient
// at rcptDomain.
func fastSpool(t *testing.T, dir string, n int, rcptDomain string) []string {
	t.Helper()
	q := open(t, dir, func(o *Options) { o.FSSync = durable.NewGroup(func() error { return nil }) })
	ids := make([]string, n)
	var wg sync.WaitGroup
	var next atomic.Int32
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				env := &Envelope{From: "a@example.test", Recipients: []Recipient{{Addr: fmt.Sprintf("r%d@%s", i, rcptDomain)}}}
				w, err := q.Create(env)
				if err != nil {
					t.Error(err)
					return
				}
				io.WriteString(w, "Subject: backlog\r\n\r\nx\r\n")
				if err := w.Commit(); err != nil {
					t.Error(err)
					return
				}
				ids[i] = w.ID()
			}
		}()
	}
	wg.Wait()
	return ids
}

// deferAll is a handler that defers every pending recipient to the hop
// named after its domain, counting the attempts per message.
type deferAll struct {
	mu    sync.Mutex
	calls map[string]int
}

func (d *deferAll) handle(_ context.Context, m *Message) []Result {
	d.mu.Lock()
	d.calls[m.Env.ID]++
	d.mu.Unlock()
	var out []Result
	for _, i := range m.Pending() {
		a := m.Env.Recipients[i].Addr
		out = append(out, Result{Index: i, State: Pending, Reply: reply.New(451, "4.4.1", "connection refused by %s", a),
			Hop: a[strings.IndexByte(a, '@')+1:]})
	}
	return out
}

// settledSummary waits until the load is done and no message is ready or
// being delivered: every message then sits in the retry heap.
func settledSummary(t *testing.T, q *Queue) Summary {
	t.Helper()
	var s Summary
	testkit.WaitFor(t, 5*time.Second, "the queue to settle", func() bool {
		s = q.Summary(time.Now())
		return !s.Load.Loading && s.Ready == 0 && s.InFlight == 0
	})
	return s
}

// The spool found at start is loaded in the background while new mail is
// committed, some of it before Start (so it is in active/ when the loader
// lists it) and some during the load. Every message is scheduled exactly
// once: the workers are held in the handler, so every message that is
// not being delivered must be on the ready list exactly once.
func TestLoadSchedulesEachMessageOnce(t *testing.T) {
	dir := t.TempDir()
	const backlog, before, during = 500, 20, 100
	fastSpool(t, dir, backlog, "old.example")

	q := open(t, dir, func(o *Options) { o.FSSync = durable.NewGroup(func() error { return nil }) })
	if l := q.LoadState(); !l.Loading || l.Listed {
		t.Errorf("before Start: %+v, want loading, not listed", l)
	}
	var mu sync.Mutex
	calls := map[string]int{}
	hold := func(ctx context.Context, m *Message) []Result {
		mu.Lock()
		calls[m.Env.ID]++
		mu.Unlock()
		<-ctx.Done()
		return nil
	}
	add := func() {
		env := &Envelope{From: "b@example.test", Recipients: []Recipient{{Addr: "x@new.example"}}}
		w, err := q.Create(env)
		if err != nil {
			t.Error(err)
			return
		}
		io.WriteString(w, "Subject: new\r\n\r\nx\r\n")
		if err := w.Commit(); err != nil {
			t.Error(err)
		}
	}
	for i := 0; i < before; i++ {
		add() // committed and scheduled, in active/ before the listing
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	if err := q.Start(ctx, hold, func(*Message, []int) error { return nil }, nil); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < during; i++ {
		add()
	}
	waitLoaded(t, q)
	var s Summary
	testkit.WaitFor(t, 5*time.Second, "both workers to hold a message", func() bool { s = q.Summary(time.Now()); return s.InFlight == 2 })
	total := backlog + before + during
	if s.Load.Total != backlog || s.Load.Loaded != backlog || !s.Load.Listed || s.Load.Loading {
		t.Errorf("load state %+v, want %d of %d loaded (new mail is not part of the load)", s.Load, backlog, backlog)
	}
	if s.Messages != total || s.Ready+s.InFlight != total {
		t.Errorf("%d messages, %d ready and %d in flight; want %d messages, each once", s.Messages, s.Ready, s.InFlight, total)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, n := range calls {
		if n != 1 {
			t.Errorf("message %s attempted %d times at once, want 1 (scheduled twice)", id, n)
		}
	}
}

// The summary groups pending recipients by delivery queue, without a view
// per message; HopMessages pages through one queue oldest first.
func TestSummaryAndPaging(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, func(o *Options) { o.RetrySchedule = []time.Duration{time.Hour} })
	d := &deferAll{calls: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx, d.handle, func(*Message, []int) error { return nil }, nil)
	var a []string
	for i := 0; i < 5; i++ {
		env := &Envelope{From: "s@example.test", Recipients: []Recipient{{Addr: "1@a.example"}, {Addr: "2@a.example"}, {Addr: "3@b.example"}}}
		if i >= 3 {
			env.Recipients = env.Recipients[:2] // a.example only
		}
		w, _ := q.Create(env)
		io.WriteString(w, "x\r\n")
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		a = append(a, w.ID())
	}
	start := time.Now()
	s := settledSummary(t, q)
	if s.Messages != 5 || s.Waiting != 5 || len(s.Hops) != 2 {
		t.Fatalf("summary %+v, want 5 messages waiting in 2 queues", s)
	}
	ha, hb := s.Hops[0], s.Hops[1]
	if ha.Hop != "a.example" || ha.Messages != 5 || ha.Recipients != 10 || hb.Hop != "b.example" || hb.Messages != 3 || hb.Recipients != 3 {
		t.Errorf("hops %+v %+v, want a.example 5/10 and b.example 3/3", ha, hb)
	}
	if !ha.RetryLater || ha.NextRetry.Before(start.Add(50*time.Minute)) || !strings.HasPrefix(ha.LastError, "451 4.4.1 connection refused by ") {
		t.Errorf("a.example = %+v, want a retry in about an hour and the last error", ha)
	}
	page, total := q.HopMessages("a.example", "", 2)
	if total != 5 || len(page) != 2 || page[0].ID != a[0] || page[1].ID != a[1] || page[0].NextRetry.IsZero() {
		t.Fatalf("first page: %d of %d, want %s %s", len(page), total, a[0], a[1])
	}
	page, _ = q.HopMessages("a.example", page[1].ID, 2)
	if len(page) != 2 || page[0].ID != a[2] || page[1].ID != a[3] {
		t.Errorf("second page: %v", page)
	}
	page, total = q.HopMessages("b.example", "", 0)
	if total != 3 || len(page) != 3 {
		t.Errorf("b.example: %d of %d, want all 3", len(page), total)
	}
	if ids := q.HopIDs("b.example"); len(ids) != 3 {
		t.Errorf("HopIDs(b.example) = %v, want 3", ids)
	}
	if v, ok := q.Message(a[4]); !ok || v.ID != a[4] || len(v.Recipients) != 2 || v.NextRetry.IsZero() {
		t.Errorf("Message(%s) = %+v %v", a[4], v, ok)
	}
	if _, ok := q.Message("NOPE"); ok {
		t.Errorf("Message of an unknown ID found")
	}
	// Retry clears the next attempt.
	if n := q.Retry(a[0]); n != 1 {
		t.Errorf("Retry = %d", n)
	}
	testkit.WaitFor(t, 5*time.Second, "the retried message's attempt", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.calls[a[0]] == 2
	})
}

// bruteSummary sums the live messages up the slow way, one by one: what
// the running tally must always agree with.
func bruteSummary(q *Queue, now time.Time) []HopSummary {
	hops := map[string]*HopSummary{}
	for _, e := range q.entries() {
		seen := map[string]bool{}
		e.m.mu.Lock()
		for _, st := range e.m.Status {
			if st.State != Pending {
				continue
			}
			h := hops[st.Hop]
			if h == nil {
				h = &HopSummary{Hop: st.Hop}
				hops[st.Hop] = h
			}
			h.Recipients++
			if !st.Reply.IsZero() && !st.Last.Before(h.LastErrorAt) {
				h.LastError, h.LastErrorAt = st.Reply.String(), st.Last
			}
			seen[st.Hop] = true
		}
		e.m.mu.Unlock()
		for name := range seen {
			h := hops[name]
			h.Messages++
			h.Bytes += e.m.size
			if h.Oldest.IsZero() || e.m.Env.Arrival.Before(h.Oldest) {
				h.Oldest = e.m.Env.Arrival
			}
			if !e.next.IsZero() {
				if h.NextRetry.IsZero() || e.next.Before(h.NextRetry) {
					h.NextRetry = e.next
				}
				if e.next.After(now) {
					h.RetryLater = true
				}
			}
		}
	}
	out := make([]HopSummary, 0, len(hops))
	for _, h := range hops {
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Hop < out[j].Hop })
	return out
}

// The running tally agrees with summing the messages up one by one,
// through deliveries, deferrals to several queues, failures, retries and
// deletions, each recipient changing queues from one attempt to the next.
func TestTallyAgreesWithMessages(t *testing.T) {
	dir := t.TempDir()
	clock := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var clockMu sync.Mutex
	tick := func() time.Time {
		clockMu.Lock()
		defer clockMu.Unlock()
		clock = clock.Add(time.Second) // distinct attempt times: the latest error is well defined
		return clock
	}
	q := open(t, dir, func(o *Options) {
		o.RetrySchedule = []time.Duration{time.Hour, 2 * time.Hour}
		o.FSSync = durable.NewGroup(func() error { return nil })
	})
	q.now = tick
	hopNames := []string{"a.example", "b.example", "local"}
	var calls atomic.Int64
	h := func(_ context.Context, m *Message) []Result {
		n := calls.Add(1)
		var out []Result
		for _, i := range m.Pending() {
			k := (int(n) + i*7 + len(m.Env.ID)) % 10
			r := Result{Index: i, Hop: hopNames[k%3]}
			switch {
			case k < 2:
				r.State, r.Reply = Delivered, reply.FromStatus("2.0.0", "")
			case k < 3:
				r.State, r.Reply = Failed, reply.New(550, "5.1.1", "unknown")
			case k < 5:
				r.State = Pending // deferred without a reply
			default:
				r.State, r.Reply = Pending, reply.New(451, "4.4.1", "refused #%d", n)
			}
			out = append(out, r)
		}
		return out
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx, h, func(*Message, []int) error { return nil }, nil)
	var ids []string
	for i := 0; i < 60; i++ {
		env := &Envelope{From: "s@example.test"}
		for r := 0; r <= i%4; r++ {
			env.Recipients = append(env.Recipients, Recipient{Addr: fmt.Sprintf("r%d@x.example", r)})
		}
		w, _ := q.Create(env)
		io.WriteString(w, "x\r\n")
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, w.ID())
	}
	check := func(round int) {
		t.Helper()
		s := settledSummary(t, q)
		now := q.now()
		got := q.Summary(now).Hops
		if want := bruteSummary(q, now); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("round %d: tally\n %+v\nwant\n %+v", round, got, want)
		}
		if s.Waiting != s.Messages {
			t.Fatalf("round %d: %d messages, %d waiting", round, s.Messages, s.Waiting)
		}
	}
	check(0)
	for round := 1; round <= 4; round++ {
		if round%2 == 1 {
			q.Retry() // everything now: recipients move between queues
		} else {
			for _, id := range ids[round*5 : round*5+5] {
				q.Delete(id, round == 4)
			}
			q.Retry(ids[:10]...)
		}
		check(round)
	}
	if calls.Load() < 100 {
		t.Errorf("only %d attempts: the workload did not exercise the tally", calls.Load())
	}
}
