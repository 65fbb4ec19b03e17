package setup

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"mailward/config"
	"mailward/events"
)

// newEvents opens the event log with the [event_log] settings: the rate
// limit holds back what is over it, and rotation follows max_size and
// keep, with events.Read (mailward events) reading across the files.
func TestNewEventsUsesEventLogSettings(t *testing.T) {
	dir := t.TempDir()
	conf := `
[server]
data_dir = "data"
[event_log]
rate_limit = 2
max_size = 65536
keep = 2
reserve = 65536
[[domain]]
name = "example.test"
[[virtual_server]]
name = "default"
address = "127.0.0.1:2525"
`
	path := filepath.Join(dir, "mailward.toml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(cfg.Server.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	ev, closeEv, err := newEvents(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		ev.Emit(events.ConnectionRefused, "ip", "192.0.2.1", "virtual_server", "default", "limit", "total connections", "max", 1)
	}
	if recs, err := events.Read(EventLogPath(cfg), events.Filter{ID: events.ConnectionRefused}); err != nil || len(recs) != 2 {
		t.Errorf("rate_limit = 2: %d events 1010 written (%v), want 2", len(recs), err)
	}
	// Some 200 KB: three rotations at 64 KiB.
	const deliveries = 1500
	for i := range deliveries {
		ev.Emit(events.Delivered, "queue_id", i, "rcpt", "alice@example.test", "where", "mailbox")
	}
	closeEv()

	recs, err := events.Read(EventLogPath(cfg), events.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	n := map[int]int{}
	last := ""
	for _, r := range recs {
		n[r.ID]++
		if r.ID == events.Delivered {
			last = r.Fields["queue_id"]
		}
	}
	// The summary of the three held back comes at Close.
	if s := recs[len(recs)-1]; s.ID != events.EventsSuppressed || s.Fields["count"] != "3" {
		t.Errorf("last record %+v, want the summary of 3 events 1010", s)
	}
	if _, err := os.Stat(EventLogPath(cfg) + ".2"); err != nil {
		t.Errorf("no second rotated file with max_size = 65536: %v", err)
	}
	if _, err := os.Stat(EventLogPath(cfg) + ".3"); err == nil {
		t.Error("a third rotated file with keep = 2")
	}
	if n[events.Delivered] < 500 || n[events.Delivered] == deliveries || last != "1499" {
		t.Errorf("%d deliveries read across the files, the last %s; want the newest ones, the oldest rotated away", n[events.Delivered], last)
	}
}
