package admin

import (
	"sort"
	"time"

	"mailward/deliver"
	"mailward/queue"
)

// building is a queue being summed up from the messages.
type building struct {
	q         Queue
	msgs      []Message
	future    bool      // a message waits for a retry in the future
	lastRcpt  time.Time // the latest attempt of a pending recipient
	lastError string    // and its error
}

// snapshot returns the delivery queues (only the one named only, when
// only is not empty) and, with only, that queue's messages.
func (s *Server) snapshot(only string) ([]Queue, []Message) {
	views := s.q.Messages()
	var known []deliver.HopState
	if only == "" {
		known = s.hops.All()
	} else {
		known = []deliver.HopState{s.hops.Get(only)}
	}
	return summarize(views, known, s.now(), only)
}

// summarize groups the pending recipients of views by next hop. A hop
// without pending recipients is listed while it is suspended or failing.
func summarize(views []queue.View, known []deliver.HopState, now time.Time, only string) ([]Queue, []Message) {
	bs := map[string]*building{}
	get := func(name string) *building {
		b, ok := bs[name]
		if !ok {
			b = &building{q: Queue{Name: name}}
			bs[name] = b
		}
		return b
	}
	for _, v := range views {
		per := map[string][]Recipient{}
		var order []string
		for _, r := range v.Recipients {
			if r.State != queue.Pending.String() {
				continue
			}
			name := r.Hop
			if name == "" {
				name = SubmissionQueue
			}
			if only != "" && name != only {
				continue
			}
			if _, ok := per[name]; !ok {
				order = append(order, name)
			}
			per[name] = append(per[name], Recipient{Address: r.Addr, State: r.State, Status: r.Status,
				LastError: r.LastError, RemoteMTA: r.RemoteMTA, Attempts: r.Attempts, LastAttempt: r.Last})
			b := get(name)
			if r.LastError != "" && !r.Last.Before(b.lastRcpt) {
				b.lastRcpt, b.lastError = r.Last, r.LastError
			}
		}
		for _, name := range order {
			b := get(name)
			b.q.Messages++
			b.q.Recipients += len(per[name])
			if !v.NextRetry.IsZero() {
				if b.q.NextRetry.IsZero() || v.NextRetry.Before(b.q.NextRetry) {
					b.q.NextRetry = v.NextRetry
				}
				if v.NextRetry.After(now) {
					b.future = true
				}
			}
			if only != "" {
				b.msgs = append(b.msgs, Message{ID: v.ID, From: v.From, Arrival: v.Arrival, NextRetry: v.NextRetry,
					InFlight: v.InFlight, Recipients: per[name]})
			}
		}
	}
	hops := map[string]deliver.HopState{}
	for _, h := range known {
		hops[h.Name] = h
		if (h.Suspended || h.Failing) && (only == "" || h.Name == only) {
			get(h.Name)
		}
	}
	out := make([]Queue, 0, len(bs))
	for name, b := range bs {
		h := hops[name]
		switch {
		case h.Suspended:
			b.q.State = StateSuspended
		case h.Failing || b.future:
			b.q.State = StateRetry
		default:
			b.q.State = StateReady
		}
		if h.Failing && h.LastError != "" {
			b.q.LastError = h.LastError
		} else {
			b.q.LastError = b.lastError
		}
		b.q.LastAttempt = h.LastAttempt
		if b.lastRcpt.After(b.q.LastAttempt) {
			b.q.LastAttempt = b.lastRcpt
		}
		out = append(out, b.q)
	}
	sort.Slice(out, func(i, j int) bool { return queueLess(out[i].Name, out[j].Name) })
	var msgs []Message
	if b, ok := bs[only]; ok && only != "" {
		msgs = b.msgs
		if msgs == nil {
			msgs = []Message{}
		}
	}
	return out, msgs
}

// queueLess orders queues as a viewer shows them: submission, local
// mailboxes, then the remote next hops by name.
func queueLess(a, b string) bool {
	rank := func(n string) int {
		switch n {
		case SubmissionQueue:
			return 0
		case deliver.LocalHop:
			return 1
		}
		return 2
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return ra < rb
	}
	return a < b
}
