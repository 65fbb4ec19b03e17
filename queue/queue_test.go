package queue

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mailward/internal/testkit"
	"mailward/reply"
)

func open(t *testing.T, dir string, mod ...func(*Options)) *Queue {
	t.Helper()
	o := Options{Dir: dir, Workers: 2, RetrySchedule: []time.Duration{10 * time.Millisecond}, MaxAge: time.Hour}
	for _, m := range mod {
		m(&o)
	}
	q, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func enqueue(t *testing.T, q *Queue, env *Envelope, content string) string {
	t.Helper()
	w, err := q.Create(env)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, content)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return w.ID()
}

func testEnv() *Envelope {
	return &Envelope{From: "a@example.test", ClientIP: "127.0.0.1", Helo: "c.test", VirtualServer: "default",
		EnvID: "QQ+1", Ret: "HDRS", Body: "8BITMIME", SMTPUTF8: true, AuthUser: "alice@example.test",
		Recipients: []Recipient{{Addr: "alice@example.test", ORCPT: "rfc822;Alice@example.test", Notify: "SUCCESS,FAILURE"},
			{Addr: `"x y"@example.test`}}}
}

// recorder is a Handler that records what it saw and answers from a script.
type recorder struct {
	mu     sync.Mutex
	seen   []*Message
	bodies []string
	answer func(m *Message, call int) []Result
	calls  int
}

func (r *recorder) handle(_ context.Context, m *Message) []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	f, err := m.Open()
	if err == nil {
		b, _ := io.ReadAll(f)
		f.Close()
		r.bodies = append(r.bodies, string(b))
	}
	r.seen = append(r.seen, m)
	var out []Result
	if r.answer != nil {
		return r.answer(m, r.calls)
	}
	for _, i := range m.Pending() {
		out = append(out, Result{Index: i, State: Delivered, Reply: reply.FromStatus("2.0.0", "")})
	}
	return out
}

func (r *recorder) n() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.seen) }

// waitLoaded waits until the spool found at start is loaded.
func waitLoaded(t *testing.T, q *Queue) {
	t.Helper()
	select {
	case <-q.Loaded():
	case <-time.After(10 * time.Second):
		t.Fatal("the spool was not loaded within 10 s")
	}
}

func activeFiles(t *testing.T, dir string) []string {
	ents, _ := os.ReadDir(filepath.Join(dir, "active"))
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// Committed messages survive a restart with their envelope intact and are
// delivered, flagged Recovered; an uncommitted one is discarded.
func TestCommitSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir)
	id := enqueue(t, q, testEnv(), "Subject: one\r\n\r\nbody\r\n")
	w, err := q.Create(testEnv()) // "crash" before Commit
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "never acknowledged")

	q2 := open(t, dir)
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q2.Wait() }()
	if err := q2.Start(ctx, rec.handle, func(*Message, []int) error { return nil }, nil); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 5*time.Second, "delivery", func() bool { return len(activeFiles(t, dir)) == 0 })
	if rec.n() != 1 {
		t.Fatalf("handler saw %d messages, want 1", rec.n())
	}
	m := rec.seen[0]
	want := testEnv()
	if m.Env.ID != id || !m.Recovered || m.Env.From != want.From || m.Env.EnvID != want.EnvID || m.Env.Ret != "HDRS" ||
		m.Env.Body != "8BITMIME" || !m.Env.SMTPUTF8 || m.Env.AuthUser != want.AuthUser || len(m.Env.Recipients) != 2 ||
		!reflect.DeepEqual(m.Env.Recipients, want.Recipients) {
		t.Fatalf("envelope after restart: %+v", m.Env)
	}
	if rec.bodies[0] != "Subject: one\r\n\r\nbody\r\n" {
		t.Fatalf("content after restart: %q", rec.bodies[0])
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(ents) != 0 {
		t.Fatalf("unacknowledged temporary file kept: %v", ents)
	}
}

// If the directory fsync fails, Commit fails and nothing is queued: the
// client gets 4xx and keeps the message.
func TestCommitFailsWhenDirectoryFsyncFails(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir)
	q.syncer.Flush = func() error { return errors.New("injected EIO") }
	w, err := q.Create(testEnv())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "x")
	if err := w.Commit(); err == nil {
		t.Fatal("Commit succeeded although the directory fsync failed")
	}
	if f := activeFiles(t, dir); len(f) != 0 {
		t.Fatalf("failed commit left %v in active/", f)
	}
}

// Group commit: concurrent commits share directory fsyncs, and each one
// still waits for an fsync that began after its own rename.
func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir)
	var fsyncs atomic.Int32
	q.syncer.Flush = func() error {
		fsyncs.Add(1)
		time.Sleep(20 * time.Millisecond) // a slow disk makes batching visible
		return nil
	}
	const n = 20
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			enqueue(t, q, testEnv(), "x")
		}()
	}
	wg.Wait()
	if got := len(activeFiles(t, dir)); got != n {
		t.Fatalf("%d messages committed, want %d", got, n)
	}
	if f := fsyncs.Load(); f >= n/2 || f < 1 {
		t.Fatalf("%d directory fsyncs for %d concurrent commits: no group commit", f, n)
	}
}

