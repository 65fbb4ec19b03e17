package admin

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"mailward/deliver"
	"mailward/events"
	"mailward/internal/testkit"
	"mailward/queue"
	"mailward/reply"
)

// lastErrorKB979174 is KB979174's last error of a remote delivery queue.
const lastErrorKB979174 = `451 4.4.0 Primary target IP address responded with: "454 4.7.0 Temporary authentication failure." ` +
	`Attempted failover to alternate host, but that did not succeed. Either there are no alternate hosts, ` +
	`or delivery failed to all alternate hosts.`

const hop = "example.net"

// rig is a running queue whose handler defers everything to hop, with
// the admin server on a socket in a temporary directory.
type rig struct {
	t       *testing.T
	q       *queue.Queue
	hops    *deliver.Hops
	c       *Client
	sock    string
	evPath  string
	calls   atomic.Int32
	hold    chan struct{} // when not nil, the handler waits on it
	mu      sync.Mutex
	bounced map[string][]int
	stop    func()
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	r := &rig{t: t, hops: deliver.NewHops(), bounced: map[string][]int{}}
	r.evPath = filepath.Join(dir, "events.log")
	f, err := events.Open(r.evPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	ev := events.New(nil, map[string]events.Level{}, f)
	q, err := queue.Open(queue.Options{Dir: filepath.Join(dir, "queue"), Workers: 2,
		RetrySchedule: []time.Duration{time.Hour}, MaxAge: 48 * time.Hour, Events: ev})
	if err != nil {
		t.Fatal(err)
	}
	r.q = q
	qctx, qcancel := context.WithCancel(context.Background())
	if err := q.Start(qctx, r.handle, r.bounce, nil); err != nil {
		t.Fatal(err)
	}
	r.sock = filepath.Join(dir, "admin.sock")
	actx, acancel := context.WithCancel(context.Background())
	done := serveAsync(actx, New(q, r.hops, ev), r.sock)
	testkit.WaitFor(t, 10*time.Second, "the admin socket to appear", func() bool { _, err := os.Stat(r.sock); return err == nil })
	r.c = Dial(r.sock)
	r.stop = func() {
		acancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return within 10 s of cancel")
		}
		qcancel()
		q.Wait()
	}
	t.Cleanup(func() {
		if r.stop != nil {
			r.stop()
		}
	})
	return r
}

func serveAsync(ctx context.Context, s *Server, sock string) chan error {
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, sock) }()
	return done
}

func (r *rig) handle(ctx context.Context, m *queue.Message) []queue.Result {
	r.calls.Add(1)
	if r.hold != nil {
		select {
		case <-r.hold:
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
		}
	}
	var out []queue.Result
	for _, i := range m.Pending() {
		out = append(out, queue.Result{Index: i, State: queue.Pending, Reply: lastReplyKB979174(),
			RemoteMTA: "mx1.example.net", Hop: hop})
	}
	r.hops.Record(hop, lastErrorKB979174, time.Now())
	return out
}

func (r *rig) bounce(m *queue.Message, failed []int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bounced[m.Env.ID] = append(r.bounced[m.Env.ID], failed...)
	return nil
}

func (r *rig) enqueue(rcpts ...string) string {
	r.t.Helper()
	env := &queue.Envelope{From: "alice@example.org"}
	for _, a := range rcpts {
		env.Recipients = append(env.Recipients, queue.Recipient{Addr: a})
	}
	w, err := r.q.Create(env)
	if err != nil {
		r.t.Fatal(err)
	}
	io.WriteString(w, "Subject: test\r\n\r\nhello\r\n")
	if err := w.Commit(); err != nil {
		r.t.Fatal(err)
	}
	return w.ID()
}

// settled waits until every message of hop is deferred: back in the retry
// heap, not being delivered.
func (r *rig) settled(n int) *QueueDetail {
	r.t.Helper()
	var d *QueueDetail
	testkit.WaitFor(r.t, 10*time.Second, "the messages to be deferred", func() bool {
		var err error
		d, err = r.c.Queue(context.Background(), hop)
		if err != nil || len(d.Messages) != n {
			return false
		}
		for _, m := range d.Messages {
			if m.InFlight || m.NextRetry.IsZero() {
				return false
			}
		}
		return true
	})
	return d
}

