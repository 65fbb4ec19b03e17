package e2e

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
)

const (
	crashGroupSize = 1000
	crashHoldAt    = 500 // copies written before the kill
)

// A crash (SIGKILL) in the middle of a 1,000-member group's delivery:
// the expansion is on disk before the first copy (queue/expand.go), so
// after the restart every member has exactly one copy — the 500 written
// before the crash are found under their names (queue ID and index) and
// not made twice, the other 500 are written — and nobody is added by a
// second expansion. The server holds every copy from the 500th on
// (MAILWARD_TEST_LOCAL_HOLD, the e2e build's hook) until it is killed,
// so the kill falls in the middle however fast the machine is.
func TestOrgCrashWhileDeliveringBigGroup(t *testing.T) {
	d := orgRecipients(t, "mx1")
	members := make([]string, crashGroupSize)
	for i := range members {
		members[i] = fmt.Sprintf("m%04d@example.test", i)
	}
	homed(d, "mx1", members...)
	d.DistGroups = []testkit.DistributionGroup{{Address: "big@example.test", Members: members}}
	hold := t.TempDir()
	s := startServerEnv(t, orgServerDir(t, d), orgMember("mx1"),
		[]string{"MAILWARD_TEST_LOCAL_HOLD=" + strconv.Itoa(crashHoldAt) + ":" + hold})

	id := sendAnon(t, s.Addr, "<someone@elsewhere.test>", []string{"<big@example.test>"}, "to big")
	count := func() (n int, twice []string) {
		for _, m := range members {
			k := len(s.Maildir(m))
			n += k
			if k > 1 {
				twice = append(twice, m)
			}
		}
		return n, twice
	}
	// Counting 1,000 Maildirs costs the server's disk something: a poll
	// every 100 ms.
	if !testkit.Poll(20*time.Second, 100*time.Millisecond, func() bool { n, _ := count(); return n >= crashHoldAt }) {
		n, _ := count()
		t.Fatalf("only %d of the first %d copies written in 20 s", n, crashHoldAt)
	}
	s.Kill()
	if n, _ := count(); n != crashHoldAt {
		t.Fatalf("%d copies at the crash, want %d (the rest held)", n, crashHoldAt)
	}
	state := readFile(t, filepath.Join(s.DataDir, "queue", "active", id+".state"))
	if !strings.HasPrefix(state, "x 0 [") && !strings.Contains(state, "\nx 0 [") {
		t.Fatalf("the expansion of big@ is not in the state file before the copies:\n%.300s", state)
	}

	s.Env = nil
	s.Restart()
	testkit.WaitFor(t, 30*time.Second, "an empty queue after the restart", func() bool { return len(s.QueueActive()) == 0 })
	if n, twice := count(); n != crashGroupSize || len(twice) > 0 {
		t.Errorf("after the restart: %d copies for %d members, %d member(s) with more than one (%v)", n, crashGroupSize,
			len(twice), twice[:min(len(twice), 5)])
	}
	added := 0
	for _, r := range s.EventsFor(3005, "queue_id", id) {
		n, _ := strconv.Atoi(r.Fields["added"])
		added += n
	}
	if added != crashGroupSize {
		t.Errorf("the expansions of big@ added %d recipients in all, want %d (expanded once)", added, crashGroupSize)
	}
	if n := eventCount(s, 3002, id); n != 0 {
		t.Errorf("%d recipient(s) failed", n)
	}
}
