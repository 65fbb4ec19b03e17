package events

import (
	"fmt"
	"mailward/internal/testkit"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// allocated is the space a file takes on disk.
func allocated(t *testing.T, path string) (size, alloc int64) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Size, st.Blocks * 512
}

// The reserve is allocated past the end, kept at least half full as the
// file grows, and given back by a rotated file.
func TestReserveAllocated(t *testing.T) {
	clk := newClock()
	const reserve = 256 << 10
	l, path := openTestLog(t, Options{MaxSize: 1 << 20, Keep: 2, Reserve: reserve}, clk, nil)
	if recs := readAll(t, path, Filter{ID: EventLogNoReserve}); len(recs) > 0 {
		t.Skipf("the temporary directory's file system has no fallocate: %s", recs[0].Message)
	}
	if size, alloc := allocated(t, path); size != int64(len(fileBytes(t, path))) || alloc < reserve {
		t.Fatalf("new log: size %d, %d bytes allocated; want the reserve of %d allocated past the end", size, alloc, reserve)
	}
	for i := 0; i < 10000; i++ {
		delivered(l, i)
		size, alloc := allocated(t, path)
		if alloc < size+reserve/2 {
			t.Fatalf("after %d bytes only %d allocated: the reserve was not extended", size, alloc)
		}
		if size > 3*reserve {
			break
		}
	}
	if err := l.file.rotateLocked(); err != nil {
		t.Fatal(err)
	}
	size, alloc := allocated(t, path+".1")
	if alloc > size+64<<10 {
		t.Errorf("rotated file keeps %d bytes allocated for %d written: its reserve was not given back", alloc, size)
	}
	if _, alloc := allocated(t, path); alloc < reserve {
		t.Errorf("new file after rotation: %d bytes allocated, want its reserve %d", alloc, reserve)
	}
}

func fileBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// diskFullEnv tells the test binary, re-executed in a private mount
// namespace, to run TestDiskFullHelper on this file system type.
const diskFullEnv = "MAILWARD_EVENTS_DISKFULL"

// TestEventLogDiskFull fills a real file system and checks that the spool
// failures emitted then are all in the event log (or counted in a rate
// limit summary), while an ordinary append in the same place fails. It
// mounts a small tmpfs, and an ext4 image (the usual data_dir file system,
// where the writes land in unwritten extents that must be converted), in
// a private mount namespace: it needs root and unshare(1).
func TestEventLogDiskFull(t *testing.T) {
	for _, fsType := range []string{"tmpfs", "ext4"} {
		t.Run(fsType, func(t *testing.T) {
			testkit.RunInPrivateMounts(t, "TestDiskFullHelper", diskFullEnv+"="+fsType)
		})
	}
}

