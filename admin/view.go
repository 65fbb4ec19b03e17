package admin

import (
	"sort"

	"mailward/deliver"
	"mailward/queue"
)

// The server sums the queue up (queue.Summary) and pages through one
// delivery queue (queue.HopMessages): neither a listing nor a page costs
// a view of every queued message, so "queue list" stays fast with a
// backlog of 100,000 messages.

// hopOf is the queue package's name for a delivery queue: recipients not
// attempted yet have no next hop.
func hopOf(name string) string {
	if name == SubmissionQueue {
		return ""
	}
	return name
}

// overview sums the queue up: every delivery queue, or only the one
// named only.
func (s *Server) overview(only string) Overview {
	sum := s.q.Summary(s.now())
	var known []deliver.HopState
	if only == "" {
		known = s.hops.All()
	} else {
		known = []deliver.HopState{s.hops.Get(only)}
	}
	o := Overview{Messages: sum.Messages, Ready: sum.Ready, InFlight: sum.InFlight, Waiting: sum.Waiting,
		Frozen: sum.Frozen, Bytes: sum.Bytes, Queues: summarize(sum.Hops, known, only), Loading: loading(sum.Load)}
	for _, h := range sum.Hops {
		if !h.Oldest.IsZero() && (o.Oldest.IsZero() || h.Oldest.Before(o.Oldest)) {
			o.Oldest = h.Oldest
		}
	}
	return o
}

// loading is nil once the spool found at start is loaded.
func loading(l queue.LoadState) *Loading {
	if !l.Loading {
		return nil
	}
	if !l.Listed {
		return &Loading{Loaded: l.Loaded, Total: -1}
	}
	return &Loading{Loaded: l.Loaded, Total: l.Total}
}

// summarize turns the queue's per-hop sums into delivery queues (only the
// one named only, when only is not empty). A hop without pending
// recipients is listed while it is suspended or failing.
func summarize(sums []queue.HopSummary, known []deliver.HopState, only string) []Queue {
	type building struct {
		q      Queue
		later  bool
		errAt  queue.HopSummary // the latest pending recipient's error
		hasErr bool
	}
	bs := map[string]*building{}
	get := func(name string) *building {
		b, ok := bs[name]
		if !ok {
			b = &building{q: Queue{Name: name}}
			bs[name] = b
		}
		return b
	}
	for _, h := range sums {
		name := h.Hop
		if name == "" {
			name = SubmissionQueue
		}
		if only != "" && name != only {
			continue
		}
		b := get(name)
		b.q.Messages += h.Messages
		b.q.Recipients += h.Recipients
		b.q.Bytes += h.Bytes
		if !h.Oldest.IsZero() && (b.q.Oldest.IsZero() || h.Oldest.Before(b.q.Oldest)) {
			b.q.Oldest = h.Oldest
		}
		if !h.NextRetry.IsZero() && (b.q.NextRetry.IsZero() || h.NextRetry.Before(b.q.NextRetry)) {
			b.q.NextRetry = h.NextRetry
		}
		b.later = b.later || h.RetryLater
		if h.LastError != "" && (!b.hasErr || !h.LastErrorAt.Before(b.errAt.LastErrorAt)) {
			b.errAt, b.hasErr = h, true
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
		case h.Failing || b.later:
			b.q.State = StateRetry
		default:
			b.q.State = StateReady
		}
		if h.Failing && h.LastError != "" {
			b.q.LastError = h.LastError
		} else {
			b.q.LastError = b.errAt.LastError
		}
		b.q.LastAttempt = h.LastAttempt
		if b.errAt.LastErrorAt.After(b.q.LastAttempt) {
			b.q.LastAttempt = b.errAt.LastErrorAt
		}
		out = append(out, b.q)
	}
	sort.Slice(out, func(i, j int) bool { return queueLess(out[i].Name, out[j].Name) })
	return out
}

// page returns up to limit messages of the named queue after the ID
// after, each with only its recipients pending in that queue, and the ID
// to continue from ("" on the last page).
func (s *Server) page(name, after string, limit int) ([]Message, string) {
	hop := hopOf(name)
	views, _ := s.q.HopMessages(hop, after, limit+1)
	next := ""
	if len(views) > limit {
		views = views[:limit]
		next = views[limit-1].ID
	}
	msgs := make([]Message, 0, len(views))
	for _, v := range views {
		m := Message{ID: v.ID, From: v.From, Arrival: v.Arrival, NextRetry: v.NextRetry, InFlight: v.InFlight,
			Frozen: v.Frozen, Size: v.Size}
		for _, r := range v.Recipients {
			if r.State != queue.Pending.String() || r.Hop != hop {
				continue
			}
			m.Recipients = append(m.Recipients, Recipient{Address: r.Addr, State: r.State, Status: r.Status,
				LastError: r.LastError, RemoteMTA: r.RemoteMTA, Attempts: r.Attempts, LastAttempt: r.Last})
		}
		if len(m.Recipients) == 0 {
			continue // delivered between the two looks
		}
		msgs = append(msgs, m)
	}
	return msgs, next
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
