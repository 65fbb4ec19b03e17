package queue

import (
	"container/heap"
	"sync"
	"time"
)

// tally keeps the per-delivery-queue sums of the live messages up to date
// as messages are scheduled, attempted, deferred and finished, so that the
// viewer's summary costs a few operations per delivery queue, not per
// message. Summing 100,000 messages on demand takes tens of milliseconds
// of CPU, and on a busy two-core server, behind dozens of delivery
// workers, "queue list" then took seconds to answer.
//
// Every message records what it contributes (Message.share); a change
// replaces its whole contribution. The earliest next attempt and the
// latest error of a queue are kept in heaps whose outdated entries are
// dropped when they come to the top (an entry is outdated when the
// message's contribution changed since it was pushed), and the heaps are
// rebuilt when outdated entries make up most of them.
//
// tally.mu is the innermost lock: it is taken under Queue.mu and never
// while holding a Message's mu.
type tally struct {
	mu   sync.Mutex
	hops map[string]*hopTally
}

// hopTally is one delivery queue's running sums.
type hopTally struct {
	messages   int   // messages with a recipient pending here
	recipients int   // those recipients
	waiting    int   // of the messages, those waiting for their next retry
	bytes      int64 // the messages' sizes
	waits      waitHeap
	errs       errHeap
	arrivals   arrivalHeap // the messages' arrivals: the oldest on top
}

// share is what one message contributes to the tally (under tally.mu).
type share struct {
	hops    []hopShare
	errGen  uint64 // bumped when hops change: older errs entries are outdated
	waitGen uint64 // bumped when the next attempt changes: older waits entries are outdated
	waiting bool
}

// hopShare is one message's part in one delivery queue.
type hopShare struct {
	hop        string
	recipients int
	errs       []errMark // its pending recipients' errors
}

type errMark struct {
	at   time.Time
	text string
}

// shares reads what m contributes from its Status; the caller holds m.mu
// or has m to itself.
func (m *Message) shares() []hopShare {
	var out []hopShare
	for _, st := range m.Status {
		if st.State != Pending {
			continue
		}
		i := 0
		for i < len(out) && out[i].hop != st.Hop {
			i++
		}
		if i == len(out) {
			out = append(out, hopShare{hop: st.Hop})
		}
		out[i].recipients++
		if !st.Reply.IsZero() {
			out[i].errs = append(out[i].errs, errMark{st.Last, st.Reply.String()})
		}
	}
	return out
}

func newTally() *tally { return &tally{hops: map[string]*hopTally{}} }

func (t *tally) hop(name string) *hopTally {
	h := t.hops[name]
	if h == nil {
		h = &hopTally{}
		t.hops[name] = h
	}
	return h
}

// set replaces m's contribution with hops (from m.shares). A message whose
// recipients change is not waiting for a retry.
func (t *tally) set(m *Message, hops []hopShare) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.unwaitLocked(m)
	t.removeLocked(m)
	m.share.hops = hops
	m.share.errGen++
	for _, s := range hops {
		h := t.hop(s.hop)
		h.messages++
		h.recipients += s.recipients
		h.bytes += m.size
		heap.Push(&h.arrivals, arrivalEntry{at: m.Env.Arrival, m: m, gen: m.share.errGen})
		if len(h.arrivals) > 2*h.messages+32 {
			h.arrivals.compact()
		}
		for _, e := range s.errs {
			heap.Push(&h.errs, errEntry{errMark: e, m: m, gen: m.share.errGen})
		}
		if len(h.errs) > 2*h.recipients+32 {
			h.errs.compact()
		}
	}
}

// drop removes a finished message's contribution.
func (t *tally) drop(m *Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.unwaitLocked(m)
	t.removeLocked(m)
	m.share.hops = nil
	m.share.errGen++
}

func (t *tally) removeLocked(m *Message) {
	for _, s := range m.share.hops {
		h := t.hops[s.hop]
		h.messages--
		h.recipients -= s.recipients
		h.bytes -= m.size
		if h.messages == 0 {
			delete(t.hops, s.hop) // its heaps hold only outdated entries now
		}
	}
}

