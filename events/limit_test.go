package events

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func refused(l *Log, ip string) {
	l.Emit(ConnectionRefused, "ip", ip, "virtual_server", "default", "limit", "connections per client address", "max", 50)
}

// summaries returns the 1005 records, by the event they count.
func summaries(recs []Record, id int) []Record {
	var out []Record
	for _, r := range recs {
		if r.ID == EventsSuppressed && r.Fields["event"] == strconv.Itoa(id) {
			out = append(out, r)
		}
	}
	return out
}

func suppressedCount(t *testing.T, recs []Record) int {
	t.Helper()
	n := 0
	for _, r := range recs {
		c, err := strconv.Atoi(r.Fields["count"])
		if err != nil {
			t.Fatalf("summary without a count: %+v", r)
		}
		n += c
	}
	return n
}

func TestRateLimitPerClient(t *testing.T) {
	clk := newClock()
	srv := &syncBuffer{}
	l, path := openTestLog(t, Options{RateLimit: 10}, clk, srv)
	const a, b = "192.0.2.1", "198.51.100.7"
	for i := range 25 {
		refused(l, a)
		if i < 3 {
			refused(l, b)
		}
		clk.advance(time.Second)
	}
	recs := readAll(t, path, Filter{})
	if n := len(filterField(recs, ConnectionRefused, "ip", a)); n != 10 {
		t.Errorf("client %s: %d events written, want 10 (the limit)", a, n)
	}
	if n := len(filterField(recs, ConnectionRefused, "ip", b)); n != 3 {
		t.Errorf("client %s: %d events written, want all 3: one noisy client must not hide another", b, n)
	}
	if n := count(recs, EventsSuppressed); n != 0 {
		t.Fatalf("summary before the window ended: %+v", recs)
	}
	// The suppressed events are not in the server log either.
	if n := count(idRecords(srv.events(t)), ConnectionRefused); n != 13 {
		t.Errorf("server log has %d events 1010, want 13", n)
	}

	// The window ends; the next event of the key writes the summary
	// first, then itself.
	clk.advance(time.Minute)
	refused(l, a)
	recs = readAll(t, path, Filter{})
	sums := summaries(recs, ConnectionRefused)
	if len(sums) != 1 {
		t.Fatalf("%d summaries, want 1: %+v", len(sums), sums)
	}
	s := sums[0]
	if s.Fields["count"] != "15" || s.Fields["ip"] != a || s.Fields["limit"] != "10" || s.Severity != Warning {
		t.Errorf("summary fields %v", s.Fields)
	}
	for _, want := range []string{"Event 1010 from [192.0.2.1]: 15 more in the 1m0s after 2026-03-01T10:00:00Z were not written",
		"The last one: Connection from [192.0.2.1] to virtual server default refused"} {
		if !strings.Contains(s.Message, want) {
			t.Errorf("summary %q lacks %q", s.Message, want)
		}
	}
	if last := recs[len(recs)-1]; last.ID != ConnectionRefused || recs[len(recs)-2].ID != EventsSuppressed {
		t.Errorf("the summary must come before the event that starts the next window: %+v", recs[len(recs)-2:])
	}
	if n := len(filterField(recs, ConnectionRefused, "ip", a)); n != 11 {
		t.Errorf("new window: %d events of %s, want 11", n, a)
	}
	// The summary goes to the server log too.
	if n := count(idRecords(srv.events(t)), EventsSuppressed); n != 1 {
		t.Errorf("server log has %d summaries, want 1", n)
	}
	// Nothing is pending: Close writes no further summary.
	l.Close()
	if n := count(readAll(t, path, Filter{}), EventsSuppressed); n != 1 {
		t.Errorf("%d summaries after Close, want 1", n)
	}
}