func (r *rig) queue(name string) (Queue, bool) {
	r.t.Helper()
	qs, err := r.c.Queues(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	for _, q := range qs {
		if q.Name == name {
			return q, true
		}
	}
	return Queue{}, false
}

func TestQueueViewer(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	m1 := r.enqueue("bob@example.net", "carol@example.net")
	m2 := r.enqueue("dave@example.net")
	r.settled(2)

	// List: the remote delivery queue with KB979174's last error.
	start := time.Now()
	q, ok := r.queue(hop)
	if !ok {
		t.Fatalf("queue %s not listed", hop)
	}
	if q.State != StateRetry || q.Messages != 2 || q.Recipients != 3 {
		t.Errorf("queue = %+v, want state retry, 2 messages, 3 recipients", q)
	}
	if q.LastError != lastErrorKB979174 {
		t.Errorf("last error = %q, want KB979174's text", q.LastError)
	}
	if !q.NextRetry.After(start.Add(50*time.Minute)) || q.NextRetry.After(start.Add(time.Hour+time.Minute)) {
		t.Errorf("next retry = %v, want about an hour from %v", q.NextRetry, start)
	}
	if q.LastAttempt.IsZero() {
		t.Errorf("last attempt not set")
	}

	// Show: the messages with their recipients in this queue.
	d, err := r.c.Queue(ctx, hop)
	if err != nil {
		t.Fatal(err)
	}
	if d.Queue.Name != hop || len(d.Messages) != 2 || d.Messages[0].ID != m1 || d.Messages[1].ID != m2 {
		t.Fatalf("show = %+v, want messages %s and %s", d, m1, m2)
	}
	if got := len(d.Messages[0].Recipients); got != 2 {
		t.Fatalf("message %s lists %d recipients, want 2", m1, got)
	}
	rc := d.Messages[0].Recipients[1]
	if rc.Address != "carol@example.net" || rc.State != "pending" || rc.Status != "4.4.0" || rc.LastError != lastErrorKB979174 ||
		rc.RemoteMTA != "mx1.example.net" || rc.Attempts != 1 || rc.LastAttempt.IsZero() {
		t.Errorf("recipient = %+v", rc)
	}
	if d.Messages[0].From != "alice@example.org" || d.Messages[0].Arrival.IsZero() || d.Messages[0].NextRetry.IsZero() {
		t.Errorf("message = %+v", d.Messages[0])
	}
	if _, err := r.c.Queue(ctx, "nowhere.example"); !IsNotFound(err) {
		t.Errorf("show unknown queue: err = %v, want not found", err)
	}

	// The whole message view.
	mv, err := r.c.Message(ctx, m2)
	if err != nil {
		t.Fatal(err)
	}
	if mv.ID != m2 || len(mv.Recipients) != 1 || mv.Recipients[0].Hop != hop {
		t.Errorf("message view = %+v", mv)
	}

	// Retry: an attempt happens at once, not in an hour.
	n0 := r.calls.Load()
	res, err := r.c.Retry(ctx, hop)
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 2 || res.Action != "retry" {
		t.Errorf("retry = %+v, want 2 messages", res)
	}
	testkit.WaitFor(t, 10*time.Second, "the retried messages to be attempted", func() bool { return r.calls.Load() >= n0+2 })
	r.settled(2)

	// Suspend.
	if _, err := r.c.Suspend(ctx, hop); err != nil {
		t.Fatal(err)
	}
	if q, _ := r.queue(hop); q.State != StateSuspended {
		t.Errorf("after suspend: state %q, want suspended", q.State)
	}
	if !r.hops.Suspended(hop) {
		t.Errorf("hops do not show %s suspended", hop)
	}
	if _, err := r.c.Suspend(ctx, SubmissionQueue); err == nil {
		t.Errorf("suspending the submission queue was accepted")
	}

	// Resume retries at once.
	n0 = r.calls.Load()
	res, err = r.c.Resume(ctx, hop)
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 2 {
		t.Errorf("resume = %+v, want 2 messages retried", res)
	}
	testkit.WaitFor(t, 10*time.Second, "the resumed queue's messages to be attempted", func() bool { return r.calls.Load() >= n0+2 })
	r.settled(2)
	if q, _ := r.queue(hop); q.State != StateRetry {
		t.Errorf("after resume: state %q, want retry (the hop still fails)", q.State)
	}

	// Delete without an NDR.
	if _, err := r.c.Delete(ctx, m2, false); err != nil {
		t.Fatal(err)
	}
	if q, _ := r.queue(hop); q.Messages != 1 || q.Recipients != 2 {
		t.Errorf("after deleting %s: %+v, want 1 message", m2, q)
	}
	if _, err := r.c.Message(ctx, m2); !IsNotFound(err) {
		t.Errorf("deleted message still shown (err %v)", err)
	}
	if _, err := r.c.Delete(ctx, m2, false); !IsNotFound(err) {
		t.Errorf("second delete: err = %v, want not found", err)
	}

	// Delete with an NDR: the bouncer gets the pending recipients.
	if _, err := r.c.Delete(ctx, m1, true); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	if len(r.bounced) != 1 || !slices.Equal(r.bounced[m1], []int{0, 1}) {
		t.Errorf("bounced = %v, want %s: [0 1]", r.bounced, m1)
	}
	r.mu.Unlock()
	if q, _ := r.queue(hop); q.Messages != 0 || q.State != StateRetry || q.LastError != lastErrorKB979174 {
		t.Errorf("after deleting all: %+v, want a failing queue without messages", q)
	}

	// The socket is 0600.
	fi, err := os.Stat(r.sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a 0600 socket", fi.Mode())
	}

	// Every action is event 2010, naming the caller.
	recs, err := events.Read(r.evPath, events.Filter{ID: events.QueueAction})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rec := range recs {
		got = append(got, rec.Fields["action"]+" "+rec.Fields["target"])
		if rec.Fields["uid"] != strconv.Itoa(os.Getuid()) || rec.Category != "queue" {
			t.Errorf("event %+v: want uid %d, category queue", rec, os.Getuid())
		}
	}
	want := []string{"asked to retry queue " + hop, "asked to suspend queue " + hop, "asked to suspend queue submission",
		"asked to resume queue " + hop, "asked to delete message " + m2, "asked to delete message " + m2,
		"asked to delete message " + m1}
	if !slices.Equal(got, want) {
		t.Errorf("events 2010:\n got %q\nwant %q", got, want)
	}
	if len(recs) > 0 && !strings.HasPrefix(recs[0].Message, "Administrator asked to retry queue example.net via the admin socket: 2 message(s)") {
		t.Errorf("event text %q", recs[0].Message)
	}
	if len(recs) > 5 && !strings.Contains(recs[5].Message, "refused") {
		t.Errorf("a refused delete logs %q", recs[5].Message)
	}
}

func TestDeleteInFlight(t *testing.T) {
	r := newRig(t)
	r.hold = make(chan struct{})
	id := r.enqueue("bob@example.net")
	testkit.WaitFor(t, 10*time.Second, "the attempt to start", func() bool { return r.calls.Load() == 1 })
	_, err := r.c.Delete(context.Background(), id, false)
	if !IsInFlight(err) {
		t.Errorf("delete during delivery: err = %v, want in flight (409)", err)
	}
	close(r.hold)
	r.settled(1)
	if _, err := r.c.Delete(context.Background(), id, false); err != nil {
		t.Errorf("delete after the attempt: %v", err)
	}
}

func TestServeRestartAndStale(t *testing.T) {
	r := newRig(t)
	sock := r.sock
	r.enqueue("bob@example.net")
	r.settled(1)
	// A second server while the first runs must not steal the socket.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := New(r.q, r.hops, nil).Serve(ctx, sock); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Serve on a live socket: %v, want in use", err)
	}
	stop := r.stop
	r.stop = nil
	// Stop the admin server (and the queue's workers: the queue's
	// messages stay listed, which is all the servers below need).
	stop()
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after Serve returned: %v", err)
	}
	_, err := r.c.Queues(context.Background())
	var nr *NotRunningError
	if !errors.As(err, &nr) || !strings.HasPrefix(err.Error(), "mailward is not running (cannot connect to "+sock+"): ") {
		t.Errorf("client with no server: %v, want not running", err)
	}

	// A stale socket (a server killed without cleanup) is replaced.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	for i := range 2 {
		actx, acancel := context.WithCancel(context.Background())
		done := serveAsync(actx, New(r.q, r.hops, nil), sock)
		testkit.WaitFor(t, 10*time.Second, "the admin server to answer", func() bool {
			_, err := r.c.Queues(context.Background())
			return err == nil
		})
		if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("serve %d: socket %v %v", i, fi.Mode(), err)
		}
		if q, ok := r.queue(hop); !ok || q.Messages != 1 {
			t.Errorf("serve %d: queue %+v", i, q)
		}
		acancel()
		if err := <-done; err != nil {
			t.Errorf("serve %d: %v", i, err)
		}
	}

	// Not a socket: never removed.
	os.WriteFile(sock, []byte("x"), 0o600)
	if err := New(r.q, r.hops, nil).Serve(ctx, sock); err == nil {
		t.Errorf("Serve over a regular file succeeded")
	}
	if b, _ := os.ReadFile(sock); string(b) != "x" {
		t.Errorf("the regular file at the socket path was touched")
	}
}

