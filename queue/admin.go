package queue

import (
	"container/heap"
	"errors"
	"fmt"
	"sort"
	"time"

	"mailward/reply"
)

// View is a queued message as the queue viewer shows it.
type View struct {
	ID        string    `json:"id"`
	Arrival   time.Time `json:"arrival"`
	From      string    `json:"from"`
	NextRetry time.Time `json:"next_retry,omitzero"`
	InFlight  bool      `json:"in_flight"`
	// Frozen: an administrator holds it; it is not attempted until
	// unfrozen (freeze.go).
	Frozen bool  `json:"frozen,omitempty"`
	Size   int64 `json:"size"`
	// Subject is the message's Subject header, decoded; only find
	// (find.go) reads it.
	Subject    string     `json:"subject,omitempty"`
	Recipients []RcptView `json:"recipients"`
}

// RcptView is one recipient in a View.
type RcptView struct {
	Addr      string    `json:"address"`
	State     string    `json:"state"`
	Hop       string    `json:"queue,omitempty"`
	Status    string    `json:"status,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	RemoteMTA string    `json:"remote_mta,omitempty"`
	Attempts  int       `json:"attempts"`
	Last      time.Time `json:"last_attempt,omitzero"`
	// Replica is the shared folder a replica recipient replicates
	// (mailward folder status counts the backlog by it).
	Replica string `json:"replica,omitempty"`
}

// Messages returns every message the running queue holds, oldest first.
func (q *Queue) Messages() []View {
	es := q.entries()
	out := make([]View, 0, len(es))
	for _, e := range es {
		v := e.m.view()
		v.NextRetry, v.InFlight, v.Frozen = e.next, e.inflight, e.frozen
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// view renders a message for the viewer (without scheduling facts).
func (m *Message) view() View {
	v := View{ID: m.Env.ID, Arrival: m.Env.Arrival, From: m.Env.From, Size: m.size}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, r := range m.Env.Recipients {
		s := m.Status[i]
		v.Recipients = append(v.Recipients, RcptView{Addr: r.Addr, State: s.State.String(), Hop: s.Hop,
			Status: viewStatus(s.Reply), LastError: s.Reply.String(), RemoteMTA: s.RemoteMTA, Attempts: s.Attempts, Last: s.Last,
			Replica: r.Replica})
	}
	return v
}

// Retry makes the given deferred messages ready now (all deferred ones
// when ids is empty) and returns how many it moved.
func (q *Queue) Retry(ids ...string) int {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	q.mu.Lock()
	var keep retryHeap
	n := 0
	for _, it := range q.retries {
		if len(ids) == 0 || want[it.m.Env.ID] {
			it.m.next = time.Time{}
			q.tally.unwait(it.m)
			q.ready = append(q.ready, it.m)
			n++
		} else {
			keep = append(keep, it)
		}
	}
	heap.Init(&keep)
	q.retries = keep
	q.mu.Unlock()
	q.cond.Broadcast()
	return n
}

// ErrInFlight: the message is being delivered right now.
var ErrInFlight = errors.New("queue: message is being delivered right now; try again in a moment")

// ErrNotFound: no such message in the queue.
var ErrNotFound = errors.New("queue: no such message")

// Delete removes a message from the queue. With ndr its pending
// recipients fail (5.0.0, deleted by the administrator) and the sender
// gets a non-delivery report; without, it vanishes silently.
func (q *Queue) Delete(id string, ndr bool) error {
	q.mu.Lock()
	m, ok := q.live[id]
	if !ok {
		q.mu.Unlock()
		return ErrNotFound
	}
	if m.inflight {
		q.mu.Unlock()
		return ErrInFlight
	}
	// Take it out of the ready list and the retry heap, so no worker
	// picks it up while we remove it.
	q.unscheduleLocked(m)
	m.inflight = true
	q.inflightN++
	q.mu.Unlock()
	if ndr {
		now := q.now()
		var failed []int
		var lines []string
		m.mu.Lock()
		for i, s := range m.Status {
			if s.State == Pending {
				r := Result{Index: i, State: Failed, Hop: s.Hop,
					Reply: reply.FromStatus("5.0.0", "deleted from the queue by the administrator; last error: "+s.Reply.String())}
				m.Status[i].State, m.Status[i].Reply, m.Status[i].Last = r.State, r.Reply, now
				lines = append(lines, resultLine(r, now))
				failed = append(failed, i)
			}
		}
		hops := m.shares()
		m.mu.Unlock()
		q.tally.set(m, hops)
		if len(failed) > 0 {
			if err := q.appendState(m, lines); err != nil {
				return q.undelete(m, fmt.Errorf("queue: delete %s: %w", id, err))
			}
			if err := q.bouncer(m, failed); err != nil {
				return q.undelete(m, fmt.Errorf("queue: delete %s: NDR: %w", id, err))
			}
		}
	}
	q.finish(m)
	q.mu.Lock()
	m.inflight = false
	q.inflightN--
	q.mu.Unlock()
	return nil
}

// undelete puts a message whose deletion failed back in the retry heap.
func (q *Queue) undelete(m *Message, err error) error {
	q.mu.Lock()
	m.inflight = false
	q.inflightN--
	q.mu.Unlock()
	q.retryLater(m, q.now())
	return err
}

// viewStatus is the enhanced status the viewer shows: none before the
// first attempt, the class's own when the next hop gave none.
func viewStatus(r reply.Reply) string {
	if r.IsZero() {
		return ""
	}
	return r.EnhancedStatus()
}

// unscheduleLocked takes m out of the ready list and the retry heap
// (q.mu held), so that no worker picks it up; it reports whether m was
// waiting for a retry.
func (q *Queue) unscheduleLocked(m *Message) (waiting bool) {
	for i, r := range q.ready {
		if r == m {
			q.ready = append(q.ready[:i], q.ready[i+1:]...)
			break
		}
	}
	for i, it := range q.retries {
		if it.m == m {
			heap.Remove(&q.retries, i)
			m.next = time.Time{}
			q.tally.unwait(m)
			return true
		}
	}
	return false
}