// Errors are counted per kind: a full disk and a failing one, or a failed
// message write and a failed state update, each show up, and what is held
// back is accounted for.
func TestRateLimitErrorsByKind(t *testing.T) {
	clk := newClock()
	l, path := openTestLog(t, Options{RateLimit: 10}, clk, nil)
	kinds := map[string]func(id string) string{
		"write": func(id string) string {
			return fmt.Sprintf("write %s: write /var/lib/mailward/queue/tmp/%s: no space left on device", id, id)
		},
		"state": func(id string) string {
			return fmt.Sprintf("state of %s: write %s.state: no space left on device", id, id)
		},
		"fsync":  func(id string) string { return fmt.Sprintf("fsync spool directory for %s: input/output error", id) },
		"create": func(string) string { return "open /var/lib/mailward/queue/tmp/x: read-only file system" },
	}
	emitted := map[string]int{"write": 30, "state": 12, "fsync": 4, "create": 1}
	var order []string
	for k, n := range emitted {
		for range n {
			order = append(order, k)
		}
	}
	slices.Sort(order)
	for i, k := range order {
		l.Emit(SpoolWriteFailed, "error", kinds[k](fmt.Sprintf("0194F3A2B1C3D%06X", i)))
		clk.advance(100 * time.Millisecond)
	}
	l.Close()
	recs := readAll(t, path, Filter{})
	sums := summaries(recs, SpoolWriteFailed)
	kindOf := func(text string) string {
		switch {
		case strings.Contains(text, "state of "):
			return "state"
		case strings.Contains(text, "fsync spool directory"):
			return "fsync"
		case strings.Contains(text, "read-only"):
			return "create"
		case strings.Contains(text, "write 0194"):
			return "write"
		}
		return "?"
	}
	written, held := map[string]int{}, map[string]int{}
	for _, r := range recs {
		if r.ID == SpoolWriteFailed {
			written[kindOf(r.Fields["error"])]++
		}
	}
	for _, s := range sums {
		held[kindOf(s.Fields["last"])] += suppressedCount(t, []Record{s})
	}
	for k, n := range emitted {
		if want := min(n, 10); written[k] != want {
			t.Errorf("%s: %d written, want %d", k, written[k], want)
		}
		if written[k]+held[k] != n {
			t.Errorf("%s: %d written + %d in summaries, want all %d accounted for", k, written[k], held[k], n)
		}
	}
	if len(sums) != 2 {
		t.Errorf("%d summaries, want 2 (write and state): %+v", len(sums), sums)
	}
	for _, s := range sums {
		if s.Fields["from"] != "of the same kind" {
			t.Errorf("summary from %q", s.Fields["from"])
		}
	}
}

func TestRateLimitWithoutClientByID(t *testing.T) {
	clk := newClock()
	l, path := openTestLog(t, Options{RateLimit: 10}, clk, nil)
	for i := range 15 {
		l.Emit(XEXCH50Protocol, "remote", fmt.Sprintf("mx%d.remote.test", i), "reply", "504 Need to authenticate first")
	}
	l.Close()
	recs := readAll(t, path, Filter{})
	sums := summaries(recs, XEXCH50Protocol)
	if n := count(recs, XEXCH50Protocol); n != 10 || len(sums) != 1 || sums[0].Fields["count"] != "5" {
		t.Fatalf("%d written, summaries %+v; want 10 and one of 5", n, sums)
	}
	if !strings.Contains(sums[0].Message, "mx14.remote.test") || sums[0].Fields["window"] != "0s" {
		t.Errorf("summary at Close: %q %v; want the last event quoted and the window so far", sums[0].Message, sums[0].Fields)
	}
}

// The record of mail flow and the administrator's actions are never held
// back.
func TestRateLimitExemptEvents(t *testing.T) {
	clk := newClock()
	l, path := openTestLog(t, Options{RateLimit: 10}, clk, nil)
	for i := range 50 {
		l.Emit(Delivered, "queue_id", i, "rcpt", "a@example.test", "where", "mailbox")
		l.Emit(MessageQueued, "queue_id", i, "ip", "192.0.2.1")
		l.Emit(QueueAction, "action", "asked to delete", "target", i, "result", "ok", "uid", 0, "pid", 1)
	}
	l.Close()
	recs := readAll(t, path, Filter{})
	for _, id := range []int{Delivered, MessageQueued, QueueAction} {
		if n := count(recs, id); n != 50 {
			t.Errorf("event %d: %d written, want all 50", id, n)
		}
	}
	if n := count(recs, EventsSuppressed); n != 0 {
		t.Errorf("%d summaries, want none", n)
	}
	if !RateLimited(99999) || !RateLimited(ConnectionRefused) || RateLimited(EventsSuppressed) {
		t.Error("RateLimited: unknown and flood-prone events must be limited, summaries not")
	}
}

