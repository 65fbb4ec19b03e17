package events

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
)

// The rate limit. A client that is refused a thousand times would write a
// thousand events, and a flood could fill the disk the spool needs and
// push the events that matter out of the rotated files. So each key
// (event ID and client) may write limit events per window; the rest are
// counted, and one summary (event 1005) per key and window says how many
// were held back and quotes the last one.
//
// The key is chosen for what an administrator needs to tell apart:
//   - an event with a client (its ip field): ID and client, so one noisy
//     client does not hide another;
//   - an error: also its kind (causeOf), so that a disk that is full and a
//     disk that fails (ENOSPC, EIO), or a failed write and a failed state
//     update, each keep their own budget and each show up;
//   - anything else: the ID alone.
const (
	// rateWindow is the window of event_log.rate_limit ("a minute").
	rateWindow = time.Minute
	// sweepEvery: ended windows are looked for at most this often on Emit.
	sweepEvery = time.Second
	// keysPerID bounds the keys of one event ID in a window. A flood from
	// more clients than this (or errors of more kinds) shares one further
	// key per ID, so the map stays bounded and a distributed flood writes at
	// most (keysPerID+1)*limit events of an ID a minute.
	keysPerID = 100
	// maxCause bounds the length of an error's kind in a key.
	maxCause = 256
)

type limitKey struct {
	id    int
	ip    string
	cause string
	// other is the shared key of the sources beyond keysPerID.
	other bool
}

type bucket struct {
	start      time.Time
	n          int // events in the window, written or not
	suppressed int
	last       map[string]string // fields of the last suppressed event
}

// summary is one ended window that held events back.
type summary struct {
	key limitKey
	b   bucket
	end time.Time
}

type limiter struct {
	limit int

	mu      sync.Mutex
	buckets map[limitKey]*bucket
	perID   map[int]int // keys per ID, the shared one not counted
	swept   time.Time
	// timer writes the summaries of windows that end while no event
	// arrives (a flood that stops must not wait for the next event to be
	// reported); nil when no window with suppressed events is open.
	timer  *time.Timer
	wake   func()
	closed bool
}

func newLimiter(limit int, wake func()) *limiter {
	return &limiter{limit: limit, buckets: map[limitKey]*bucket{}, perID: map[int]int{}, wake: wake}
}

// allow counts an event and reports whether it may be written, with the
// summaries of windows that have ended, to be written first.
func (lm *limiter) allow(now time.Time, id int, sev Severity, fields map[string]string) (bool, []summary) {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	due := lm.sweepDue(now)
	k := limitKey{id: id, ip: fields["ip"]}
	if sev == Error {
		k.cause = causeOf(fields)
	}
	b := lm.get(k, now, &due)
	if b == nil && lm.perID[id] >= keysPerID {
		k = limitKey{id: id, other: true}
		b = lm.get(k, now, &due)
	}
	if b == nil {
		b = &bucket{start: now}
		lm.buckets[k] = b
		if !k.other {
			lm.perID[id]++
		}
	}
	b.n++
	if b.n <= lm.limit {
		return true, due
	}
	b.suppressed++
	b.last = fields
	if lm.timer == nil && !lm.closed {
		lm.timer = time.AfterFunc(wait(b.start.Add(rateWindow).Sub(now)), lm.wake)
	}
	return false, due
}

// poll returns the summaries of ended windows, for an event that is not
// rate limited itself.
func (lm *limiter) poll(now time.Time) []summary {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	return lm.sweepDue(now)
}

// sweepDue sweeps at most once per sweepEvery.
func (lm *limiter) sweepDue(now time.Time) []summary {
	if now.Sub(lm.swept) < sweepEvery && !now.Before(lm.swept) {
		return nil
	}
	lm.swept = now
	return lm.sweep(now, false)
}

// get returns k's bucket if its window is still open; an ended one is
// removed and its summary added to due.
func (lm *limiter) get(k limitKey, now time.Time, due *[]summary) *bucket {
	b := lm.buckets[k]
	if b != nil && now.Sub(b.start) >= rateWindow {
		lm.end(k, b, b.start.Add(rateWindow), due)
		b = nil
	}
	return b
}

