package e2e

// What an administrator holds in the queue outlives a restart: a
// suspended delivery queue and a frozen message (docs/queue.md).

import (
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
)

// TestQueueHoldSurvivesRestart: a suspended queue and a frozen message are
// still held after a restart of the real server (nothing reaches the next
// hop, the viewer says so, event 2020 names the queue); resume then
// delivers the other message only, and unfreeze delivers the frozen one.
func TestQueueHoldSurvivesRestart(t *testing.T) {
	d := startDNS(t)
	oneMX(d)
	mx1, port := oneFake(t)
	cfg := remoteConfig(d.Addr, port)
	cfg.Queue.RetrySchedule = []string{"1h"}
	s := startServer(t, cfg)

	queueCLI(t, s, "suspend", "remote.test")
	idA := relayMsg(t, s, "<alice@example.test>", "<bob@remote.test>", "held-by-suspend")
	idB := relayMsg(t, s, "<alice@example.test>", "<carol@remote.test>", "held-by-freeze")
	waitEvents(t, s, 3001, idA, 1, 10*time.Second)
	waitEvents(t, s, 3001, idB, 1, 10*time.Second)
	// The deferral's event comes before the attempt is recorded: a
	// message still in flight answers "try again".
	var out string
	testkit.WaitFor(t, 10*time.Second, "freeze "+idB, func() bool {
		o, errOut, err := runCLI(s, "queue", "freeze", idB, "--config", s.Config)
		out = o + errOut
		return err == nil
	})
	if !strings.Contains(out, "frozen: it is not attempted until it is unfrozen") {
		t.Errorf("freeze: %s", out)
	}

	s.Restart()

	if q, ok := liveQueue(t, s, "remote.test"); !ok || q.State != "suspended" || q.Messages != 2 {
		t.Errorf("after the restart, remote.test: %+v (found %v); want suspended with 2 messages", q, ok)
	}
	if recs := s.Events(2020); len(recs) != 1 || recs[0].Fields["queue"] != "remote.test" {
		t.Errorf("events 2020 after the restart: %+v; want one naming remote.test", recs)
	}
	out = queueCLI(t, s, "find", "--to", "carol@remote.test")
	if !strings.HasPrefix(out, idB+"  from alice@example.test, ") || !strings.Contains(out, " [frozen]\n") {
		t.Errorf("find after the restart:\n%s", out)
	}
	// The loaded spool is attempted at once: A is deferred again by the
	// suspension; B, frozen, is not attempted at all.
	waitEvents(t, s, 3001, idA, 2, 10*time.Second)
	if n := len(s.EventsFor(3001, "queue_id", idB)); n != 1 {
		t.Errorf("frozen message %s attempted after the restart (%d deferrals)", idB, n)
	}
	if n := mx1.Total(); n != 0 {
		t.Fatalf("%d connection(s) to the next hop of a suspended queue", n)
	}

	queueCLI(t, s, "resume", "remote.test")
	testkit.WaitFor(t, 10*time.Second, "A delivered after resume", func() bool { return mx1.Count() == 1 })
	waitEvents(t, s, 3000, idA, 1, 5*time.Second)
	if n := len(s.EventsFor(3001, "queue_id", idB)) + len(s.EventsFor(3000, "queue_id", idB)); n != 1 {
		t.Errorf("frozen message %s attempted by resume", idB)
	}
	if got := s.QueueActive(); len(got) != 1 || got[0] != idB {
		t.Errorf("queue/active after resume: %v; want only %s", got, idB)
	}

	queueCLI(t, s, "unfreeze", idB)
	testkit.WaitFor(t, 10*time.Second, "B delivered after unfreeze", func() bool { return mx1.Count() == 2 })
	waitEvents(t, s, 3000, idB, 1, 5*time.Second)
	settle(t, s)
}
