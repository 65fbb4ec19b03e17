package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
)

const (
	outboundTotal   = 50
	outboundSlots   = 4 // max_per_destination: sessions to the next hop at once
	outboundKillAt  = 12
	outboundDataLag = 300 * time.Millisecond
)

var receivedIDRE = regexp.MustCompile(`by mx1\.example\.test \(mailward\) with E?SMTP\S* id ([0-9A-F]+)`)

// TestCrashDuringOutbound: 50 acknowledged messages drain to a slow next
// hop (300 ms per end-of-data reply, 4 sessions); mailward is killed with
// SIGKILL part-way. The queue viewer, with the server down, still shows
// every message the next hop has not got; after a restart every message
// reaches the next hop at least once. Duplicates are possible for remote
// delivery (a 250 that was sent but not recorded before the kill) and are
// bounded by the sessions in flight at the kill.
func TestCrashDuringOutbound(t *testing.T) {
	hop := testkit.StartSMTP(t, testkit.SMTP{Addr: "127.0.0.2:0", Name: "slow.remote.test",
		Handle: func(_ *testkit.SMTPSession, verb, _ string) testkit.Reply {
			if verb == "DOT" {
				return testkit.Reply{Delay: outboundDataLag}
			}
			return testkit.Reply{}
		}})
	cfg := remoteConfig("", 0)
	cfg.Delivery.SmartHost = "[127.0.0.2]:" + strconv.Itoa(hop.Port())
	cfg.Delivery.MaxPerDestination = outboundSlots
	s := startServer(t, cfg)

	// Relay the messages over one session; each has its own Message-ID.
	sent := map[string]string{} // queue ID -> Message-ID
	c := dial(t, s.Addr)
	c.expect("EHLO client.test", 250)
	for i := 0; i < outboundTotal; i++ {
		subject := fmt.Sprintf("outbound-%02d", i)
		c.expect("MAIL FROM:<alice@example.test>", 250)
		c.expect("RCPT TO:<bob@remote.test>", 250)
		r, err := c.dataErr(message("alice@example.test", "bob@remote.test", subject, "crash during outbound delivery"))
		if err != nil {
			t.Fatalf("DATA %d: %v", i, err)
		}
		sent[queueID(t, r)] = "<" + subject + "@e2e.test>"
	}
	c.cmdErr("QUIT")
	c.Close()

	testkit.WaitFor(t, 20*time.Second, fmt.Sprintf("%d messages at the next hop", outboundKillAt), func() bool {
		return hop.Count() >= outboundKillAt
	})
	openBefore := hop.Open()
	s.Kill()
	openAfter := hop.Open()
	inFlight := max(openBefore, openAfter)
	// Sessions that were in their 300 ms wait finish now (the fake
	// commits before it answers, as a real MTA does).
	time.Sleep(outboundDataLag + 200*time.Millisecond)
	before := hop.Messages()
	got := map[string]bool{}
	for _, m := range before {
		got[m.MessageID()] = true
	}
	t.Logf("killed after %d messages reached the next hop; %d sessions open at the kill", len(before), inFlight)
	if len(before) >= outboundTotal {
		t.Fatalf("all %d messages were delivered before the kill: the test proves nothing; slow the next hop", outboundTotal)
	}

	// With the server down the queue viewer reads the spool: every
	// message the next hop has not got must be listed, and so must
	// everything still in active/.
	out, errOut, err := runCLI(s, "queue", "list", "--config", s.Config, "--json")
	if err != nil {
		t.Fatalf("mailward queue list with the server down: %v\n%s%s", err, out, errOut)
	}
	active := s.QueueActive()
	if len(active) == 0 {
		t.Fatalf("the spool is empty after the kill, but only %d of %d messages had arrived", len(before), outboundTotal)
	}
	for _, id := range active {
		if !strings.Contains(out, id) {
			t.Errorf("queue list does not show %s, which is in the spool", id)
		}
	}
	missing := 0
	for id, mid := range sent {
		if !got[mid] {
			missing++
			if !strings.Contains(out, id) {
				t.Errorf("message %s (%s) never reached the next hop and is not in queue list", id, mid)
			}
		}
	}
	t.Logf("queue list after the kill shows %d spool messages; %d not yet at the next hop", len(active), missing)

	s.Restart()
	testkit.WaitFor(t, 30*time.Second, "every message at the next hop after the restart", func() bool {
		seen := map[string]bool{}
		for _, m := range hop.Messages() {
			seen[m.MessageID()] = true
		}
		for _, mid := range sent {
			if !seen[mid] {
				return false
			}
		}
		return true
	})
	settle(t, s)

	count := map[string]int{}
	for _, m := range hop.Messages() {
		count[m.MessageID()]++
		if sm := receivedIDRE.FindStringSubmatch(m.Data); sm == nil || sent[sm[1]] != m.MessageID() {
			t.Errorf("message %s arrived without our Received header naming its queue ID", m.MessageID())
		}
	}
	dups := 0
	for mid, n := range count {
		if n > 1 {
			dups += n - 1
			t.Logf("duplicate at the next hop: %s arrived %d times", mid, n)
		}
	}
	t.Logf("%d messages, %d unique at the next hop, %d duplicate(s); %d session(s) in flight at the kill",
		len(hop.Messages()), len(count), dups, inFlight)
	if len(count) != outboundTotal {
		t.Errorf("%d unique messages at the next hop, want %d", len(count), outboundTotal)
	}
	if dups > inFlight || dups > outboundSlots {
		t.Errorf("%d duplicates, more than the %d session(s) in flight at the kill (max_per_destination %d)",
			dups, inFlight, outboundSlots)
	}
}