func (lm *limiter) end(k limitKey, b *bucket, end time.Time, due *[]summary) {
	delete(lm.buckets, k)
	if !k.other {
		if lm.perID[k.id]--; lm.perID[k.id] <= 0 {
			delete(lm.perID, k.id)
		}
	}
	if b.suppressed > 0 {
		*due = append(*due, summary{key: k, b: *b, end: end})
	}
}

// sweep ends the windows that are over (all of them when all is set, at
// Close) and returns their summaries, oldest window first.
func (lm *limiter) sweep(now time.Time, all bool) []summary {
	var due []summary
	for k, b := range lm.buckets {
		if all || now.Sub(b.start) >= rateWindow {
			end := b.start.Add(rateWindow)
			if all && now.Before(end) {
				end = now
			}
			lm.end(k, b, end, &due)
		}
	}
	sort.Slice(due, func(i, j int) bool {
		a, b := due[i], due[j]
		if !a.b.start.Equal(b.b.start) {
			return a.b.start.Before(b.b.start)
		}
		if a.key.id != b.key.id {
			return a.key.id < b.key.id
		}
		if a.key.ip != b.key.ip {
			return a.key.ip < b.key.ip
		}
		return a.key.cause < b.key.cause
	})
	return due
}

// woken is the timer's sweep: the summaries that are due, and the timer
// set again while windows with suppressed events are still open.
func (lm *limiter) woken(now time.Time) []summary {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	lm.timer = nil
	if lm.closed {
		return nil
	}
	due := lm.sweep(now, false)
	lm.swept = now
	var next time.Time
	for _, b := range lm.buckets {
		if end := b.start.Add(rateWindow); b.suppressed > 0 && (next.IsZero() || end.Before(next)) {
			next = end
		}
	}
	if !next.IsZero() {
		lm.timer = time.AfterFunc(wait(next.Sub(now)), lm.wake)
	}
	return due
}

// close stops the timer and returns the summaries of every open window.
func (lm *limiter) close(now time.Time) []summary {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	lm.closed = true
	if lm.timer != nil {
		lm.timer.Stop()
		lm.timer = nil
	}
	return lm.sweep(now, true)
}

// wait is the timer's delay for a window ending in d: at least a second, so
// that a clock that disagrees with the timer cannot make it spin.
func wait(d time.Duration) time.Duration { return max(d, sweepEvery) + 10*time.Millisecond }

// causeOf is the kind of an error event: its fields other than the client,
// with each word that holds a digit (queue IDs, file names, sizes,
// addresses) replaced by "#". "write 0194F3A2B1C3D4E5F6: no space left on
// device" is one kind whatever the message; "fsync ...: input/output
// error" is another. Bounded in length; beyond keysPerID kinds, errors of
// an ID share one key.
func causeOf(fields map[string]string) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		if k != "ip" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		for i, w := range strings.Fields(fields[k]) {
			if i > 0 {
				b.WriteByte(' ')
			}
			if strings.ContainsFunc(w, unicode.IsDigit) {
				w = "#"
			}
			b.WriteString(w)
		}
		b.WriteByte(';')
		if b.Len() >= maxCause {
			break
		}
	}
	s := b.String()
	if len(s) > maxCause {
		s = s[:maxCause]
	}
	return s
}

// from says whose events a summary counts, for its text.
func (k limitKey) from() string {
	switch {
	case k.other:
		return fmt.Sprintf("from further clients or of further kinds (over %d at once)", keysPerID)
	case k.ip != "":
		return "from [" + k.ip + "]"
	case k.cause != "":
		return "of the same kind"
	}
	return "(any source)"
}

// limitScope describes an event's rate limit for docs/events.md.
func limitScope(d Def) string {
	switch {
	case !RateLimited(d.ID):
		return "none: every event is written"
	case strings.Contains(d.Text, "{ip}") && d.Severity == Error:
		return "per client address and kind of error"
	case strings.Contains(d.Text, "{ip}"):
		return "per client address"
	case d.Severity == Error:
		return "per kind of error"
	}
	return "per event ID"
}
