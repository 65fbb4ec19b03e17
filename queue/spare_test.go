package queue

import (
	"context"
	"errors"
	"io"
	"mailward/internal/testkit"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// spareUsage lists queue/spare/ and sums what its files hold: their size
// (content anyone could read) and their blocks (disk they occupy).
func spareUsage(t *testing.T, dir string) (files int, size, disk int64) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "spare"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		var st syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(dir, "spare", e.Name()), &st); err != nil {
			t.Fatal(err)
		}
		files++
		size += st.Size
		disk += st.Blocks * 512
	}
	return files, size, disk
}

// Finished messages, large and small, and refused or abandoned ones all
// go back to the pool empty: no content readable, no disk held. The pool
// itself is kept (its reason is the inode churn it avoids).
func TestRetiredQueueFilesHoldNoContent(t *testing.T) {
	dir := t.TempDir()
	big := strings.Repeat("0123456789abcdef", (memLimit*4)/16) // spills to the file as it arrives
	// run starts a queue, lets work put messages in, waits until they are
	// delivered and stops the workers (a file is retired after its
	// delivery is counted).
	run := func(want int, work func(q *Queue)) {
		t.Helper()
		q := open(t, dir)
		rec := &recorder{}
		ctx, cancel := context.WithCancel(context.Background())
		if err := q.Start(ctx, rec.handle, func(*Message, []int) error { return nil }, nil); err != nil {
			t.Fatal(err)
		}
		work(q)
		testkit.WaitFor(t, 5*time.Second, "delivery", func() bool { return rec.n() == want && len(activeFiles(t, dir)) == 0 })
		cancel()
		q.Wait()
	}
	run(6, func(q *Queue) {
		for i := 0; i < 3; i++ {
			enqueue(t, q, testEnv(), "Subject: small\r\n\r\nx\r\n")
			enqueue(t, q, testEnv(), "Subject: big\r\n\r\n"+big)
		}
		// Refused at the end of DATA (too big, bare LF ...) or a lost
		// connection: both are Abort.
		for i := 0; i < 2; i++ {
			w, err := q.Create(testEnv())
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(w, big)
			w.Abort()
		}
	})
	files, size, disk := spareUsage(t, dir)
	// Eight files were retired; a new message takes a spare when there
	// is one, so fewer may be left, but never none.
	if files < 1 || files > 8 {
		t.Errorf("spare/ holds %d files, want 1 to 8 (the pool must still recycle)", files)
	}
	if size != 0 || disk != 0 {
		t.Errorf("spare/ holds %d bytes of content on %d bytes of disk, want none", size, disk)
	}
	// And they are reused: a new message takes a spare, not a new inode.
	run(1, func(q *Queue) { enqueue(t, q, testEnv(), "Subject: reuse\r\n\r\n"+big) })
	if f, size, disk := spareUsage(t, dir); f != files || size != 0 || disk != 0 {
		t.Errorf("after one more message spare/ holds %d files (%d bytes on %d of disk), want %d empty ones (one taken, one returned)", f, size, disk, files)
	}
}

// At start, spare files that still hold content (an older mailward, or a
// kill between a finished message's move and its truncation) are
// emptied, but a spare that is also a committed message's file (two
// names after fsck) is never touched: only its spare name goes.
func TestSparesClearedAtStart(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir)
	content := "Subject: kept\r\n\r\n" + strings.Repeat("y", 100<<10)
	id := enqueue(t, q, testEnv(), content) // committed, never started
	old := strings.Repeat("old message content ", 50<<10)
	for _, n := range []string{"A", "B", "C"} {
		if err := os.WriteFile(filepath.Join(dir, "spare", n), []byte(old), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(dir, "active", id), filepath.Join(dir, "spare", "LINKED")); err != nil {
		t.Fatal(err)
	}

	q2 := open(t, dir)
	files, size, disk := spareUsage(t, dir)
	if files != 3 || size != 0 || disk != 0 {
		t.Errorf("after start spare/ holds %d files, %d bytes of content on %d bytes of disk; want 3 empty ones", files, size, disk)
	}
	if _, err := os.Lstat(filepath.Join(dir, "spare", "LINKED")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the spare name of a committed message's file was kept (%v)", err)
	}
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q2.Wait() }()
	if err := q2.Start(ctx, rec.handle, func(*Message, []int) error { return nil }, nil); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 5*time.Second, "delivery of the committed message", func() bool { return rec.n() == 1 })
	if got := rec.bodies[0]; got != content {
		t.Errorf("the committed message's content changed: %d bytes, want %d", len(got), len(content))
	}
}

