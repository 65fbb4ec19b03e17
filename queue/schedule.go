package queue

import (
	"bufio"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"mailward/events"
	"mailward/reply"
)

// retryHeap orders deferred messages by their next attempt.
type retryItem struct {
	at time.Time
	m  *Message
}
type retryHeap []retryItem

func (h retryHeap) Len() int           { return len(h) }
func (h retryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h retryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *retryHeap) Push(x any)        { *h = append(*h, x.(retryItem)) }
func (h *retryHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// schedule puts a message on the ready list for the workers.
func (q *Queue) schedule(m *Message) {
	m.mu.Lock()
	hops := m.shares()
	m.mu.Unlock()
	q.mu.Lock()
	q.live[m.Env.ID] = m
	q.bytes += m.size
	if m.frozen {
		// Frozen before a restart: it stays held until unfrozen.
		q.frozenN++
	} else {
		q.ready = append(q.ready, m)
	}
	q.tally.set(m, hops)
	q.mu.Unlock()
	q.cond.Signal()
}

// Start clears tmp/, starts the workers and the retry timer, and loads
// the spool found at start in the background (see load.go): it returns at
// once, and messages are scheduled as they are read. h delivers; b queues
// NDRs; d (may be nil) queues delay notices.
func (q *Queue) Start(ctx context.Context, h Handler, b Bouncer, d Bouncer) error {
	q.handler, q.bouncer, q.delayer = h, b, d
	q.clearTmp()
	for i := 0; i < q.opt.Workers; i++ {
		q.wg.Add(1)
		go q.worker(ctx)
	}
	q.wg.Add(1)
	go q.retryLoop(ctx)
	q.wg.Add(1)
	go q.loadSpool(ctx)
	go func() {
		<-ctx.Done()
		q.mu.Lock()
		q.closed = true
		q.mu.Unlock()
		q.cond.Broadcast()
	}()
	return nil
}

// OnSuccess sets how success notices are queued (before Start).
func (q *Queue) OnSuccess(b Bouncer) { q.succeeder = b }

// Wait blocks until the workers have stopped (after ctx is done).
func (q *Queue) Wait() { q.wg.Wait() }

// errEmpty: the queue file is empty. It never held an acknowledged message
// that is still due: Commit answers only after the content is durable, and
// only a finished message's file is truncated (spares.put).
var errEmpty = errors.New("empty queue file")

// readMessage reads a committed message's envelope and state from disk.
func (q *Queue) readMessage(id string) (*Message, error) {
	path := filepath.Join(q.active, id)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 4096)
	if _, err := br.Peek(1); err == io.EOF {
		return nil, errEmpty
	}
	env, off, err := readEnvelope(br)
	if err != nil {
		return nil, err
	}
	if env.ID != id {
		return nil, fmt.Errorf("file %s holds message %s", id, env.ID)
	}
	m := &Message{Env: env, Status: make([]RcptStatus, len(env.Recipients)), path: path, bodyOffset: off}
	if fi, err := f.Stat(); err == nil && fi.Size() > off {
		m.size = fi.Size() - off
	}
	// Most messages of a backlog that never had an attempt have no state
	// file: one stat instead of a failed open and a stat.
	if _, err := os.Stat(path + ".state"); err == nil {
		m.hasState = true
		if err := m.readState(path + ".state"); err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
	}
	for _, s := range m.Status {
		if s.Attempts > m.attempt {
			m.attempt = s.Attempts
		}
	}
	return m, nil
}

func (q *Queue) worker(ctx context.Context) {
	defer q.wg.Done()
	for {
		q.mu.Lock()
		for len(q.ready) == 0 && !q.closed {
			q.cond.Wait()
		}
		if q.closed {
			q.mu.Unlock()
			return
		}
		m := q.ready[0]
		q.ready[0] = nil
		q.ready = q.ready[1:]
		m.inflight = true
		q.inflightN++
		q.mu.Unlock()
		q.process(ctx, m)
		q.mu.Lock()
		m.inflight = false
		q.inflightN--
		q.mu.Unlock()
	}
}

