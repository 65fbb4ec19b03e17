package deliver

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"mailward/events"
	"mailward/queue"
	"mailward/smtpclient"
)

// attempt queues env with content and runs one attempt of r.Deliver on
// the jobs jobsFor names, through a real queue, with an event log of its
// own: it returns the outcomes and the log's path.
func attempt(t *testing.T, r *Remote, env *queue.Envelope, content string, jobsFor func(m *queue.Message) []Job) ([]queue.Result, string) {
	t.Helper()
	dir := t.TempDir()
	evPath := filepath.Join(dir, "events.log")
	ev, err := events.OpenLog(nil, nil, evPath, events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ev.Close() })
	r.Events = ev
	if r.Hops == nil {
		r.Hops = NewHops()
	}
	if r.HeloName == "" {
		r.HeloName = "mx1.example.test"
	}
	r.Timeouts = smtpclient.Timeouts{Connect: 5 * time.Second, Greeting: 5 * time.Second, Command: 5 * time.Second,
		DataInit: 5 * time.Second, DataBlock: 5 * time.Second, DataTerm: 5 * time.Second}
	t.Cleanup(r.Close)
	q, err := queue.Open(queue.Options{Dir: filepath.Join(dir, "queue"), Workers: 1, RetrySchedule: []time.Duration{time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []queue.Result, 1)
	handle := func(ctx context.Context, m *queue.Message) []queue.Result {
		res := r.Deliver(ctx, m, jobsFor(m))
		got <- res
		return res
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	if err := q.Start(ctx, handle, func(*queue.Message, []int) error { return nil }, nil); err != nil {
		t.Fatal(err)
	}
	env.ClientIP, env.Helo, env.VirtualServer = "127.0.0.1", "client.test", "default"
	w, err := q.Create(env)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(content))
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-got:
		return res, evPath
	case <-time.After(20 * time.Second):
		t.Fatal("no delivery attempt within 20 s")
		return nil, ""
	}
}
