// Package events writes mailward's numbered events.
//
// Every noteworthy thing the transport does has an ID from the catalogue
// (catalogue.go, documented in docs/events.md), as Exchange's
// MSExchangeTransport events do in the support articles (KB843106, KB979174, KB304897). Each category has a
// diagnostic logging level (none, minimum, medium, maximum); an event is
// written only when its own level is at or below its category's setting
// (KB843106: 7004 and 7010 appear only at medium or higher). Level-0 events
// (errors, start and stop) are written even at "none", as in Exchange.
package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// Level is a diagnostic logging level, with Exchange's numbering.
type Level int

const (
	None    Level = 0
	Minimum Level = 1
	Medium  Level = 3
	Maximum Level = 5
)

// ParseLevel maps a configuration word to a Level.
func ParseLevel(s string) (Level, error) {
	switch s {
	case "none":
		return None, nil
	case "minimum":
		return Minimum, nil
	case "medium":
		return Medium, nil
	case "maximum":
		return Maximum, nil
	}
	return 0, fmt.Errorf("events: unknown diagnostic level %q", s)
}

// Severity of an event, as in the Windows event log that KB843106 and KB979174 quote.
type Severity string

const (
	Information Severity = "information"
	Warning     Severity = "warning"
	Error       Severity = "error"
)

// Record is one written event, as stored one JSON object per line in the
// event log.
type Record struct {
	Time     time.Time         `json:"time"`
	ID       int               `json:"id"`
	Severity Severity          `json:"severity"`
	Category string            `json:"category"`
	Message  string            `json:"message"`
	Fields   map[string]string `json:"fields,omitempty"`
}

// Log writes events to a slog logger and to the event log file.
type Log struct {
	slog *slog.Logger
	// levels maps category to level; replaced whole by SetLevels (a
	// reload), never changed in place.
	levels atomic.Pointer[map[string]Level]

	file *logFile // nil: no event log file
	lim  *limiter // nil: no rate limit
	// count is told the ID of every event the levels let through
	// (SetCounter: the metrics' events by ID); nil: nobody.
	count atomic.Pointer[func(id int)]
	// now is replaceable in tests.
	now func() time.Time
}

// Options configure the event log file of OpenLog ([event_log] in the
// configuration; the defaults are there).
type Options struct {
	// MaxSize: the file is rotated before a write would take it past
	// this many bytes. 0: never by size.
	MaxSize int64
	// MaxAge: the file is rotated when its first record is this old.
	// 0: never by age.
	MaxAge time.Duration
	// Keep is the number of rotated files kept (path.1 to path.Keep); at
	// least 1.
	Keep int
	// RateLimit is the number of events written per key (event ID and
	// client, see limit.go) and minute. 0: no rate limit.
	RateLimit int
	// Reserve is the space kept allocated past the end of the file for
	// the errors of a full disk. 0: none.
	Reserve int64
}

// New returns an event log. levels maps category to level; a category not
// in the map logs at Minimum. file may be nil (no event log file); it is
// written as it is, without rotation, rate limit or reserve, and stays the
// caller's to close. The server uses OpenLog.
func New(logger *slog.Logger, levels map[string]Level, file *os.File) *Log {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &Log{slog: logger, now: time.Now}
	l.SetLevels(levels)
	if file != nil {
		l.file = &logFile{f: file}
		if st, err := file.Stat(); err == nil {
			l.file.size = st.Size()
		}
	}
	return l
}

// OpenLog returns an event log writing to the file path (created if
// missing, appended to), rotated, rate limited and with a reserve as opt
// says. Close it to write the pending rate-limit summaries.
func OpenLog(logger *slog.Logger, levels map[string]Level, path string, opt Options) (*Log, error) {
	l := New(logger, levels, nil)
	f, notes, err := openLogFile(path, opt, l.now().UTC())
	if err != nil {
		return nil, err
	}
	l.file = f
	if opt.RateLimit > 0 {
		l.lim = newLimiter(opt.RateLimit, l.wake)
	}
	for _, n := range notes {
		l.toSlog(n)
	}
	return l, nil
}

// Close writes the summaries of the rate limit's open windows and closes
// the file OpenLog opened. Events emitted after Close go to the server log
// only.
func (l *Log) Close() error {
	if l == nil {
		return nil
	}
	if l.lim != nil {
		l.summarize(l.lim.close(l.now()))
	}
	if l.file != nil {
		return l.file.close()
	}
	return nil
}

// Discard is an event log that writes nothing; for tests and tools.
func Discard() *Log { return New(nil, map[string]Level{}, nil) }

// Open opens (creating) a file for appending, for New.
func Open(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("events: open %s: %w", path, err)
	}
	return f, nil
}

// SetLevels replaces the diagnostic levels (a reload of the
// configuration); events already being written keep the old ones.
func (l *Log) SetLevels(levels map[string]Level) {
	m := make(map[string]Level, len(levels))
	for k, v := range levels {
		m[k] = v
	}
	l.levels.Store(&m)
}