// process runs one delivery attempt and records its outcome durably.
func (q *Queue) process(ctx context.Context, m *Message) {
	now := q.now()
	var results []Result
	if len(m.Pending()) > 0 {
		results = q.handler(ctx, m)
	}
	if ctx.Err() != nil {
		return // shutting down: the message stays on disk for next start
	}
	expired := q.opt.MaxAge > 0 && now.Sub(m.Env.Arrival) > q.opt.MaxAge
	var lines []string
	m.mu.Lock()
	for _, r := range results {
		if r.State == Pending && expired {
			// RFC 3463 X.4.7: delivery time expired; the last
			// temporary reason stays in the diagnostic.
			r.State = Failed
			r.Reply = reply.FromStatus("5.4.7", "delivery time expired after "+q.opt.MaxAge.String()+"; last error: "+r.Reply.String())
			q.ev.Emit(events.DeliveryFailed, "queue_id", m.Env.ID, "message_id", m.MessageID(), "rcpt", m.Env.Recipients[r.Index].Addr,
				"hop", r.Hop, "host", r.RemoteMTA, "attempt", m.Status[r.Index].Attempts+1,
				"status", r.Reply.Status, "error", r.Reply.String())
		}
		s := &m.Status[r.Index]
		s.State, s.Reply, s.RemoteMTA, s.Last, s.Hop = r.State, r.Reply, r.RemoteMTA, now, r.Hop
		s.Attempts++
		lines = append(lines, resultLine(r, now))
	}
	m.attempt++
	var unbounced, unwarned, succeeded []int
	for _, r := range results {
		if r.State == Delivered && !r.NotifyPassed && m.Env.Recipients[r.Index].Notify != "" && m.Env.NotifyOn(r.Index, "SUCCESS") {
			succeeded = append(succeeded, r.Index)
		}
	}
	for i, s := range m.Status {
		if s.State == Failed && !s.Bounced {
			unbounced = append(unbounced, i)
		}
		if s.State == Pending && !s.Warned && q.opt.DelayWarning > 0 && now.Sub(m.Env.Arrival) >= q.opt.DelayWarning {
			unwarned = append(unwarned, i)
		}
	}
	var hops []hopShare
	if len(results) > 0 {
		hops = m.shares()
	}
	m.mu.Unlock()
	if len(results) > 0 {
		q.tally.set(m, hops)
	}
	pending := len(m.Pending()) > 0
	// The outcome must be on disk before anything acts on it, unless the
	// message is finished and nothing is left to remember.
	if pending || len(unbounced) > 0 {
		if err := q.appendState(m, lines); err != nil {
			q.ev.Emit(events.SpoolWriteFailed, "error", fmt.Sprintf("state of %s: %v", m.Env.ID, err))
			q.retryLater(m, now)
			return
		}
	}
	if len(unbounced) > 0 {
		if err := q.bouncer(m, unbounced); err != nil {
			q.ev.Emit(events.SpoolWriteFailed, "error", fmt.Sprintf("bounce for %s: %v", m.Env.ID, err))
			q.retryLater(m, now)
			return
		}
		q.mark(m, unbounced, "b", pending)
	}
	if len(succeeded) > 0 && q.succeeder != nil {
		// Best effort, like Postfix's success notices: a failure to
		// queue one is logged and not retried.
		if err := q.succeeder(m, succeeded); err != nil {
			q.ev.Emit(events.SpoolWriteFailed, "error", fmt.Sprintf("success notice for %s: %v", m.Env.ID, err))
		}
	}
	if len(unwarned) > 0 && q.delayer != nil {
		// RFC 3464 "delayed" notice, once per recipient (issue: default
		// after 4 hours). A failure to queue it is retried next attempt.
		if err := q.delayer(m, unwarned); err == nil {
			q.mark(m, unwarned, "w", true)
		}
	}
	if pending {
		q.retryLater(m, now)
		return
	}
	q.finish(m)
}

// mark records that a notice ("b" bounce, "w" delay warning) was queued
// for recipients idx; on disk only while the message stays queued.
func (q *Queue) mark(m *Message, idx []int, kind string, persist bool) {
	var bl []string
	m.mu.Lock()
	for _, i := range idx {
		if kind == "b" {
			m.Status[i].Bounced = true
		} else {
			m.Status[i].Warned = true
		}
		bl = append(bl, fmt.Sprintf("%s %d\n", kind, i))
	}
	m.mu.Unlock()
	if persist {
		if err := q.appendState(m, bl); err != nil {
			q.ev.Emit(events.SpoolWriteFailed, "error", fmt.Sprintf("state of %s: %v", m.Env.ID, err))
		}
	}
}

// finish removes a message whose recipients are all final. Removing needs
// no fsync: if a crash undoes it, the message is loaded as Recovered and
// its recipients are found already delivered (see deliver's Maildir
// names). The message goes first: a state file left alone is removed at
// start.
func (q *Queue) finish(m *Message) {
	q.mu.Lock()
	delete(q.live, m.Env.ID)
	q.bytes -= m.size
	if m.frozen {
		m.frozen = false
		q.frozenN--
	}
	q.tally.drop(m)
	q.mu.Unlock()
	q.dropCache(m)
	q.spares.put(m.path, nil)
	if m.hasState {
		os.Remove(m.path + ".state")
	}
}

// appendState records outcomes; the first time it creates the state
// file, the directory entry is made durable too.
func (q *Queue) appendState(m *Message, lines []string) error {
	path := m.path + ".state"
	if err := appendState(path, lines); err != nil {
		return err
	}
	if !m.hasState {
		m.hasState = true
		return q.syncer.Sync()
	}
	return nil
}

// dropCache releases a message's in-memory content: it is read from the
// file from now on.
func (q *Queue) dropCache(m *Message) {
	if m.cached != nil {
		q.cached.Add(-int64(len(m.cached)) - m.bodyOffset)
		m.cached = nil
	}
}

// retryLater schedules the next attempt per the retry schedule.
func (q *Queue) retryLater(m *Message, now time.Time) {
	q.dropCache(m)
	sched := q.opt.RetrySchedule
	i := m.attempt - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sched) {
		i = len(sched) - 1
	}
	q.mu.Lock()
	m.next = now.Add(sched[i])
	heap.Push(&q.retries, retryItem{at: m.next, m: m})
	q.tally.wait(m, m.next)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// NextRetry reports when a deferred message is next tried (zero if none).
func (q *Queue) NextRetry(id string) time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, it := range q.retries {
		if it.m.Env.ID == id {
			return it.at
		}
	}
	return time.Time{}
}

func (q *Queue) retryLoop(ctx context.Context) {
	defer q.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		q.mu.Lock()
		now := q.now()
		for len(q.retries) > 0 && !q.retries[0].at.After(now) {
			it := heap.Pop(&q.retries).(retryItem)
			it.m.next = time.Time{}
			q.tally.unwait(it.m)
			q.ready = append(q.ready, it.m)
			q.cond.Signal()
		}
		wait := time.Hour
		if len(q.retries) > 0 {
			wait = q.retries[0].at.Sub(now)
		}
		q.mu.Unlock()
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		case <-t.C:
		}
	}
}
