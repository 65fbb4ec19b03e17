// Package events writes mailward's numbered events.
//
// Every noteworthy thing the transport does has an ID from the catalogue
// (catalogue.go, documented in docs/events.md), as Exchange's
// MSExchangeTransport events do in the seed articles. Each category has a
// diagnostic logging level (none, minimum, medium, maximum); an event is
// written only when its own level is at or below its category's setting
// (seed 000: 7004 and 7010 appear only at medium or higher). Level-0 events
// (errors, start and stop) are written even at "none", as in Exchange.
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
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

// Severity of an event, as in the Windows event log the seeds quote.
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
	slog   *slog.Logger
	levels map[string]Level

	mu   sync.Mutex
	file *os.File
	// now is replaceable in tests.
	now func() time.Time
}

// New returns an event log. levels maps category to level; a category not
// in the map logs at Minimum. file may be nil (no event log file).
func New(logger *slog.Logger, levels map[string]Level, file *os.File) *Log {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Log{slog: logger, levels: levels, file: file, now: time.Now}
}

// Discard is an event log that writes nothing; for tests and tools.
func Discard() *Log { return New(nil, map[string]Level{}, nil) }

// Open opens (creating) the event log file for appending.
func Open(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("events: open %s: %w", path, err)
	}
	return f, nil
}

// Enabled reports whether event id would be written at the current levels.
func (l *Log) Enabled(id int) bool {
	d, ok := Catalogue[id]
	if !ok {
		return true
	}
	lvl, ok := l.levels[d.Category]
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
	d, ok := Catalogue[id]
	if !ok {
		d = Def{ID: id, Severity: Error, Category: "service", Text: "unknown event"}
	}
	fields := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		fields[fmt.Sprint(kv[i])] = fmt.Sprint(kv[i+1])
	}
	rec := Record{Time: l.now().UTC(), ID: id, Severity: d.Severity, Category: d.Category,
		Message: d.Format(fields), Fields: fields}

	attrs := make([]any, 0, 4+len(fields))
	attrs = append(attrs, slog.Int("event_id", id), slog.String("category", d.Category))
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		attrs = append(attrs, slog.String(k, fields[k]))
	}
	lv := slog.LevelInfo
	switch d.Severity {
	case Warning:
		lv = slog.LevelWarn
	case Error:
		lv = slog.LevelError
	}
	l.slog.Log(context.Background(), lv, rec.Message, attrs...)

	if l.file != nil {
		b, err := json.Marshal(rec)
		if err == nil {
			b = append(b, '\n')
			l.mu.Lock()
			_, err = l.file.Write(b)
			l.mu.Unlock()
		}
		if err != nil {
			l.slog.Error("events: cannot write event log", "err", err)
		}
	}
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