// The pool is bounded by count and by the disk its files occupy; beyond
// either bound a retired file is deleted.
func TestSparePoolBounds(t *testing.T) {
	newTmp := func(t *testing.T, dir, name string, xattr int) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Repeat("z", 10000)), 0o600); err != nil {
			t.Fatal(err)
		}
		if xattr > 0 {
			// Too big for the inode: ext4 puts it in a block of its own,
			// which ftruncate does not free.
			if err := unix.Setxattr(p, "user.pad", []byte(strings.Repeat("p", xattr)), 0); err != nil {
				t.Skipf("no user extended attributes on %s (%v): cannot make a file that keeps a block after ftruncate", dir, err)
			}
		}
		return p
	}
	t.Run("count", func(t *testing.T) {
		dir := t.TempDir()
		os.Mkdir(filepath.Join(dir, "spare"), 0o700)
		s := newSpares(filepath.Join(dir, "spare"), 3, 1<<20)
		for _, n := range []string{"1", "2", "3", "4", "5"} {
			s.put(newTmp(t, dir, n, 0), nil)
		}
		if files, size, _ := spareUsage(t, dir); files != 3 || size != 0 {
			t.Errorf("spare/ holds %d files with %d bytes, want 3 empty ones", files, size)
		}
		if _, err := os.Stat(filepath.Join(dir, "4")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a file beyond the count bound was kept where it was (%v)", err)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		dir := t.TempDir()
		os.Mkdir(filepath.Join(dir, "spare"), 0o700)
		s := newSpares(filepath.Join(dir, "spare"), 10, 6000)
		for _, n := range []string{"1", "2", "3"} {
			s.put(newTmp(t, dir, n, 3000), nil)
		}
		files, size, disk := spareUsage(t, dir)
		if disk == 0 {
			t.Skipf("the extended attribute took no block on this file system")
		}
		if files != 1 || size != 0 || disk > 6000 {
			t.Errorf("spare/ holds %d files, %d bytes of content on %d bytes of disk; want 1 empty file within 6000 bytes", files, size, disk)
		}
		// The same bound holds for what is found at start.
		s2 := newSpares(filepath.Join(dir, "spare"), 10, 100)
		if files, _, _ := spareUsage(t, dir); files != 0 || len(s2.names) != 0 {
			t.Errorf("at start with a 100-byte bound spare/ keeps %d files", files)
		}
	})
}

// An empty file in active/ is a finished message whose truncation reached
// the disk before its move into spare/ did (a power failure): it is
// removed at start with its state file, not delivered, not set aside as
// corrupt.
func TestEmptyActiveFileRemovedAtStart(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir)
	const id = "0000000000000ABCDEF"
	os.WriteFile(filepath.Join(dir, "active", id), nil, 0o600)
	os.WriteFile(filepath.Join(dir, "active", id+".state"), []byte("r 0 1 1795405671 2.0.0 - local delivered\n"), 0o600)
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	if err := q.Start(ctx, rec.handle, nil, nil); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 5*time.Second, "the empty file's removal", func() bool { return len(activeFiles(t, dir)) == 0 })
	if ents, _ := os.ReadDir(filepath.Join(dir, "corrupt")); len(ents) != 0 {
		t.Errorf("corrupt/ holds %d files, want none", len(ents))
	}
	if rec.n() != 0 {
		t.Errorf("the empty file was delivered")
	}
}
