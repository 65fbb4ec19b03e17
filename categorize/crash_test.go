package categorize

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"mailward/directory"
	"mailward/events"
	"mailward/queue"
)

// crashOnce crashes the server after the first attempt of any message.
func crashOnce() func(*queue.Message) bool {
	var done atomic.Bool
	return func(*queue.Message) bool { return !done.Swap(true) }
}

// A crash in the middle of delivering an expanded group: the expansion
// is on disk before the first copy, some copies are written, the
// outcome is not. After the restart the message is read from the spool
// with the members at the indexes they had; the group is not expanded
// a second time, and every member ends with exactly one copy, named by
// queue ID and its index — the copies written before the crash are
// found again, not doubled.
// With single_instance the members' links to the one instance are
// replaced the same way, and the instance's name the crash left is
// removed at start.
func TestCrashDuringExpansion(t *testing.T) {
	for _, single := range []bool{false, true} {
		t.Run(fmt.Sprintf("single_instance=%v", single), func(t *testing.T) { crashDuringExpansion(t, single) })
	}
}

func crashDuringExpansion(t *testing.T, single bool) {
	const n = 60
	f := org3()
	var members []string
	for i := range n {
		a := fmt.Sprintf("user%02d@example.test", i)
		f.Mailboxes = append(f.Mailboxes, mailbox(a, "mx1"))
		members = append(members, a)
	}
	f.DistGroups = []directory.DistributionGroup{group("all@example.test", members...)}
	dir := t.TempDir()

	first := startOrg(t, dir, orgSetup{Org: f, Self: "mx1", Crash: crashOnce(), SingleInstance: single})
	id := first.send(queue.Envelope{}, "all@example.test")
	first.waitCrash()
	// Killed before a third of the copies were written: those are not
	// there, and one was torn in tmp/.
	for _, a := range members[:n/3] {
		for _, c := range first.copies(a) {
			if err := os.Remove(filepath.Join(first.c.Maildir.Dir(a), "new", c)); err != nil {
				t.Fatal(err)
			}
		}
	}
	torn := filepath.Join(first.c.Maildir.Dir(members[0]), "tmp", "torn")
	if err := os.WriteFile(torn, []byte("Return-Path: <"), 0o600); err != nil {
		t.Fatal(err)
	}

	if single {
		// Killed before the instance's own name was removed.
		left := filepath.Join(dir, "mailboxes", ".instances", "left")
		if err := os.MkdirAll(filepath.Dir(left), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(left, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	again := startOrg(t, dir, orgSetup{Org: f, Self: "mx1", SingleInstance: single})
	again.settle()
	if ents, _ := os.ReadDir(filepath.Join(dir, "mailboxes", ".instances")); len(ents) != 0 {
		t.Errorf("instances left in .instances: %v", ents)
	}
	for k, a := range members {
		c := again.copies(a)
		// The group is recipient 0; its members follow in order.
		want := fmt.Sprintf(".M%sR%d.", id, k+1)
		if len(c) != 1 || !strings.Contains(c[0], want) {
			t.Errorf("%s: copies %v, want exactly one named ...%s...", a, c, want)
		}
	}
	added := 0
	for _, e := range again.events(events.GroupExpanded) {
		k, _ := strconv.Atoi(e.Fields["added"])
		added += k
	}
	if added != n {
		t.Errorf("events 3005 added %d recipients in all, want %d: the group was expanded again after the restart", added, n)
	}
}

// A crash after a mailbox was forwarded (without deliver-to-both) to
// its alternate: after the restart the mailbox still gets no copy, and
// the alternate keeps its index.
func TestCrashAfterForwarding(t *testing.T) {
	f := org3()
	f.Mailboxes = []directory.OrgMailbox{withAlternate(mailbox("alice@example.test", "mx1"), "erin@example.test", false),
		mailbox("erin@example.test", "mx1")}
	dir := t.TempDir()
	first := startOrg(t, dir, orgSetup{Org: f, Self: "mx1", Crash: crashOnce()})
	id := first.send(queue.Envelope{}, "alice@example.test")
	first.waitCrash()

	again := startOrg(t, dir, orgSetup{Org: f, Self: "mx1"})
	again.settle()
	if got := again.mailboxes(); !slices.Equal(got, []string{"erin@example.test"}) {
		t.Errorf("copies after the restart %v, want erin's alone", got)
	}
	if c := again.copies("erin@example.test"); len(c) != 1 || !strings.Contains(c[0], ".M"+id+"R1.") {
		t.Errorf("erin's copies %v, want one as recipient 1", c)
	}
}
