package events

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

func delivered(l *Log, seq int) {
	l.Emit(Delivered, "queue_id", fmt.Sprintf("Q%05d", seq), "rcpt", "alice@example.test", "where", "mailbox", "seq", seq)
}

func seqs(t *testing.T, recs []Record) []int {
	t.Helper()
	var out []int
	for _, r := range recs {
		if r.ID != Delivered {
			continue
		}
		n, err := strconv.Atoi(r.Fields["seq"])
		if err != nil {
			t.Fatalf("record without seq: %+v", r)
		}
		out = append(out, n)
	}
	return out
}

func TestRotateBySize(t *testing.T) {
	clk := newClock()
	const maxSize = 4096
	l, path := openTestLog(t, Options{MaxSize: maxSize, Keep: 3}, clk, nil)
	const n = 200
	for i := range n {
		delivered(l, i)
	}
	// Four files: the current one and three rotated; the oldest are gone.
	for _, name := range []string{path, path + ".1", path + ".2", path + ".3"} {
		st, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > maxSize || st.Size() == 0 {
			t.Errorf("%s: %d bytes, want 1 to %d", name, st.Size(), maxSize)
		}
	}
	if _, err := os.Stat(path + ".4"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s.4 exists with keep = 3: %v", path, err)
	}
	// Each file holds a contiguous run, older files older runs, and Read
	// gives them oldest first, ending with the last event.
	var all []int
	for _, name := range []string{path + ".3", path + ".2", path + ".1", path} {
		all = append(all, seqs(t, fileLines(t, name))...)
	}
	got := seqs(t, readAll(t, path, Filter{}))
	if len(got) != len(all) || len(got) < 40 {
		t.Fatalf("Read returned %d records, the files hold %d", len(got), len(all))
	}
	for i, s := range got {
		if s != n-len(got)+i || all[i] != s {
			t.Fatalf("record %d has seq %d, want %d: %v", i, s, n-len(got)+i, got)
		}
	}
}

func TestRotateByAge(t *testing.T) {
	clk := newClock()
	t0 := clk.now()
	dir := t.TempDir()
	path := filepath.Join(dir, "events.log")
	opt := Options{MaxSize: 10 << 20, MaxAge: time.Hour, Keep: 5}
	l, _ := openTestLogAt(t, path, opt, clk, nil)
	delivered(l, 0)
	clk.advance(30 * time.Minute)
	delivered(l, 1)
	clk.advance(29 * time.Minute)
	delivered(l, 2)
	clk.advance(time.Minute) // the first record is an hour old
	delivered(l, 3)
	clk.advance(time.Minute)
	delivered(l, 4)
	if got := seqs(t, fileLines(t, path+".1")); fmt.Sprint(got) != "[0 1 2]" {
		t.Errorf("events.log.1 holds %v, want [0 1 2]", got)
	}
	if got := seqs(t, fileLines(t, path)); fmt.Sprint(got) != "[3 4]" {
		t.Errorf("events.log holds %v, want [3 4]", got)
	}
	l.Close()

	// After a restart the age is that of the file's first record.
	clk.advance(time.Hour)
	l2, _ := openTestLogAt(t, path, opt, clk, nil)
	delivered(l2, 5)
	l2.Close()
	for name, want := range map[string]string{path + ".2": "[0 1 2]", path + ".1": "[3 4]", path: "[5]"} {
		if got := seqs(t, fileLines(t, name)); fmt.Sprint(got) != want {
			t.Errorf("%s holds %v, want %s", filepath.Base(name), got, want)
		}
	}
	// Filtering works across the files.
	if got := seqs(t, readAll(t, path, Filter{ID: Delivered, Since: t0.Add(30 * time.Minute)})); fmt.Sprint(got) != "[1 2 3 4 5]" {
		t.Errorf("since 30m: %v, want [1 2 3 4 5]", got)
	}
	if got := readAll(t, path, Filter{ID: ServiceStarted}); len(got) != 0 {
		t.Errorf("by ID: %v", got)
	}
}