// wait records m's next attempt (it is in the retry heap until then).
func (t *tally) wait(m *Message, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.unwaitLocked(m)
	m.share.waiting = true
	for _, s := range m.share.hops {
		h := t.hop(s.hop)
		h.waiting++
		heap.Push(&h.waits, waitEntry{at: at, m: m, gen: m.share.waitGen})
		if len(h.waits) > 2*h.waiting+32 {
			h.waits.compact()
		}
	}
}

// unwait: m left the retry heap (due, retried now, or deleted).
func (t *tally) unwait(m *Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.unwaitLocked(m)
}

func (t *tally) unwaitLocked(m *Message) {
	m.share.waitGen++
	if !m.share.waiting {
		return
	}
	m.share.waiting = false
	for _, s := range m.share.hops {
		t.hops[s.hop].waiting--
	}
}

// summary renders the sums; now decides RetryLater.
func (t *tally) summary(now time.Time) []HopSummary {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]HopSummary, 0, len(t.hops))
	for name, h := range t.hops {
		s := HopSummary{Hop: name, Messages: h.messages, Recipients: h.recipients, Bytes: h.bytes}
		if a, ok := h.arrivals.top(); ok {
			s.Oldest = a.at
		}
		if w, ok := h.waits.top(); ok {
			s.NextRetry = w.at
			// The earliest may be due this instant (the retry timer
			// takes it at once); another waiting one is later.
			s.RetryLater = w.at.After(now) || h.waiting > 1
		}
		if e, ok := h.errs.top(); ok {
			s.LastError, s.LastErrorAt = e.text, e.at
		}
		out = append(out, s)
	}
	return out
}

// waitEntry is a message's next attempt in one delivery queue.
type waitEntry struct {
	at  time.Time
	m   *Message
	gen uint64
}

func (e waitEntry) current() bool           { return e.m.share.waiting && e.gen == e.m.share.waitGen }
func (e waitEntry) before(o waitEntry) bool { return e.at.Before(o.at) } // the earliest on top

// errEntry is a pending recipient's last error in one delivery queue.
type errEntry struct {
	errMark
	m   *Message
	gen uint64
}

func (e errEntry) current() bool          { return e.gen == e.m.share.errGen }
func (e errEntry) before(o errEntry) bool { return e.at.After(o.at) } // the latest on top

// arrivalEntry is a message's arrival in one delivery queue; it is
// outdated once the message's contribution changed (errGen), since set
// pushes a new one for every queue it is still in.
type arrivalEntry struct {
	at  time.Time
	m   *Message
	gen uint64
}

func (e arrivalEntry) current() bool              { return e.gen == e.m.share.errGen }
func (e arrivalEntry) before(o arrivalEntry) bool { return e.at.Before(o.at) } // the oldest on top

// lazyEntry is an entry of a lazyHeap: ordered by before, and outdated
// (no longer current) once what it records changed.
type lazyEntry[E any] interface {
	current() bool
	before(E) bool
}

// lazyHeap is a heap whose outdated entries are dropped lazily: when
// they reach the top, or all at once by compact when they pile up.
type lazyHeap[E lazyEntry[E]] []E

type (
	waitHeap    = lazyHeap[waitEntry]
	errHeap     = lazyHeap[errEntry]
	arrivalHeap = lazyHeap[arrivalEntry]
)

func (h lazyHeap[E]) Len() int           { return len(h) }
func (h lazyHeap[E]) Less(i, j int) bool { return h[i].before(h[j]) }
func (h lazyHeap[E]) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *lazyHeap[E]) Push(x any)        { *h = append(*h, x.(E)) }
func (h *lazyHeap[E]) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// top drops outdated entries and returns the first current one.
func (h *lazyHeap[E]) top() (E, bool) {
	for len(*h) > 0 {
		if e := (*h)[0]; e.current() {
			return e, true
		}
		heap.Pop(h)
	}
	var zero E
	return zero, false
}

// compact drops every outdated entry.
func (h *lazyHeap[E]) compact() {
	keep := (*h)[:0]
	for _, e := range *h {
		if e.current() {
			keep = append(keep, e)
		}
	}
	clear((*h)[len(keep):]) // let the dropped messages be collected
	*h = keep
	heap.Init(h)
}