func TestPeerCredentials(t *testing.T) {
	if !permitted(0, 1000) || !permitted(1000, 1000) || permitted(1001, 1000) || permitted(65534, 0) {
		t.Errorf("permitted: root and self only")
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[0]), "a")
	defer f.Close()
	defer unix.Close(fds[1])
	c, err := net.FileConn(f)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cred, err := peerCred(c.(*net.UnixConn))
	if err != nil {
		t.Fatal(err)
	}
	if cred.Uid != uint32(os.Getuid()) || cred.Pid != int32(os.Getpid()) {
		t.Errorf("peer credentials %+v, want uid %d pid %d", cred, os.Getuid(), os.Getpid())
	}
}

func TestSummarize(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	sums := []queue.HopSummary{
		{Hop: "", Messages: 1, Recipients: 1},
		{Hop: deliver.LocalHop, Messages: 2, Recipients: 2, NextRetry: now.Add(-time.Second),
			LastError: "later error", LastErrorAt: now},
		{Hop: "later.example", Messages: 1, Recipients: 3, NextRetry: now.Add(time.Hour), RetryLater: true},
	}
	known := []deliver.HopState{
		{Name: "held.example", Suspended: true},
		{Name: "ok.example", LastAttempt: now},
		{Name: "bad.example", Failing: true, LastError: lastErrorKB979174},
	}
	qs := summarize(sums, known, "")
	var names []string
	for _, q := range qs {
		names = append(names, q.Name+":"+q.State)
	}
	want := []string{"submission:ready", "local:ready", "bad.example:retry", "held.example:suspended", "later.example:retry"}
	if !slices.Equal(names, want) {
		t.Fatalf("queues %v, want %v", names, want)
	}
	if qs[1].Messages != 2 || qs[1].Recipients != 2 || qs[1].LastError != "later error" || !qs[1].NextRetry.Equal(now.Add(-time.Second)) ||
		!qs[1].LastAttempt.Equal(now) {
		t.Errorf("local = %+v", qs[1])
	}
	if qs[0].Messages != 1 || qs[0].Recipients != 1 || !qs[0].NextRetry.IsZero() {
		t.Errorf("submission = %+v", qs[0])
	}
	if qs[2].LastError != lastErrorKB979174 || qs[2].Messages != 0 {
		t.Errorf("bad.example = %+v", qs[2])
	}
	qs = summarize(sums, []deliver.HopState{{Name: deliver.LocalHop}}, deliver.LocalHop)
	if len(qs) != 1 || qs[0].Name != deliver.LocalHop || qs[0].Messages != 2 {
		t.Errorf("local only: %+v", qs)
	}
}

