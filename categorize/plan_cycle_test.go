package categorize

import (
	"path/filepath"
	"testing"

	"mailward/directory"
	"mailward/events"
)

// Groups nested in a cycle (everyone → team → everyone), which a
// directory not checked at start could hold: each group is expanded once,
// each member gets one copy, and the cycle is logged (event 3006) with
// its chain.
func TestNestingCycleLoggedOnce(t *testing.T) {
	dir := orgRecipients(t, "mx1", directory.OrgFile{
		Mailboxes: []directory.OrgMailbox{
			{Address: "alice@example.test", HomeServer: "mx1"},
			{Address: "bob@example.test", HomeServer: "mx1"},
		},
		DistGroups: []directory.DistributionGroup{
			{Address: "everyone@example.test", Members: []string{"team@example.test", "alice@example.test"}},
			{Address: "team@example.test", Members: []string{"everyone@example.test", "bob@example.test"}},
		},
	})
	path := filepath.Join(t.TempDir(), "events.log")
	ev, err := events.OpenLog(nil, nil, path, events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := planFor(&Categorizer{Dir: dir, Events: ev}, "sender@example.test", "everyone@example.test")
	ev.Close()
	for _, a := range []string{"alice@example.test", "bob@example.test"} {
		if n := p.copies(a); n != 1 {
			t.Errorf("%s gets %d copies, want 1", a, n)
		}
	}
	recs, err := events.Read(path, events.Filter{ID: events.ExpansionCycle})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Fields["chain"] != "everyone@example.test → team@example.test → everyone@example.test" {
		t.Errorf("events 3006: %+v; want one with the chain everyone → team → everyone", recs)
	}
}