// Lowering keep removes the files beyond it at the next rotation.
func TestRotateKeepLowered(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	path := filepath.Join(dir, "events.log")
	l, _ := openTestLogAt(t, path, Options{MaxSize: 10 << 20, Keep: 6}, clk, nil)
	for i := range 7 {
		delivered(l, i)
		if err := l.file.rotateLocked(); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	if got := seqs(t, readAll(t, path, Filter{})); fmt.Sprint(got) != "[1 2 3 4 5 6]" {
		t.Fatalf("before: %v", got)
	}
	l2, _ := openTestLogAt(t, path, Options{MaxSize: 10 << 20, Keep: 2}, clk, nil)
	delivered(l2, 7)
	if err := l2.file.rotateLocked(); err != nil {
		t.Fatal(err)
	}
	delivered(l2, 8)
	for i := 3; i <= 6; i++ {
		if _, err := os.Stat(rotatedName(path, i)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("events.log.%d still there with keep = 2", i)
		}
	}
	// .3 to .6 went before the shift; .2 was replaced by .1.
	if got := seqs(t, readAll(t, path, Filter{})); fmt.Sprint(got) != "[6 7 8]" {
		t.Errorf("after: %v, want [6 7 8]", got)
	}
}

// Rotation under concurrent Emit calls loses, duplicates and tears no
// record, and a concurrent Read never sees one twice.
func TestRotateConcurrent(t *testing.T) {
	clk := newClock()
	const maxSize = 8192
	l, path := openTestLog(t, Options{MaxSize: maxSize, Keep: maxRotated, Reserve: 64 << 10}, clk, nil)
	const writers, each = 8, 100
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				delivered(l, g*each+i)
			}
		})
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(readErr)
		for range 50 {
			recs, err := Read(path, Filter{})
			if err != nil {
				readErr <- err
				return
			}
			seen := map[string]bool{}
			for _, r := range recs {
				if s := r.Fields["seq"]; seen[s] {
					readErr <- fmt.Errorf("a Read during rotation returned seq %s twice", s)
					return
				} else {
					seen[s] = true
				}
			}
		}
	}()
	wg.Wait()
	if err := <-readErr; err != nil {
		t.Fatal(err)
	}
	l.Close()

	idx := rotatedIndices(path)
	if len(idx) < 10 {
		t.Fatalf("only %d rotations", len(idx))
	}
	last := make([]int, writers)
	for g := range last {
		last[g] = -1
	}
	total := 0
	for _, name := range append(names(path, idx), path) {
		if st, err := os.Stat(name); err != nil || st.Size() > maxSize {
			t.Errorf("%s: %v, size over %d", name, err, maxSize)
		}
		total += len(fileLines(t, name)) // fails on a torn line
	}
	got := seqs(t, readAll(t, path, Filter{}))
	if len(got) != writers*each || total != writers*each {
		t.Fatalf("%d records read, %d lines in the files; want %d", len(got), total, writers*each)
	}
	for _, s := range got {
		g := s / each
		if s <= last[g] {
			t.Fatalf("writer %d: seq %d after %d: order lost across files", g, s, last[g])
		}
		last[g] = s
	}
}

// names lists the rotated files oldest first.
func names(path string, idx []int) []string {
	var out []string
	for i := len(idx) - 1; i >= 0; i-- {
		out = append(out, rotatedName(path, idx[i]))
	}
	return out
}

func TestReadRotatedWithoutCurrent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.log")
	rec := `{"time":"2026-03-01T10:00:00Z","id":3000,"severity":"information","category":"delivery","message":"m","fields":{"seq":"%d"}}` + "\n"
	os.WriteFile(path+".2", []byte(fmt.Sprintf(rec, 0)), 0o600)
	os.WriteFile(path+".1", []byte(fmt.Sprintf(rec, 1)), 0o600)
	os.WriteFile(path+".01", []byte(fmt.Sprintf(rec, 99)), 0o600)  // not a rotated name
	os.WriteFile(path+".new", []byte(fmt.Sprintf(rec, 98)), 0o600) // a rotation's new file
	// Mid-rotation the current file is missing for a moment.
	if got := seqs(t, readAll(t, path, Filter{})); fmt.Sprint(got) != "[0 1]" {
		t.Fatalf("got %v, want [0 1]", got)
	}
	if _, err := Read(filepath.Join(dir, "other.log"), Filter{}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Read of a log without any file: %v", err)
	}
}

// rotateLocked rotates now, for tests.
func (w *logFile) rotateLocked() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rotate()
}

// Read with Since skips a rotated file last written before it, unread.
// To see that it was not read, the old file holds a record stamped now
// (which a real file last written two hours ago could not).
func TestReadSinceSkipsOlderFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.log")
	old := rotatedName(path, 1)
	stamped := `{"time":"` + time.Now().UTC().Format(time.RFC3339Nano) + `","id":1001,"severity":"information","category":"service","message":"m"}` + "\n"
	if err := os.WriteFile(old, []byte(stamped), 0o600); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	rec := `{"time":"` + time.Now().UTC().Format(time.RFC3339Nano) + `","id":1000,"severity":"information","category":"service","message":"m"}` + "\n"
	if err := os.WriteFile(path, []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	recs, err := Read(path, Filter{Since: time.Now().Add(-time.Hour)})
	if err != nil || len(recs) != 1 || recs[0].ID != 1000 {
		t.Fatalf("Read since an hour ago: %v %+v", err, recs)
	}
	all, err := Read(path, Filter{})
	if err != nil || len(all) != 2 {
		t.Fatalf("Read of all: %v %+v, want both files' records", err, all)
	}
}
