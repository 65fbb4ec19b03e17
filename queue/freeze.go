package queue

import (
	"fmt"
)

// Freeze holds a message (on) or releases it (off), like Postfix's
// "postsuper -h" and "-H": a frozen message is never attempted until it
// is unfrozen, and stays frozen across a restart, because the freeze is
// an "f 1" line in its state file (an unfreeze "f 0"; docs/queue.md),
// fsynced before Freeze returns. An unfrozen message is attempted at once.
// changed is false when it already was as asked. A message being
// delivered right now cannot be frozen (ErrInFlight: try again).
func (q *Queue) Freeze(id string, on bool) (changed bool, err error) {
	q.mu.Lock()
	m, ok := q.live[id]
	if !ok {
		q.mu.Unlock()
		return false, ErrNotFound
	}
	if m.inflight {
		q.mu.Unlock()
		return false, ErrInFlight
	}
	if m.frozen == on {
		q.mu.Unlock()
		return false, nil
	}
	wasWaiting := false
	if on {
		// Out of the ready list and the retry heap, so no worker
		// picks it up while the freeze is written and after.
		wasWaiting = q.unscheduleLocked(m)
	}
	// Held like a delivery while the state line is written: Delete and
	// another Freeze wait (ErrInFlight).
	m.inflight = true
	q.inflightN++
	q.mu.Unlock()

	line := "f 0\n"
	if on {
		line = "f 1\n"
	}
	err = q.appendState(m, []string{line})

	q.mu.Lock()
	m.inflight = false
	q.inflightN--
	if err == nil {
		m.frozen = on
		if on {
			q.frozenN++
		} else {
			q.frozenN--
			q.ready = append(q.ready, m)
		}
	}
	q.mu.Unlock()
	switch {
	case err != nil && on && wasWaiting:
		q.retryLater(m, q.now()) // not frozen: back on its schedule
	case err != nil && on:
		q.mu.Lock()
		q.ready = append(q.ready, m)
		q.mu.Unlock()
		q.cond.Signal()
	case err == nil && !on:
		q.cond.Signal()
	}
	if err != nil {
		return false, fmt.Errorf("queue: freeze %s: %w", id, err)
	}
	return true, nil
}
