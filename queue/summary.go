package queue

import (
	"mailward/internal/durable"

	"sort"
	"time"
)

// The queue viewer's questions. With 100,000 messages queued, "queue
// list" must answer in well under a second, on a server busy delivering:
// Summary reads the running tally (tally.go), and a queue's page renders
// a View of the page's messages only.

// HopSummary sums up the pending recipients of one delivery queue: those
// whose last attempt went through the same next hop.
type HopSummary struct {
	Hop        string // "" for recipients not attempted yet (no next hop)
	Messages   int    // messages with at least one pending recipient here
	Recipients int    // those pending recipients
	// NextRetry is the earliest next attempt of those messages;
	// RetryLater says one of them waits for an attempt after now.
	NextRetry  time.Time
	RetryLater bool
	// LastError is the latest error of a pending recipient here, from
	// its attempt at LastErrorAt.
	LastError   string
	LastErrorAt time.Time
	// Bytes sums the sizes of those messages; Oldest is the earliest
	// arrival among them.
	Bytes  int64
	Oldest time.Time
}

// LoadState is how far the load of the spool found at start has come.
type LoadState struct {
	Loading bool
	Listed  bool // Total is known (active/ has been listed)
	Loaded  int  // messages loaded and scheduled so far
	Total   int  // messages found at start (valid when Listed)
}

// Summary is the whole queue at a glance.
type Summary struct {
	// Messages counts the messages the running queue holds: while the
	// spool loads, those loaded so far and those committed since.
	Messages int
	Ready    int          // waiting for a worker
	InFlight int          // being delivered (or deleted) right now
	Waiting  int          // waiting for their next retry
	Frozen   int          // held by an administrator until unfrozen
	Bytes    int64        // the sizes of all the messages
	Hops     []HopSummary // by Hop
	Load     LoadState
}

// entry is one live message with its scheduling facts, copied under mu.
type entry struct {
	m        *Message
	next     time.Time
	inflight bool
	frozen   bool
}

// entries snapshots the live messages.
func (q *Queue) entries() []entry {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]entry, 0, len(q.live))
	for _, m := range q.live {
		out = append(out, entry{m, m.next, m.inflight, m.frozen})
	}
	return out
}

// LoadState reports the progress of the load of the spool.
func (q *Queue) LoadState() LoadState {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.loadState()
}

func (q *Queue) loadState() LoadState {
	l := q.load
	return LoadState{Loading: l.running, Listed: l.listed, Loaded: l.loaded, Total: l.total}
}

// Summary sums the queue up per delivery queue (from the running tally:
// its cost does not grow with the number of messages); now decides
// RetryLater.
func (q *Queue) Summary(now time.Time) Summary {
	q.mu.Lock()
	s := Summary{Messages: len(q.live), Ready: len(q.ready), Waiting: len(q.retries), InFlight: q.inflightN,
		Frozen: q.frozenN, Bytes: q.bytes, Load: q.loadState()}
	q.mu.Unlock()
	s.Hops = q.tally.summary(now)
	sort.Slice(s.Hops, func(i, j int) bool { return s.Hops[i].Hop < s.Hops[j].Hop })
	return s
}

// pendingIn reports whether m has a recipient pending in hop.
func (m *Message) pendingIn(hop string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, st := range m.Status {
		if st.State == Pending && st.Hop == hop {
			return true
		}
	}
	return false
}

// HopMessages returns, oldest first, at most limit of the messages with a
// recipient pending in hop whose ID sorts after after (paging: pass the
// last ID of one page to get the next), and how many such messages there
// are in all. limit <= 0 means no limit.
func (q *Queue) HopMessages(hop, after string, limit int) (page []View, total int) {
	var match []*Message
	for _, m := range q.liveMessages() {
		if !m.pendingIn(hop) {
			continue
		}
		total++
		if m.Env.ID > after {
			match = append(match, m)
		}
	}
	page, _ = q.page(match, limit)
	return page, total
}

// page sorts match oldest first and renders at most limit (<= 0: no
// limit) of them with their scheduling facts; it returns the messages
// of the page too.
func (q *Queue) page(match []*Message, limit int) ([]View, []*Message) {
	sort.Slice(match, func(i, j int) bool { return match[i].Env.ID < match[j].Env.ID })
	if limit > 0 && len(match) > limit {
		match = match[:limit]
	}
	page := make([]View, len(match))
	for i, m := range match {
		page[i] = m.view()
	}
	// The scheduling facts of the page only: Queue.mu is held briefly.
	q.mu.Lock()
	for i, m := range match {
		page[i].NextRetry, page[i].InFlight, page[i].Frozen = m.next, m.inflight, m.frozen
	}
	q.mu.Unlock()
	return page, match
}

// HopIDs returns the IDs of the messages with a recipient pending in hop.
func (q *Queue) HopIDs(hop string) []string {
	var ids []string
	for _, m := range q.liveMessages() {
		if m.pendingIn(hop) {
			ids = append(ids, m.Env.ID)
		}
	}
	return ids
}

// liveMessages snapshots the live messages, holding Queue.mu no longer
// than a copy of their pointers takes: it is what every commit and every
// worker waits for.
func (q *Queue) liveMessages() []*Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]*Message, 0, len(q.live))
	for _, m := range q.live {
		out = append(out, m)
	}
	return out
}

// Message returns the view of one queued message.
func (q *Queue) Message(id string) (View, bool) {
	q.mu.Lock()
	m, ok := q.live[id]
	var next time.Time
	var inflight, frozen bool
	if ok {
		next, inflight, frozen = m.next, m.inflight, m.frozen
	}
	q.mu.Unlock()
	if !ok {
		return View{}, false
	}
	v := m.view()
	v.NextRetry, v.InFlight, v.Frozen = next, inflight, frozen
	return v, true
}

// SyncGroup is the group commit that makes the spool's renames durable
// (the metrics observe it).
func (q *Queue) SyncGroup() *durable.Group { return q.syncer }