// SetCounter makes every event the diagnostic levels let through call
// f with its ID (docs/metrics.md: mailward_events_total).
func (l *Log) SetCounter(f func(id int)) { l.count.Store(&f) }

// Enabled reports whether event id would be written at the current levels.
func (l *Log) Enabled(id int) bool {
	d, ok := Catalogue[id]
	if !ok {
		return true
	}
	lvl, ok := (*l.levels.Load())[d.Category]
	if !ok {
		lvl = Minimum
	}
	return d.Level <= lvl
}

// Emit writes event id with its fields (key, value pairs). Unknown IDs are
// still written, so a programming slip never hides an event.
func (l *Log) Emit(id int, kv ...any) {
	if l == nil || !l.Enabled(id) {
		return
	}
	if f := l.count.Load(); f != nil {
		(*f)(id) // before the rate limit: it counts what it keeps out of the file too
	}
	d := definition(id)
	now, fields := l.now(), fieldMap(kv)
	switch {
	case l.lim == nil:
	case RateLimited(id):
		ok, due := l.lim.allow(now, id, d.Severity, fields)
		l.summarize(due)
		if !ok {
			return
		}
	default:
		l.summarize(l.lim.poll(now))
	}
	l.write(record(d, now, fields), d)
}

func definition(id int) Def {
	if d, ok := Catalogue[id]; ok {
		return d
	}
	return Def{ID: id, Severity: Error, Category: "service", Text: "unknown event"}
}

func fieldMap(kv []any) map[string]string {
	fields := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		fields[fmt.Sprint(kv[i])] = fmt.Sprint(kv[i+1])
	}
	return fields
}

func record(d Def, now time.Time, fields map[string]string) Record {
	return Record{Time: now.UTC(), ID: d.ID, Severity: d.Severity, Category: d.Category,
		Message: d.Format(fields), Fields: fields}
}

func newRecord(d Def, now time.Time, kv []any) Record { return record(d, now, fieldMap(kv)) }

// write sends a record to the server log and the event log file.
func (l *Log) write(rec Record, d Def) {
	l.toSlog(rec)
	if l.file == nil {
		return
	}
	notes, err := l.file.write(rec, d.Severity == Error || d.Level == None)
	for _, n := range notes {
		l.toSlog(n)
	}
	if err != nil && !errors.Is(err, os.ErrClosed) {
		l.slog.Error("events: cannot write event log", "err", err, "event_id", rec.ID)
	}
}

// summarize writes the rate limit's summaries (event 1005).
func (l *Log) summarize(due []summary) {
	for _, s := range due {
		d := definition(s.key.id)
		kv := []any{"event", s.key.id, "from", s.key.from(), "count", s.b.suppressed,
			"window", s.end.Sub(s.b.start).Round(time.Second), "since", s.b.start.UTC().Format(time.RFC3339),
			"limit", l.lim.limit, "last", d.Format(s.b.last)}
		if s.key.ip != "" {
			kv = append(kv, "ip", s.key.ip)
		}
		l.write(newRecord(Catalogue[EventsSuppressed], l.now(), kv), Catalogue[EventsSuppressed])
	}
}

// wake is the rate limit's timer: summaries of windows that ended while
// no event came.
func (l *Log) wake() { l.summarize(l.lim.woken(l.now())) }

// toSlog writes a record to the server log.
func (l *Log) toSlog(rec Record) {
	attrs := make([]any, 0, 2+len(rec.Fields))
	attrs = append(attrs, slog.Int("event_id", rec.ID), slog.String("category", rec.Category))
	keys := make([]string, 0, len(rec.Fields))
	for k := range rec.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		attrs = append(attrs, slog.String(k, rec.Fields[k]))
	}
	lv := slog.LevelInfo
	switch rec.Severity {
	case Warning:
		lv = slog.LevelWarn
	case Error:
		lv = slog.LevelError
	}
	l.slog.Log(context.Background(), lv, rec.Message, attrs...)
}

// Format fills the definition's {field} placeholders; a missing field
// shows as "?".
func (d Def) Format(fields map[string]string) string {
	var b strings.Builder
	t := d.Text
	for {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			b.WriteString(t)
			break
		}
		j := strings.IndexByte(t[i:], '}')
		if j < 0 {
			b.WriteString(t)
			break
		}
		b.WriteString(t[:i])
		v, ok := fields[t[i+1:i+j]]
		if !ok {
			v = "?"
		}
		t = t[i+j+1:]
		// A quoted reply that ends a sentence already has its full
		// stop: "... failed: 550 unknown user.." reads badly.
		if strings.HasPrefix(t, ".") {
			v = strings.TrimSuffix(v, ".")
		}
		b.WriteString(v)
	}
	return b.String()
}
