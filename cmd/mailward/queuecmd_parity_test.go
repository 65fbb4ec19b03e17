package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"mailward/admin"
	"mailward/internal/testkit"
	"mailward/queue"
)

// list prints sizes, the age of each queue's oldest message, a total line
// and the frozen count, exactly so.
func TestQueueListExactOutput(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ov := &admin.Overview{Messages: 3, Ready: 0, InFlight: 0, Waiting: 2, Frozen: 1, Bytes: 3 << 20,
		Oldest: now.Add(-90 * time.Minute),
		Queues: []admin.Queue{
			{Name: "local", State: "ready", Messages: 1, Recipients: 1, Bytes: 512, Oldest: now.Add(-5 * time.Second)},
			{Name: "example.net", State: "suspended", Messages: 2, Recipients: 3, Bytes: 3<<20 - 512,
				Oldest: now.Add(-90 * time.Minute), NextRetry: now.Add(time.Minute), LastError: "451 4.4.0 no answer"},
		}}
	var b bytes.Buffer
	o := &queueOut{w: &b, now: now, loc: time.UTC}
	if err := o.list(ov); err != nil {
		t.Fatal(err)
	}
	want := `QUEUE        STATE      MESSAGES  RECIPIENTS       SIZE   OLDEST  NEXT RETRY
local        ready             1           1      512 B       5s  -
example.net  suspended         2           3    3.0 MiB    1h30m  2026-12-01 10:01:00 (in 1m)
    last error: 451 4.4.0 no answer
TOTAL                          3           4    3.0 MiB    1h30m

3 message(s) queued in 2 delivery queue(s)
    0 being delivered, 0 ready for an attempt, 2 waiting for their next retry
    1 frozen: not attempted until unfrozen (mailward queue unfreeze ID)
`
	if b.String() != want {
		t.Errorf("list:\n%s\nwant:\n%s", b.String(), want)
	}
	for n, w := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 30: "5.0 GiB"} {
		if got := size(n); got != w {
			t.Errorf("size(%d) = %q, want %q", n, got, w)
		}
	}
}

// freeze and unfreeze through the running server's socket: a frozen
// message is shown frozen, is not attempted by a retry of its queue, and
// is attempted once unfrozen; find matches across queues, exactly so.
func TestQueueFreezeAndFind(t *testing.T) {
	path, cfg := writeConfig(t)
	q, enqueue := openQueue(t, cfg)
	attempts := make(chan string, 16)
	handler := func(ctx context.Context, m *queue.Message) []queue.Result {
		attempts <- m.Env.ID
		var out []queue.Result
		for _, i := range m.Pending() {
			a := m.Env.Recipients[i].Addr
			out = append(out, queue.Result{Index: i, State: queue.Pending, Reply: lastReplyKB979174(),
				Hop: a[strings.IndexByte(a, '@')+1:]})
		}
		return out
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	if err := q.Start(ctx, handler, func(*queue.Message, []int) error { return nil }, nil); err != nil {
		t.Fatal(err)
	}
	sock := adminSocket(cfg)
	actx, acancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- admin.New(q, nil, nil).Serve(actx, sock) }()
	defer func() { acancel(); <-done }()

	id1 := enqueue("bob@example.net")
	id2 := enqueue("carol@example.org", "bob@example.net")
	settled := func(id string) func() bool {
		return func() bool {
			v, err := admin.Dial(sock).Message(context.Background(), id)
			return err == nil && !v.InFlight && !v.NextRetry.IsZero()
		}
	}
	testkit.WaitFor(t, 10*time.Second, "both deferred", func() bool { return settled(id1)() && settled(id2)() })
	for len(attempts) > 0 {
		<-attempts
	}

	out, _, err := run(t, "freeze", id1, "--config", path)
	if want := "message " + id1 + ": frozen: it is not attempted until it is unfrozen, also after a restart\n"; err != nil || out != want {
		t.Errorf("freeze (%v): %q, want %q", err, out, want)
	}
	out, _, err = run(t, "freeze", id1, "--config", path)
	if want := "message " + id1 + ": was already frozen\n"; err != nil || out != want {
		t.Errorf("freeze again (%v): %q, want %q", err, out, want)
	}
	if _, _, err := run(t, "freeze", "0000000000000000000", "--config", path); err == nil || !strings.Contains(err.Error(), "no message") {
		t.Errorf("freeze of an unknown message: %v", err)
	}
	out, _, _ = run(t, "show", "example.net", "--config", path)
	if !strings.Contains(out, "Message "+id1+" from alice@example.test, 17 B, arrived ") || !strings.Contains(out, " [frozen]\n") {
		t.Errorf("show does not mark the frozen message:\n%s", out)
	}
	out, _, _ = run(t, "list", "--config", path)
	if !strings.Contains(out, "\n    1 frozen: not attempted until unfrozen") || !strings.Contains(out, "\nTOTAL ") {
		t.Errorf("list:\n%s", out)
	}
	// A retry of the queue attempts the other message only.
	if _, _, err := run(t, "retry", "example.net", "--config", path); err != nil {
		t.Fatal(err)
	}
	if got := <-attempts; got != id2 {
		t.Errorf("retry attempted %s; want only %s", got, id2)
	}
	testkit.WaitFor(t, 10*time.Second, "message 2 deferred again", settled(id2))
	select {
	case got := <-attempts:
		t.Errorf("attempted %s while %s is frozen", got, id1)
	default:
	}

	out, _, err = run(t, "find", "--to", "CAROL@", "--config", path)
	wantFind := id2 + "  from alice@example.test, 17 B, arrived "
	if err != nil || !strings.HasPrefix(out, wantFind) || !strings.Contains(out, "\n    subject: x\n    carol@example.org  pending 4.4.0 in queue example.org, 2 attempt(s)\n    bob@example.net  pending 4.4.0 in queue example.net, 2 attempt(s)\n1 matching message(s)\n") {
		t.Errorf("find --to (%v):\n%s", err, out)
	}
	out, _, err = run(t, "find", "--to", "bob@example.net", "--config", path)
	if err != nil || strings.Count(out, "  from alice@example.test") != 2 || !strings.Contains(out, " [frozen]\n") ||
		!strings.HasSuffix(out, "\n2 matching message(s)\n") {
		t.Errorf("find across queues (%v):\n%s", err, out)
	}
	out, _, err = run(t, "find", "--from", "nobody", "--config", path)
	if err != nil || out != "0 matching message(s)\n" {
		t.Errorf("find nothing (%v): %q", err, out)
	}
	if _, _, err := run(t, "find", "--config", path); err == nil || !strings.Contains(err.Error(), "give --from, --to or --subject") {
		t.Errorf("find without a filter: %v", err)
	}

	out, _, err = run(t, "unfreeze", id1, "--config", path)
	if want := "message " + id1 + ": unfrozen: it is attempted now\n"; err != nil || out != want {
		t.Errorf("unfreeze (%v): %q, want %q", err, out, want)
	}
	select {
	case got := <-attempts:
		if got != id1 {
			t.Errorf("after the unfreeze %s was attempted, want %s", got, id1)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("the unfrozen message was not attempted within 10 s")
	}
}