// The summary and a page of a queue come from the server without a view
// of every message; a big queue is shown a page at a time.
func TestSummaryAndPages(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	var ids []string
	for i := 0; i < 5; i++ {
		ids = append(ids, r.enqueue("bob@example.net", "carol@example.net"))
	}
	r.settled(5)
	o, err := r.c.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if o.Messages != 5 || o.Waiting != 5 || o.Ready != 0 || o.InFlight != 0 || o.Loading != nil || len(o.Queues) != 1 ||
		o.Queues[0].Name != hop || o.Queues[0].Recipients != 10 {
		t.Errorf("summary %+v, want 5 messages waiting in %s, loaded", o, hop)
	}
	var got []string
	after := ""
	for pages := 0; pages < 5; pages++ {
		d, err := r.c.QueuePage(ctx, hop, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if d.Queue.Messages != 5 || len(d.Messages) > 2 {
			t.Fatalf("page after %q: queue %+v with %d messages", after, d.Queue, len(d.Messages))
		}
		for _, m := range d.Messages {
			got = append(got, m.ID)
		}
		if d.Next == "" {
			break
		}
		after = d.Next
	}
	if !slices.Equal(got, ids) {
		t.Errorf("pages gave %v, want %v (oldest first, each once)", got, ids)
	}
	if _, err := r.c.QueuePage(ctx, hop, "", MaxPage+1); err == nil {
		t.Errorf("a page larger than %d was accepted", MaxPage)
	}
}

// The admin socket answers before the queue has loaded the spool (it is
// opened first), and says that it is loading.
func TestAnswersWhileLoading(t *testing.T) {
	dir := t.TempDir()
	q, err := queue.Open(queue.Options{Dir: filepath.Join(dir, "queue"), Workers: 1, RetrySchedule: []time.Duration{time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "admin.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := serveAsync(ctx, New(q, nil, nil), sock)
	defer func() { cancel(); <-done }()
	c := Dial(sock)
	var o *Overview
	testkit.WaitFor(t, 5*time.Second, "the admin socket to answer", func() bool { o, err = c.Summary(context.Background()); return err == nil })
	if o.Loading == nil || o.Loading.Total != -1 {
		t.Errorf("summary before the load: %+v, want loading with the total not known yet", o)
	}
	if _, err := c.Message(context.Background(), "0000000000000ABCDEF"); !IsNotFound(err) || !strings.Contains(err.Error(), "still loading") {
		t.Errorf("an unknown message while loading: %v, want not found and still loading", err)
	}
}

// lastReplyKB979174 is KB979174's last error as the reply delivery records.
func lastReplyKB979174() reply.Reply {
	r, ok := reply.Parse(lastErrorKB979174)
	if !ok {
		panic("lastErrorKB979174 is not a reply")
	}
	return r
}