// A deferred recipient is retried; its state is on disk meanwhile; the
// message is removed once everything is final.
func TestDeferThenDeliver(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir)
	rec := &recorder{answer: func(m *Message, call int) []Result {
		if call == 1 {
			return []Result{{Index: 0, State: Delivered, Reply: reply.FromStatus("2.0.0", "")},
				{Index: 1, State: Pending, Reply: reply.FromStatus("4.2.2", "mailbox full")}}
		}
		if p := m.Pending(); len(p) != 1 || p[0] != 1 {
			t.Errorf("retry attempted %v, want only recipient 1", p)
		}
		return []Result{{Index: 1, State: Delivered, Reply: reply.FromStatus("2.0.0", "")}}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx, rec.handle, func(*Message, []int) error { t.Error("unexpected bounce"); return nil }, nil)
	enqueue(t, q, testEnv(), "x")
	testkit.WaitFor(t, 5*time.Second, "retry and removal", func() bool { return rec.n() == 2 && len(activeFiles(t, dir)) == 0 })
}

// Failed recipients are bounced once; a bounce that cannot be queued is
// retried and the message kept meanwhile; expiry turns deferral into 5.4.7.
func TestBounceAndExpiry(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, func(o *Options) { o.MaxAge = 50 * time.Millisecond })
	var bounces [][]int
	var mu sync.Mutex
	failBounce := true
	rec := &recorder{answer: func(m *Message, call int) []Result {
		var out []Result
		for _, i := range m.Pending() {
			if i == 0 {
				out = append(out, Result{Index: 0, State: Failed, Reply: reply.New(550, "5.1.1", "unknown")})
			} else {
				out = append(out, Result{Index: i, State: Pending, Reply: reply.FromStatus("4.4.1", "connection refused")})
			}
		}
		return out
	}}
	bouncer := func(m *Message, failed []int) error {
		mu.Lock()
		defer mu.Unlock()
		if failBounce {
			failBounce = false
			return errors.New("disk full")
		}
		bounces = append(bounces, failed)
		for _, i := range failed {
			if i == 1 && (m.Status[1].Reply.Status != "5.4.7" || m.Status[1].State != Failed) {
				t.Errorf("expired recipient status %+v", m.Status[1])
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx, rec.handle, bouncer, nil)
	enqueue(t, q, testEnv(), "x")
	testkit.WaitFor(t, 5*time.Second, "expiry and removal", func() bool { return len(activeFiles(t, dir)) == 0 })
	mu.Lock()
	defer mu.Unlock()
	// First bounce attempt failed; then recipient 0 bounced; later the
	// expired recipient 1 — each exactly once.
	if len(bounces) != 2 || len(bounces[0]) != 1 || bounces[0][0] != 0 || len(bounces[1]) != 1 || bounces[1][0] != 1 {
		t.Fatalf("bounces %v, want [[0] [1]]", bounces)
	}
}

// A restart in the middle of a partly delivered message resumes only the
// recipients that are not final, and remembers bounces already queued.
func TestStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, func(o *Options) { o.RetrySchedule = []time.Duration{time.Hour} })
	env := testEnv()
	env.Recipients = append(env.Recipients, Recipient{Addr: "carol@example.test"})
	bounced := 0
	rec := &recorder{answer: func(m *Message, call int) []Result {
		return []Result{{Index: 0, State: Delivered, Reply: reply.FromStatus("2.0.0", "")},
			{Index: 1, State: Failed, Reply: reply.FromStatus("5.1.1", "")}, {Index: 2, State: Pending, Reply: reply.FromStatus("4.0.0", "")}}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	q.Start(ctx, rec.handle, func(*Message, []int) error { bounced++; return nil }, nil)
	id := enqueue(t, q, env, "x")
	testkit.WaitFor(t, 5*time.Second, "first attempt", func() bool { return !q.NextRetry(id).IsZero() })
	cancel()
	q.Wait()

	q2 := open(t, dir)
	rec2 := &recorder{}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer func() { cancel2(); q2.Wait() }()
	q2.Start(ctx2, rec2.handle, func(*Message, []int) error { bounced++; return nil }, nil)
	testkit.WaitFor(t, 5*time.Second, "resumed delivery", func() bool { return len(activeFiles(t, dir)) == 0 })
	cancel2()
	q2.Wait() // the workers are done: their writes happened before this
	m := rec2.seen[0]
	if p := m.Pending(); len(p) != 0 || m.Status[0].State != Delivered || m.Status[1].State != Failed || !m.Status[1].Bounced {
		t.Fatalf("state after restart: %+v", m.Status)
	}
	if bounced != 1 {
		t.Fatalf("%d bounces, want 1 (no second NDR after restart)", bounced)
	}
}

func TestCorruptFileIsSetAside(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir)
	os.WriteFile(filepath.Join(dir, "active", "BROKEN"), []byte("not a queue file\n"), 0o600)
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	if err := q.Start(ctx, rec.handle, nil, nil); err != nil {
		t.Fatal(err)
	}
	waitLoaded(t, q)
	if _, err := os.Stat(filepath.Join(dir, "corrupt", "BROKEN")); err != nil {
		t.Fatalf("corrupt file not moved to corrupt/: %v", err)
	}
	if rec.n() != 0 {
		t.Fatal("corrupt file was delivered")
	}
}

func TestEnvelopeRefusesLineBreaks(t *testing.T) {
	q := open(t, t.TempDir())
	env := testEnv()
	env.Helo = "evil\nrcpt x@y"
	if _, err := q.Create(env); err == nil {
		t.Fatal("envelope with a line break accepted")
	}
}