// A flood from many addresses keeps the limiter's memory bounded and its
// output bounded too.
func TestRateLimitDistributedFloodBounded(t *testing.T) {
	clk := newClock()
	l, path := openTestLog(t, Options{RateLimit: 10}, clk, nil)
	const clients = 5000
	for i := range clients {
		refused(l, fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
		if n := len(l.lim.buckets); n > keysPerID+1 {
			t.Fatalf("after %d clients the limiter holds %d keys, want at most %d", i+1, n, keysPerID+1)
		}
	}
	recs := readAll(t, path, Filter{})
	if n := count(recs, ConnectionRefused); n != keysPerID+10 {
		t.Errorf("%d events written, want %d (one per counted client, 10 for the rest)", n, keysPerID+10)
	}
	// The window ends: the keys go.
	clk.advance(time.Minute + time.Second)
	refused(l, "192.0.2.99")
	if n := len(l.lim.buckets); n != 1 {
		t.Errorf("%d keys after the window, want 1", n)
	}
	sums := summaries(readAll(t, path, Filter{}), ConnectionRefused)
	if len(sums) != 1 || sums[0].Fields["count"] != strconv.Itoa(clients-keysPerID-10) ||
		!strings.HasPrefix(sums[0].Fields["from"], "from further clients") {
		t.Fatalf("summaries %+v, want one for the further clients with %d", sums, clients-keysPerID-10)
	}
}

// Summaries are not rate limited themselves: thirty noisy clients get
// thirty summaries.
func TestSummariesNotLimited(t *testing.T) {
	clk := newClock()
	l, path := openTestLog(t, Options{RateLimit: 10}, clk, nil)
	for c := range 30 {
		for range 11 {
			refused(l, fmt.Sprintf("192.0.2.%d", c))
		}
	}
	clk.advance(2 * time.Minute)
	l.Emit(ServiceStopped, "reason", "signal")
	recs := readAll(t, path, Filter{})
	sums := summaries(recs, ConnectionRefused)
	if len(sums) != 30 {
		t.Fatalf("%d summaries, want 30", len(sums))
	}
	if recs[len(recs)-1].ID != ServiceStopped {
		t.Errorf("last record %d, want the event that found the ended windows", recs[len(recs)-1].ID)
	}
}

// A flood that stops is reported without waiting for another event: a
// timer is set when the first event is held back, and its wake-up writes
// the summary.
func TestRateLimitTimer(t *testing.T) {
	clk := newClock()
	l, path := openTestLog(t, Options{RateLimit: 2}, clk, nil)
	for range 2 {
		refused(l, "192.0.2.1")
	}
	if l.lim.timer != nil {
		t.Fatal("timer set while nothing was held back")
	}
	refused(l, "192.0.2.1")
	refused(l, "192.0.2.2")
	refused(l, "192.0.2.2")
	refused(l, "192.0.2.2")
	if l.lim.timer == nil {
		t.Fatal("no timer after an event was held back")
	}
	clk.advance(30 * time.Second)
	l.wake() // early: nothing due, the timer is set again
	if n := count(readAll(t, path, Filter{}), EventsSuppressed); n != 0 || l.lim.timer == nil {
		t.Fatalf("early wake-up: %d summaries, timer %v", n, l.lim.timer)
	}
	clk.advance(31 * time.Second)
	l.wake()
	if n := len(summaries(readAll(t, path, Filter{}), ConnectionRefused)); n != 2 {
		t.Fatalf("%d summaries after the window, want 2", n)
	}
	if l.lim.timer != nil {
		t.Error("timer still set with nothing held back")
	}
	l.Close()
	refused(l, "192.0.2.1")
	refused(l, "192.0.2.1")
	refused(l, "192.0.2.1")
	if l.lim.timer != nil {
		t.Error("timer set after Close")
	}
}

func TestCauseOf(t *testing.T) {
	a := causeOf(map[string]string{"error": "write 0194F3A2B1C3D4E5F6: write /q/tmp/0194F3A2B1C3D4E5F6: no space left on device", "ip": "192.0.2.1"})
	b := causeOf(map[string]string{"error": "write 0194F3A2B1C3DAAAAA: write /q/tmp/0194F3A2B1C3DAAAAA: no space left on device"})
	c := causeOf(map[string]string{"error": "write 0194F3A2B1C3DAAAAA: write /q/tmp/0194F3A2B1C3DAAAAA: input/output error"})
	if a != b || a == c {
		t.Errorf("kinds: %q %q %q; want the first two equal, the third different", a, b, c)
	}
	if long := causeOf(map[string]string{"error": strings.Repeat("word ", 1000)}); len(long) > maxCause {
		t.Errorf("cause of %d bytes, want at most %d", len(long), maxCause)
	}
}

func filterField(recs []Record, id int, key, value string) []Record {
	var out []Record
	for _, r := range recs {
		if r.ID == id && r.Fields[key] == value {
			out = append(out, r)
		}
	}
	return out
}

func idRecords(ids []int) []Record {
	out := make([]Record, len(ids))
	for i, id := range ids {
		out[i].ID = id
	}
	return out
}