func TestDiskFullHelper(t *testing.T) {
	testkit.InPrivateMounts(t)
	fsType := os.Getenv(diskFullEnv)
	size := int64(4 << 20)
	if fsType == "ext4" {
		size = 32 << 20
	}
	mnt, remount := testkit.MountFS(t, fsType, size)
	path := filepath.Join(mnt, "events.log")
	clk := newClock()
	srv := &syncBuffer{}
	const maxSize = 64 << 10
	l, _ := openTestLogAt(t, path, Options{MaxSize: maxSize, Keep: 3, RateLimit: 10, Reserve: 256 << 10}, clk, srv)
	l.Emit(ServiceStarted, "version", "test", "fqdn", "mx.example.test", "virtual_servers", "default")
	// Most of max_size, so that the file is due for rotation while the
	// file system is full.
	for i := 0; i < 1000 && l.file.size < maxSize-16<<10; i++ {
		delivered(l, i)
	}
	// An ordinary append-only log in the same place, for comparison.
	cf, err := Open(filepath.Join(mnt, "control.log"))
	if err != nil {
		t.Fatal(err)
	}
	control := New(nil, allMaximum, cf)

	filler := testkit.Fill(t, mnt)

	// While the file system is full: spool failures of three kinds, every
	// half second for 75 seconds, and refused connections (warnings).
	kinds := []func(id string) string{
		func(id string) string {
			return fmt.Sprintf("write %s: write /data/queue/tmp/%s: no space left on device", id, id)
		},
		func(id string) string {
			return fmt.Sprintf("state of %s: write /data/queue/active/%s.state: no space left on device", id, id)
		},
		func(id string) string {
			return fmt.Sprintf("success notice for %s: write %s: no space left on device", id, id)
		},
	}
	const failures, refusals = 150, 40
	for i := range failures {
		e := kinds[i%3](fmt.Sprintf("0194F3A2B1C3D%06X", i))
		l.Emit(SpoolWriteFailed, "error", e)
		control.Emit(SpoolWriteFailed, "error", e)
		if i < refusals {
			refused(l, fmt.Sprintf("192.0.2.%d", i))
		}
		clk.advance(500 * time.Millisecond)
	}
	if b := fileBytes(t, filepath.Join(mnt, "control.log")); len(b) != 0 {
		t.Fatalf("the file system is not full: an ordinary append wrote %d bytes", len(b))
	}

	// Space again: the next event reports the gap, and the rotation that
	// waited happens.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * time.Second)
	refused(l, "203.0.113.1")
	l.Close()
	cf.Close()
	if remount != nil {
		remount() // what is read below is on the disk, not in the page cache
	}

	recs := readAll(t, path, Filter{})
	written, held := 0, 0
	seenKind := map[string]bool{}
	for _, r := range recs {
		switch r.ID {
		case SpoolWriteFailed:
			written++
			seenKind[strings.Fields(r.Fields["error"])[0]] = true
		case EventsSuppressed:
			if r.Fields["event"] == "2001" {
				held += suppressedCount(t, []Record{r})
			}
		}
	}
	if written+held != failures {
		t.Errorf("%d spool failures written and %d counted in summaries; want all %d accounted for", written, held, failures)
	}
	if len(seenKind) != 3 || written < 30 {
		t.Errorf("%d failures written, of kinds %v; want each of the 3 kinds written", written, seenKind)
	}
	full := readAll(t, path, Filter{ID: EventLogFull})
	back := readAll(t, path, Filter{ID: EventLogSpaceBack})
	if len(full) != 1 || len(back) != 1 {
		t.Fatalf("%d events 1006 and %d events 1007, want one each", len(full), len(back))
	}
	// The full file system is noticed at the latest a second later (the
	// reserve is topped up once a second); refusals before that may be
	// written, every later one is withheld, and nothing is lost.
	early := 0
	for _, r := range recs {
		if r.ID == ConnectionRefused && strings.HasPrefix(r.Fields["ip"], "192.0.2.") {
			early++
		}
	}
	if early > 2 || back[0].Fields["withheld"] != fmt.Sprint(refusals-early) || back[0].Fields["lost"] != "0" {
		t.Errorf("event 1007: %q, %d refusals written before it; want at most 2 written, the rest of %d withheld, nothing lost",
			back[0].Message, early, refusals)
	}
	// The refusals during the outage went to the server log only.
	var during []int
	inFull := false
	for _, r := range recs {
		switch r.ID {
		case EventLogFull:
			inFull = true
		case EventLogSpaceBack:
			inFull = false
		case ConnectionRefused:
			if inFull {
				during = append(during, r.ID)
			}
		}
	}
	if len(during) != 0 {
		t.Errorf("%d refusals written into the reserve", len(during))
	}
	if n := count(idRecords(srv.events(t)), ConnectionRefused); n != refusals+1 {
		t.Errorf("server log has %d refusals, want %d", n, refusals+1)
	}
	// The rotation waited for space: the old file went past max_size
	// instead of giving up its reserve, and the event after the outage
	// opened the new file.
	if size, _ := allocated(t, path+".1"); size <= maxSize {
		t.Errorf("events.log.1 has %d bytes: rotated while the file system was full?", size)
	}
	if cur := fileLines(t, path); len(cur) == 0 || cur[len(cur)-1].Fields["ip"] != "203.0.113.1" {
		t.Errorf("events.log after the outage: %+v", cur)
	}
	t.Logf("%s: %d spool failures written, %d counted in summaries, %d records in all", fsType, written, held, len(recs))
}
