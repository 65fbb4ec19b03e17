package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mailward/admin"
	"mailward/config"
	"mailward/deliver"
	"mailward/internal/testkit"
	"mailward/queue"
	"mailward/reply"
)

const lastErrorKB979174 = `451 4.4.0 Primary target IP address responded with: "454 4.7.0 Temporary authentication failure." ` +
	`Attempted failover to alternate host, but that did not succeed. Either there are no alternate hosts, ` +
	`or delivery failed to all alternate hosts.`

func writeConfig(t *testing.T) (string, *config.Config) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "mailward.toml")
	conf := `
[server]
fqdn = "mx1.example.test"
data_dir = "data"
[[domain]]
name = "example.test"
[[virtual_server]]
name = "default"
address = "127.0.0.1:2525"
`
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
	return path, cfg
}

func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := runQueue(&out, &errb, args)
	return out.String(), errb.String(), err
}

// openQueue returns a queue on the configuration's spool and a function
// that adds a message.
func openQueue(t *testing.T, cfg *config.Config) (*queue.Queue, func(rcpts ...string) string) {
	t.Helper()
	q, err := queue.Open(queue.Options{Dir: filepath.Join(cfg.Server.DataDir, "queue"), Workers: 2,
		RetrySchedule: []time.Duration{time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	return q, func(rcpts ...string) string {
		env := &queue.Envelope{From: "alice@example.test"}
		for _, a := range rcpts {
			env.Recipients = append(env.Recipients, queue.Recipient{Addr: a})
		}
		w, err := q.Create(env)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, "Subject: x\r\n\r\nx\r\n")
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		return w.ID()
	}
}

func TestQueueCommands(t *testing.T) {
	path, cfg := writeConfig(t)
	q, enqueue := openQueue(t, cfg)
	hops := deliver.NewHops()
	var calls atomic.Int32
	handler := func(ctx context.Context, m *queue.Message) []queue.Result {
		calls.Add(1)
		var out []queue.Result
		for _, i := range m.Pending() {
			out = append(out, queue.Result{Index: i, State: queue.Pending, Reply: lastReplyKB979174(),
				RemoteMTA: "mx1.example.net", Hop: "example.net"})
		}
		hops.Record("example.net", lastErrorKB979174, time.Now())
		return out
	}
	bounced := make(chan string, 4)
	bouncer := func(m *queue.Message, failed []int) error { bounced <- m.Env.ID; return nil }
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	if err := q.Start(ctx, handler, bouncer, nil); err != nil {
		t.Fatal(err)
	}
	sock := adminSocket(cfg)
	if sock != filepath.Join(cfg.Server.DataDir, "admin.sock") {
		t.Fatalf("adminSocket = %s", sock)
	}
	actx, acancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- admin.New(q, hops, nil).Serve(actx, sock) }()
	defer func() { acancel(); <-done }()

	id1 := enqueue("bob@example.net", "carol@example.net")
	id2 := enqueue("dave@example.net")
	testkit.WaitFor(t, 10*time.Second, "both messages deferred", func() bool {
		d, err := admin.Dial(sock).Queue(context.Background(), "example.net")
		if err != nil || len(d.Messages) != 2 {
			return false
		}
		for _, m := range d.Messages {
			if m.InFlight || m.NextRetry.IsZero() {
				return false
			}
		}
		return true
	})

	out, _, err := run(t, "list", "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("mailward queue list:\n%s", out)
	lines := strings.Split(out, "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "QUEUE") || !strings.HasPrefix(lines[1], "example.net") ||
		!strings.Contains(lines[1], "retry") || !strings.Contains(lines[1], " 2 ") || !strings.Contains(lines[1], "(in ") {
		t.Errorf("list:\n%s", out)
	}
	// The whole last error, on its own indented line.
	if lines[2] != "    last error: "+lastErrorKB979174 {
		t.Errorf("last error line %q", lines[2])
	}
	if !strings.Contains(out, "\n2 message(s) queued in 1 delivery queue(s)\n") {
		t.Errorf("list footer:\n%s", out)
	}

	out, _, err = run(t, "list", "--json", "--config", path)
	var qs []admin.Queue
	if err != nil || json.Unmarshal([]byte(out), &qs) != nil || len(qs) != 1 || qs[0].LastError != lastErrorKB979174 {
		t.Errorf("list --json (%v):\n%s", err, out)
	}

	// Flags after the queue name work too.
	out, _, err = run(t, "show", "example.net", "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("mailward queue show example.net:\n%s", out)
	for _, want := range []string{"Queue example.net: retry, 2 message(s), 3 recipient(s)", "Message " + id1, "Message " + id2,
		"    carol@example.net  pending 4.4.0, 1 attempt(s), last ", "remote MTA mx1.example.net",
		"        last error: " + lastErrorKB979174 + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if _, _, err := run(t, "show", "nowhere.example", "--config", path); err == nil || !strings.Contains(err.Error(), "no delivery queue") {
		t.Errorf("show unknown queue: %v", err)
	}

	out, _, err = run(t, "suspend", "example.net", "--config", path)
	if err != nil || !strings.HasPrefix(out, "queue example.net: deliveries through this queue are held") {
		t.Errorf("suspend (%v): %s", err, out)
	}
	if out, _, _ := run(t, "list", "--config", path); !strings.Contains(out, "suspended") {
		t.Errorf("list after suspend:\n%s", out)
	}
	n0 := calls.Load()
	out, _, err = run(t, "resume", "example.net", "--config", path, "--json")
	var res admin.Result
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || res.Count != 2 || res.Action != "resume" {
		t.Errorf("resume --json (%v): %s", err, out)
	}
	testkit.WaitFor(t, 10*time.Second, "the resumed messages to be attempted", func() bool { return calls.Load() >= n0+2 })
	// The handler has returned, but the attempt is recorded after it: a
	// message in flight cannot be deleted (ErrInFlight), so wait.
	testkit.WaitFor(t, 10*time.Second, "message 2 deferred", func() bool {
		v, err := admin.Dial(sock).Message(context.Background(), id2)
		return err == nil && !v.InFlight && !v.NextRetry.IsZero()
	})

	out, _, err = run(t, "delete", id2, "--config", path)
	if err != nil || !strings.Contains(out, "message "+id2+": deleted without a non-delivery report") {
		t.Errorf("delete (%v): %s", err, out)
	}
	testkit.WaitFor(t, 10*time.Second, "message 1 deferred", func() bool {
		v, err := admin.Dial(sock).Message(context.Background(), id1)
		return err == nil && !v.InFlight && !v.NextRetry.IsZero()
	})
	out, _, err = run(t, "delete", "--ndr", id1, "--config", path)
	if err != nil || !strings.Contains(out, "non-delivery report") {
		t.Errorf("delete --ndr (%v): %s", err, out)
	}
	select {
	case id := <-bounced:
		if id != id1 {
			t.Errorf("bounced %s, want %s", id, id1)
		}
	default:
		t.Errorf("delete --ndr did not bounce")
	}
	if _, _, err := run(t, "delete", id1, "--config", path); err == nil || !strings.Contains(err.Error(), "no message") {
		t.Errorf("delete of a deleted message: %v", err)
	}
	if out, _, _ := run(t, "list", "--config", path); !strings.Contains(out, "\n0 message(s) queued") {
		t.Errorf("list after deleting all:\n%s", out)
	}
}

func TestQueueNotRunning(t *testing.T) {
	path, cfg := writeConfig(t)
	// A message in the spool, and no server.
	q, enqueue := openQueue(t, cfg)
	_ = q
	id := enqueue("bob@example.net")

	out, errOut, err := run(t, "list", "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut, "mailward is not running (cannot connect to "+adminSocket(cfg)+"): ") ||
		!strings.Contains(errOut, "(server not running: read from the spool)") {
		t.Errorf("stderr: %s", errOut)
	}
	if !strings.HasPrefix(out, id+"  from alice@example.test") || !strings.Contains(out, "\n1 message(s) queued\n") {
		t.Errorf("spool list:\n%s", out)
	}
	for _, args := range [][]string{{"show", "example.net"}, {"retry", "example.net"}, {"delete", id}} {
		_, _, err := run(t, append(args, "--config", path)...)
		if err == nil || !strings.HasPrefix(err.Error(), "mailward is not running (cannot connect to "+adminSocket(cfg)+"): ") {
			t.Errorf("%v without a server: %v", args, err)
		}
	}
	if _, _, err := run(t, "show", "--config", path); err == nil {
		t.Errorf("show without a queue name accepted")
	}
	if _, _, err := run(t, "frobnicate"); err == nil {
		t.Errorf("unknown subcommand accepted")
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

// While the spool found at start is loading, list says so first (in JSON
// mode on stderr, the JSON staying the array of queues); a big queue is
// shown a page at a time with the command for the next page.
func TestQueueListLoadingAndPages(t *testing.T) {
	path, cfg := writeConfig(t)
	q, enqueue := openQueue(t, cfg)
	for i := 0; i < 3; i++ {
		enqueue("bob@example.net")
	}
	sock := adminSocket(cfg)
	actx, acancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- admin.New(q, nil, nil).Serve(actx, sock) }()
	defer func() { acancel(); <-done }()
	testkit.WaitFor(t, 5*time.Second, "the admin socket", func() bool { _, err := os.Stat(sock); return err == nil })

	// Not started yet: the spool is not even listed.
	out, _, err := run(t, "list", "--config", path)
	if err != nil || !strings.HasPrefix(out, "loading: listing the spool (") {
		t.Errorf("list before the load (%v):\n%s", err, out)
	}
	out, errOut, err := run(t, "list", "--json", "--config", path)
	var qs []admin.Queue
	if err != nil || json.Unmarshal([]byte(out), &qs) != nil || !strings.Contains(errOut, "loading: listing the spool") {
		t.Errorf("list --json before the load (%v): %s / %s", err, out, errOut)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	if err := q.Start(ctx, func(context.Context, *queue.Message) []queue.Result { return nil }, nil, nil); err != nil {
		t.Fatal(err)
	}
	<-q.Loaded()
	out, _, err = run(t, "list", "--config", path)
	if err != nil || strings.Contains(out, "loading") || !strings.Contains(out, "\n3 message(s) queued in 1 delivery queue(s)\n") {
		t.Errorf("list after the load (%v):\n%s", err, out)
	}
	out, _, err = run(t, "show", "submission", "--limit", "2", "--config", path)
	if err != nil || strings.Count(out, "\nMessage ") != 2 || !strings.Contains(out, "2 of the queue's 3 message(s) shown, oldest first; the next ones: mailward queue show submission --after ") {
		t.Errorf("show --limit 2 (%v):\n%s", err, out)
	}
	next := out[strings.LastIndex(out, "--after ")+len("--after ") : len(out)-1]
	out, _, err = run(t, "show", "submission", "--after", next, "--config", path)
	if err != nil || strings.Count(out, "\nMessage ") != 1 || strings.Contains(out, "--after") {
		t.Errorf("show --after %s (%v):\n%s", next, err, out)
	}
	if _, _, err := run(t, "show", "submission", "--limit", "0", "--config", path); err == nil {
		t.Errorf("show --limit 0 accepted")
	}
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 40000: "40,000", 100000: "100,000", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
