package queue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"mailward/events"
)

// Loading the spool at start.
//
// A big backlog must not keep the server from answering: reading 100,000
// envelopes and state files takes seconds to minutes, while the virtual
// servers must accept mail and the admin socket must answer at once. So
// Start only clears tmp/ and then loads active/ in the background
// (loadSpool), scheduling each message as it is read. New mail is
// committed and scheduled meanwhile, as always.
//
// Nothing may be scheduled twice: a message committed during the load
// lands in active/ and may appear in the loader's listing, while Commit
// has already scheduled it. Create notes every ID it hands out while the
// load runs (noteNew), before the file can reach active/, and the loader
// drops the noted IDs from its listing. An ID the listing holds was renamed
// into active/ before the listing read it, so it was noted before the
// loader looks: no message slips through between the two.

// loadProgress is the loader's state for the viewer. loaded and total
// are under q.mu with loadSkip.
type loadProgress struct {
	running bool
	listed  bool // total is known
	loaded  int  // messages loaded and scheduled so far
	total   int  // messages queued before the start
}

// startLoad marks the load as under way. Open calls it, so that every ID
// handed out before the loader has listed active/ is noted, even one
// committed before Start.
func (q *Queue) startLoad() {
	q.load = loadProgress{running: true}
	q.loadSkip = map[string]struct{}{}
	q.noting.Store(true)
}

// noteNew records an ID handed out while the spool is loading.
func (q *Queue) noteNew(id string) {
	if !q.noting.Load() {
		return // loaded: no lock on the hot path
	}
	q.mu.Lock()
	if q.loadSkip != nil {
		q.loadSkip[id] = struct{}{}
	}
	q.mu.Unlock()
}

// Loaded is closed once the spool found at start is loaded and scheduled
// (or the load was stopped).
func (q *Queue) Loaded() <-chan struct{} { return q.loadDone }

// clearTmp removes unacknowledged temporary files. It runs before any
// virtual server accepts mail: a file created for a new message must not
// be taken for a leftover.
func (q *Queue) clearTmp() {
	tmps, _ := os.ReadDir(q.tmp)
	for _, t := range tmps {
		// Never answered 250: the client will send it again. Deleted,
		// not recycled: after a crash it may share its inode with a
		// committed file in active/.
		os.Remove(filepath.Join(q.tmp, t.Name()))
	}
}

// loadSpool schedules every committed message found at start, oldest
// first, flagged Recovered so local delivery can avoid making a second
// copy of what it delivered before a crash.
func (q *Queue) loadSpool(ctx context.Context) {
	defer q.wg.Done()
	defer close(q.loadDone)
	defer func() {
		q.mu.Lock()
		q.load.running = false
		q.loadSkip = nil
		q.mu.Unlock()
		q.noting.Store(false)
	}()
	began := time.Now()
	loadHold(-1)
	ids, states, err := q.listActive()
	if err != nil {
		q.ev.Emit(events.SpoolListFailed, "error", err)
		return
	}
	q.removeOrphanStates(ids, states)
	sort.Strings(ids) // IDs sort by arrival
	q.mu.Lock()
	keep := ids[:0]
	for _, id := range ids {
		if _, isNew := q.loadSkip[id]; !isNew {
			keep = append(keep, id)
		}
	}
	ids = keep
	q.load.listed, q.load.total = true, len(ids)
	q.mu.Unlock()
	if len(ids) > 0 {
		q.ev.Emit(events.SpoolLoading, "count", len(ids))
	}
	n := 0
	for i, id := range ids {
		if ctx.Err() != nil {
			return // stopping: the rest stays on disk for the next start
		}
		loadHold(i)
		m, err := q.readMessage(id)
		switch {
		case errors.Is(err, errEmpty):
			// A finished message whose truncation reached the disk
			// before its move into spare/ (see spares): nothing to keep.
			os.Remove(filepath.Join(q.active, id))
			os.Remove(filepath.Join(q.active, id+".state"))
		case err != nil:
			moved := filepath.Join(q.corrupt, id)
			os.Rename(filepath.Join(q.active, id), moved)
			os.Rename(filepath.Join(q.active, id+".state"), moved+".state")
			q.ev.Emit(events.SpoolCorrupt, "file", id, "moved", moved, "error", err)
		default:
			m.Recovered = true
			q.schedule(m)
			n++
		}
		q.mu.Lock()
		q.load.loaded++
		q.mu.Unlock()
	}
	q.ev.Emit(events.SpoolRecovered, "count", n, "seconds", time.Since(began).Round(time.Millisecond).Seconds())
}

// listActive lists active/ once: the committed messages and the state
// files.
func (q *Queue) listActive() (ids, states []string, err error) {
	ents, err := os.ReadDir(q.active)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		if id, ok := strings.CutSuffix(e.Name(), ".state"); ok {
			states = append(states, id)
		} else if !strings.Contains(e.Name(), ".") {
			ids = append(ids, e.Name())
		}
	}
	return ids, states, nil
}

// removeOrphanStates deletes state files whose message is gone (a crash
// between the two unlinks at the end of delivery). New mail is committed
// while this runs, and a listing is not atomic: a new message's state
// file may be listed without its queue file, so each candidate is checked
// once more. A state file exists only after its message was committed,
// and its message goes first when finished (see finish): if the message
// is not there now, the state file is of no use to anyone.
func (q *Queue) removeOrphanStates(ids, states []string) {
	have := make(map[string]bool, len(ids))
	for _, id := range ids {
		have[id] = true
	}
	for _, id := range states {
		if have[id] {
			continue
		}
		if _, err := os.Lstat(filepath.Join(q.active, id)); errors.Is(err, os.ErrNotExist) {
			os.Remove(filepath.Join(q.active, id+".state"))
		}
	}
}
