package categorize

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"mailward/deliver"
	"mailward/directory"
	"mailward/events"
	"mailward/internal/durable"
	"mailward/internal/testkit"
	"mailward/queue"
)

// localRig is a running queue whose categorizer delivers one message to
// n local mailboxes through a Maildir with a group flush (as with
// queue.sync = "syncfs") that counts its flushes and fails while fail
// holds an error.
type localRig struct {
	q       *queue.Queue
	base    string
	boxes   []string
	flushes atomic.Int32
	fail    atomic.Pointer[error]
	results chan []queue.Result // one per attempt
}

func newLocalRig(t *testing.T, n int) *localRig {
	t.Helper()
	dir := t.TempDir()
	ev, err := events.OpenLog(nil, nil, filepath.Join(dir, "events.log"), events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ev.Close() })
	q, err := queue.Open(queue.Options{Dir: filepath.Join(dir, "queue"), Workers: 1,
		RetrySchedule: []time.Duration{time.Hour}, Events: ev})
	if err != nil {
		t.Fatal(err)
	}
	r := &localRig{q: q, base: filepath.Join(dir, "mailboxes"), results: make(chan []queue.Result, 4)}
	var mbs []directory.Mailbox
	for i := range n {
		a := fmt.Sprintf("m%03d@example.test", i)
		r.boxes = append(r.boxes, a)
		mbs = append(mbs, directory.Mailbox{Address: a})
	}
	md := deliver.NewMaildir(r.base, "mx1.example.test")
	md.FSSync = durable.NewGroup(func() error {
		r.flushes.Add(1)
		if err := r.fail.Load(); err != nil {
			return *err
		}
		return nil
	})
	c := &Categorizer{
		Dir:              &directory.Recipients{Local: directory.New([]string{"example.test"}, mbs, "")},
		Queue:            q,
		Maildir:          md,
		Events:           ev,
		LocalConcurrency: 8,
	}
	handle := func(ctx context.Context, m *queue.Message) []queue.Result {
		res := c.Handle(ctx, m)
		r.results <- res
		return res
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := q.Start(ctx, handle, func(*queue.Message, []int) error { return nil }, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); q.Wait() })
	return r
}

// send queues one message for every mailbox and returns its ID.
func (r *localRig) send(t *testing.T) string {
	t.Helper()
	env := &queue.Envelope{From: "sender@example.test", ClientIP: "192.0.2.1", Helo: "client.test", VirtualServer: "default"}
	for _, a := range r.boxes {
		env.Recipients = append(env.Recipients, queue.Recipient{Addr: a})
	}
	w, err := r.q.Create(env)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: all hands\r\n\r\nbody\r\n"))
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return w.ID()
}

// attempt waits (bounded) for the categorizer's results of one attempt.
func (r *localRig) attempt(t *testing.T) []queue.Result {
	t.Helper()
	select {
	case res := <-r.results:
		return res
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery attempt within 10 s")
		return nil
	}
}

// copies counts the files in each mailbox's new/.
func (r *localRig) copies(t *testing.T) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, a := range r.boxes {
		ents, err := os.ReadDir(filepath.Join(r.base, a, "Maildir", "new"))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		n[a] = len(ents)
	}
	return n
}

// The copies of one message for many local mailboxes (a group's
// members) are made durable together: one flush of the mailboxes' file
// system for all of them, not one per copy or per few, and only then
// are they reported delivered.
func TestLocalCopiesShareOneFlush(t *testing.T) {
	r := newLocalRig(t, 40)
	r.send(t)
	res := r.attempt(t)
	if len(res) != 40 {
		t.Fatalf("%d results, want 40", len(res))
	}
	for _, x := range res {
		if x.State != queue.Delivered {
			t.Fatalf("recipient %d: %v %s", x.Index, x.State, x.Reply)
		}
	}
	if n := r.flushes.Load(); n != 1 {
		t.Fatalf("%d flushes for 40 copies, want 1", n)
	}
	for a, n := range r.copies(t) {
		if n != 1 {
			t.Errorf("%s has %d copies, want 1", a, n)
		}
	}
}

// When the flush fails, no copy is reported delivered (any of them may
// be lost in a crash): all are deferred, with 4.3.1 for a full disk, and
// the next attempt writes them again under the same names, so that each
// mailbox ends up with exactly one copy.
func TestLocalCopiesNotDeliveredUntilFlushed(t *testing.T) {
	r := newLocalRig(t, 12)
	full := error(syscall.ENOSPC)
	r.fail.Store(&full)
	id := r.send(t)
	for _, x := range r.attempt(t) {
		if x.State != queue.Pending || x.Reply.Code != 451 || x.Reply.EnhancedStatus() != "4.3.1" {
			t.Fatalf("recipient %d after a failed flush: %v %s, want pending 451 4.3.1", x.Index, x.State, x.Reply)
		}
	}
	r.fail.Store(nil)
	testkit.Eventually(10*time.Second, func() bool { return r.q.Retry(id) == 1 })
	for _, x := range r.attempt(t) {
		if x.State != queue.Delivered {
			t.Fatalf("recipient %d on the retry: %v %s", x.Index, x.State, x.Reply)
		}
	}
	for a, n := range r.copies(t) {
		if n != 1 {
			t.Errorf("%s has %d copies, want 1", a, n)
		}
	}
	if n := r.flushes.Load(); n != 2 {
		t.Errorf("%d flushes for two attempts, want 2", n)
	}
	if b, err := os.ReadFile(filepath.Join(r.base, r.boxes[0], "Maildir", "new", firstFile(t, r, r.boxes[0]))); err != nil || !strings.Contains(string(b), "all hands") {
		t.Errorf("copy: %q, %v", b, err)
	}
}

func firstFile(t *testing.T, r *localRig, box string) string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(r.base, box, "Maildir", "new"))
	if err != nil || len(ents) == 0 {
		t.Fatalf("no copy for %s: %v", box, err)
	}
	return ents[0].Name()
}
