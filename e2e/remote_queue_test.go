package e2e

// The queue viewer (mailward queue ... over the admin socket) acting on a
// remote delivery queue of the running server.

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
)

// viewerQueue is the part of a queue in "mailward queue list --json" that
// these tests read.
type viewerQueue struct {
	Name      string `json:"name"`
	State     string `json:"state"`
	Messages  int    `json:"messages"`
	LastError string `json:"last_error"`
}

// liveQueue returns the named queue as the running server's viewer lists
// it; the listing must come from the server, not from the spool.
func liveQueue(t *testing.T, s *server, name string) (viewerQueue, bool) {
	t.Helper()
	out, errOut, err := runCLI(s, "queue", "list", "--config", s.Config, "--json")
	if err != nil || strings.Contains(errOut, "not running") {
		t.Fatalf("mailward queue list --json against the running server: %v\n%s%s", err, out, errOut)
	}
	var qs []viewerQueue
	if err := json.Unmarshal([]byte(out), &qs); err != nil {
		t.Fatalf("queue list --json is not a list of queues: %v\n%s", err, out)
	}
	for _, q := range qs {
		if q.Name == name {
			return q, true
		}
	}
	return viewerQueue{}, false
}

// TestQueueSuspendResumeRetry: a suspended remote delivery queue holds its
// mail (nothing reaches the next hop, the viewer says "suspended");
// resume delivers at once, although the retry schedule says 1h; and after
// a failed attempt "queue retry" delivers at once, too.
func TestQueueSuspendResumeRetry(t *testing.T) {
	d := startDNS(t)
	oneMX(d)
	mx1, port := oneFake(t)
	cfg := remoteConfig(d.Addr, port)
	cfg.Queue.RetrySchedule = []string{"1h"}
	s := startServer(t, cfg)

	queueCLI(t, s, "suspend", "remote.test")
	id := relayMsg(t, s, "<alice@example.test>", "<bob@remote.test>", "held-by-suspend")
	waitEvents(t, s, 3001, id, 1, 10*time.Second)
	time.Sleep(2 * time.Second)
	if n := mx1.Total(); n != 0 {
		t.Fatalf("%d connections to the next hop of a suspended queue", n)
	}
	q, ok := liveQueue(t, s, "remote.test")
	if !ok || q.State != "suspended" || q.Messages != 1 {
		t.Errorf("queue remote.test in the viewer: %+v (found %v); want suspended with 1 message", q, ok)
	}

	resumed := time.Now()
	out := queueCLI(t, s, "resume", "remote.test")
	testkit.WaitFor(t, 3*time.Second, "delivery right after resume", func() bool { return mx1.Count() == 1 })
	t.Logf("delivered %v after resume (%s)", time.Since(resumed).Round(time.Millisecond), strings.TrimSpace(out))
	waitEvents(t, s, 3000, id, 1, 5*time.Second)
	settle(t, s)

	// The host fails once (KB979174's 454), then accepts; the next retry
	// would be in an hour.
	mx1.SetHandler(flaky(1, authFail454))
	id2 := relayMsg(t, s, "<alice@example.test>", "<bob@remote.test>", "retry-now")
	waitEvents(t, s, 3001, id2, 1, 10*time.Second)
	q, ok = liveQueue(t, s, "remote.test")
	if !ok || q.State != "retry" || q.LastError != kb979174LastError {
		t.Errorf("queue remote.test after the failure: %+v (found %v); want state retry and KB979174's last error %q", q, ok, kb979174LastError)
	}
	time.Sleep(time.Second)
	if n := mx1.Count(); n != 1 {
		t.Fatalf("the next hop has %d messages before the retry, want still 1", n)
	}
	retried := time.Now()
	out = queueCLI(t, s, "retry", "remote.test")
	testkit.WaitFor(t, 3*time.Second, "delivery right after queue retry", func() bool { return mx1.Count() == 2 })
	t.Logf("delivered %v after retry (%s)", time.Since(retried).Round(time.Millisecond), strings.TrimSpace(out))
	waitEvents(t, s, 3000, id2, 1, 5*time.Second)
	settle(t, s)
	if q, ok := liveQueue(t, s, "remote.test"); ok && (q.Messages != 0 || q.State == "suspended") {
		t.Errorf("queue remote.test after delivery: %+v", q)
	}
}
