package events

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a test clock that the rate limit's timer goroutine may read.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// syncBuffer is a server log that tests read while the log writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// events returns the event IDs in the server log, in order.
func (s *syncBuffer) events(t *testing.T) []int {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for _, line := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if line == "" {
			continue
		}
		var v struct {
			ID int `json:"event_id"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("server log line %q: %v", line, err)
		}
		out = append(out, v.ID)
	}
	return out
}

var allMaximum = map[string]Level{"service": Maximum, "smtp_receive": Maximum, "smtp_send": Maximum,
	"auth": Maximum, "queue": Maximum, "categorizer": Maximum, "delivery": Maximum, "dsn": Maximum}

// openTestLog opens an event log in a temporary directory on clk's time,
// with a server log in srv (which may be nil).
func openTestLog(t *testing.T, opt Options, clk *clock, srv *syncBuffer) (*Log, string) {
	t.Helper()
	return openTestLogAt(t, filepath.Join(t.TempDir(), "events.log"), opt, clk, srv)
}

func openTestLogAt(t *testing.T, path string, opt Options, clk *clock, srv *syncBuffer) (*Log, string) {
	t.Helper()
	var logger *slog.Logger
	if srv != nil {
		logger = slog.New(slog.NewJSONHandler(srv, nil))
	}
	l, err := OpenLog(logger, allMaximum, path, opt)
	if err != nil {
		t.Fatal(err)
	}
	l.now = clk.now
	t.Cleanup(func() { l.Close() })
	return l, path
}

// count returns how many records have this ID.
func count(recs []Record, id int) int {
	n := 0
	for _, r := range recs {
		if r.ID == id {
			n++
		}
	}
	return n
}

// fileLines returns the lines of one file and fails on a line that is
// not a record.
func fileLines(t *testing.T, path string) []Record {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []Record
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line == "" {
			continue
		}
		var r Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s: line %q is not a record: %v", path, line, err)
		}
		out = append(out, r)
	}
	return out
}
