package e2e

// A server that starts with a backlog answers at once: the virtual
// servers accept mail and the admin socket answers while the spool loads
// in the background, and every message is scheduled exactly once.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mailward/internal/durable"
	"mailward/internal/testkit"
	"mailward/queue"
)

// writeBacklog commits n messages to the spool under dataDir with the
// queue package, as a server would have left them, each to one recipient
// at remote.test with the subject backlog-NNNNN. Nothing is flushed: no
// crash happens before the server reads them.
func writeBacklog(t *testing.T, dataDir string, n int) {
	t.Helper()
	q, err := queue.Open(queue.Options{Dir: filepath.Join(dataDir, "queue"), Workers: 1, RetrySchedule: []time.Duration{time.Hour},
		FSSync: durable.NewGroup(func() error { return nil })})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var next atomic.Int64
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				env := &queue.Envelope{From: "alice@example.test", ClientIP: "127.0.0.1", Helo: "client.test", VirtualServer: "default",
					Body: "7BIT", Recipients: []queue.Recipient{{Addr: "bob@remote.test"}}}
				w, err := q.Create(env)
				if err != nil {
					errs <- err
					return
				}
				subject := fmt.Sprintf("backlog-%05d", i)
				io.WriteString(w, strings.ReplaceAll(message("alice@example.test", "bob@remote.test", subject, "queued before the start"), "\n", "\r\n"))
				if err := w.Commit(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

var (
	listTotalRE  = regexp.MustCompile(`(?m)^(\d+) message\(s\) queued in \d+ delivery queue\(s\)$`)
	listCountsRE = regexp.MustCompile(`(?m)^    ([\d,]+) being delivered, ([\d,]+) ready for an attempt, ([\d,]+) waiting for their next retry$`)
)

// queueList runs "mailward queue list" and requires the answer to come
// from the running server (its admin socket), not from the spool.
func queueList(t *testing.T, s *server) string {
	t.Helper()
	out, errOut, err := runCLI(s, "queue", "list", "--config", s.Config)
	if err != nil || strings.Contains(errOut, "not running") {
		t.Fatalf("mailward queue list: the admin socket did not answer (%v):\n%s%s", err, out, errOut)
	}
	return out
}

// listCounts reads the total and the ready / in flight / waiting counts
// from queue list's output (-1 where absent).
func listCounts(out string) (total, inflight, ready, waiting int) {
	total, inflight, ready, waiting = -1, -1, -1, -1
	num := func(s string) int { n, _ := strconv.Atoi(strings.ReplaceAll(s, ",", "")); return n }
	if m := listTotalRE.FindStringSubmatch(out); m != nil {
		total = num(m[1])
	}
	if m := listCountsRE.FindStringSubmatch(out); m != nil {
		inflight, ready, waiting = num(m[1]), num(m[2]), num(m[3])
	}
	return
}

// TestBacklogLoadsInBackground: 2,000 messages queued for a smart host
// that is down. The loader is held (test hook) before it lists the spool
// and again halfway. Meanwhile the server greets, the admin socket
// answers with the loading state, and 20 new messages are accepted; they
// are in active/ when the loader lists it, and must not be scheduled a
// second time. After the load every message waits exactly once for its
// retry, and when the smart host is back each is delivered exactly once.
func TestBacklogLoadsInBackground(t *testing.T) {
	const backlog, held, fresh = 2000, 1000, 20
	dir := t.TempDir()
	sinkPort := strconv.Itoa(testkit.FreePort(t)) // nothing listens there until the end
	hop := "127.0.0.1:" + sinkPort
	writeBacklog(t, filepath.Join(dir, "data"), backlog)
	gate := filepath.Join(dir, "gate")
	if err := os.Mkdir(gate, 0o700); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	cfg := remoteConfig("", 0)
	cfg.Queue.RetrySchedule = []string{"1h"}
	cfg.Delivery.SmartHost = hop
	// MAILWARD_TEST_LOAD_HOLD holds the spool loader at fixed points
	// (queue/loadhold_hook.go): only the test build (tag mailwardtest,
	// which TestMain builds) reads it.
	s := startServerEnv(t, dir, cfg, []string{fmt.Sprintf("MAILWARD_TEST_LOAD_HOLD=%d:%s", held, gate)})
	t.Logf("greeting 220 %v after the start, with %d messages in the spool", time.Since(began).Round(time.Millisecond), backlog)

	// The loader has not listed active/ yet: the admin socket answers
	// and says so, and new mail is accepted.
	if out := queueList(t, s); !strings.HasPrefix(out, "loading: listing the spool") {
		t.Errorf("queue list before the listing:\n%s", out)
	}
	var freshIDs []string
	for i := 0; i < fresh; i++ {
		freshIDs = append(freshIDs, relayMsg(t, s, "<alice@example.test>", "<bob@remote.test>", fmt.Sprintf("fresh-%02d", i)))
	}
	if err := os.WriteFile(filepath.Join(gate, "list"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	// Halfway: the count covers the loaded messages and the new ones.
	var out string
	testkit.WaitFor(t, 20*time.Second, "queue list to show the load halfway", func() bool {
		out = queueList(t, s)
		return strings.HasPrefix(out, fmt.Sprintf("loading: %s of ", thousands(held)))
	})
	if want := fmt.Sprintf("loading: %s of %s messages (", thousands(held), thousands(backlog)); !strings.HasPrefix(out, want) {
		t.Errorf("queue list halfway says %q, want %q: the messages received during the load are not part of it",
			strings.SplitN(out, "(", 2)[0], want)
	}
	if total, _, _, _ := listCounts(out); total != held+fresh {
		t.Errorf("queue list halfway counts %d messages, want %d loaded + %d new:\n%s", total, held, fresh, out)
	}
	t.Logf("queue list while loading:\n%s", out)
	if err := os.WriteFile(filepath.Join(gate, "load"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	// Loaded and settled: every message waits for its retry, once.
	var total, inflight, ready, waiting int
	testkit.WaitFor(t, 25*time.Second, "the load to finish and every message to be tried once", func() bool {
		out = queueList(t, s)
		total, inflight, ready, waiting = listCounts(out)
		return !strings.Contains(out, "loading") && total == backlog+fresh && inflight == 0 && ready == 0
	})
	if waiting != backlog+fresh {
		t.Errorf("%d retry entries for %d messages: some message is scheduled twice\n%s", waiting, total, out)
	}
	if recs := s.Events(2004); len(recs) != 1 || recs[0].Fields["count"] != strconv.Itoa(backlog) {
		t.Errorf("events 2004 (load started) %v, want one with count %d", recs, backlog)
	}
	if recs := s.Events(2002); len(recs) != 1 || recs[0].Fields["count"] != strconv.Itoa(backlog) {
		t.Errorf("events 2002 (load finished) %v, want one with count %d (the new messages are not part of the load)", recs, backlog)
	}

	// The smart host is back: each message reaches it exactly once.
	ln, err := net.Listen("tcp", hop)
	if err != nil {
		t.Fatalf("smart host on %s: %v", hop, err)
	}
	sink := testkit.StartSMTP(t, testkit.SMTP{Listener: ln, Name: "smarthost.test"})
	res := queueCLI(t, s, "retry", hop, "--json")
	var r struct{ Count int }
	if err := json.Unmarshal([]byte(res), &r); err != nil || r.Count != backlog+fresh {
		t.Errorf("queue retry %s made %d message(s) ready, want %d (%v): %s", hop, r.Count, backlog+fresh, err, res)
	}
	testkit.WaitFor(t, 25*time.Second, "every message at the smart host and the queue empty", func() bool {
		return sink.Count() >= backlog+fresh && len(s.QueueActive()) == 0
	})
	time.Sleep(200 * time.Millisecond) // a duplicate in the making lands
	seen := map[string]int{}
	for _, m := range sink.Messages() {
		seen[m.Subject()]++
	}
	for subj, n := range seen {
		if n != 1 {
			t.Errorf("%s reached the smart host %d times", subj, n)
		}
	}
	if len(seen) != backlog+fresh || sink.Count() != backlog+fresh {
		t.Errorf("the smart host has %d messages (%d distinct), want %d", sink.Count(), len(seen), backlog+fresh)
	}
	for _, id := range freshIDs {
		if n := len(s.EventsFor(3000, "queue_id", id)); n != 1 {
			t.Errorf("new message %s delivered %d times, want 1", id, n)
		}
	}
	t.Logf("whole test %v", time.Since(began).Round(time.Millisecond))
}

// thousands writes n as queue list does: 100,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
