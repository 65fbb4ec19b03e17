package e2e

import (
	"testing"

	"mailward/internal/testkit"
	"mailward/internal/testkit/orgbackend"
)

// A group whose members are homed on three servers, each a real mailward
// process: the first server expands it (nested groups included) once,
// every member gets exactly one copy on its home server — also a member
// reached through two groups, and one addressed directly too — and no
// server downstream expands it again (events 3005 only on the first).
func TestOrgGroupAcrossThreeServers(t *testing.T) {
	orgbackend.ForEach(t, func(t *testing.T, b orgbackend.Backend) { orgGroupAcrossThreeServers(t, b) })
}

func orgGroupAcrossThreeServers(t *testing.T, b orgbackend.Backend) {
	for _, c := range []struct {
		name     string
		subOnMX3 bool // sub@ has mx3 as its expansion server
	}{{"expanded by the first server", false}, {"nested group with its own expansion server", true}} {
		t.Run(c.name, func(t *testing.T) {
			d := orgRecipients(t, "mx1", "mx2", "mx3")
			homed(d, "mx1", "a1@example.test")
			homed(d, "mx2", "a2@example.test", "b2@example.test")
			homed(d, "mx3", "a3@example.test", "b3@example.test")
			d.DistGroups = []testkit.DistributionGroup{
				{Address: "all@example.test", Members: []string{"a1@example.test", "a2@example.test", "a3@example.test", "sub@example.test"}},
				{Address: "sub@example.test", Members: []string{"a2@example.test", "b2@example.test", "b3@example.test"}},
			}
			if c.subOnMX3 {
				d.DistGroups[1].ExpansionServer = "mx3"
			}
			net := startOrgNetOn(t, b, d, orgMember("mx1"), orgMember("mx2"), orgMember("mx3"))
			mx1, mx2, mx3 := net["mx1"], net["mx2"], net["mx3"]
			where := map[string]*server{"a1@example.test": mx1, "a2@example.test": mx2, "b2@example.test": mx2,
				"a3@example.test": mx3, "b3@example.test": mx3}

			id := sendAnon(t, mx1.Addr, "<someone@elsewhere.test>", []string{"<all@example.test>", "<a3@example.test>"}, "to all")
			for addr, s := range where {
				delivered(t, s, addr, 1)
			}
			settleOrg(t, mx1, mx2, mx3)
			copies(t, map[string]int{"a1@example.test": 1, "a2@example.test": 1, "b2@example.test": 1,
				"a3@example.test": 1, "b3@example.test": 1}, where)

			want := map[*server]int{mx1: 2, mx2: 0, mx3: 0}
			if c.subOnMX3 {
				want = map[*server]int{mx1: 1, mx2: 0, mx3: 1}
			}
			if got := eventCount(mx1, 3005, id); got != want[mx1] {
				t.Errorf("mx1 logged %d expansions (3005), want %d", got, want[mx1])
			}
			for name, s := range map[string]*server{"mx2": mx2, "mx3": mx3} {
				if got := eventCount(s, 3005, ""); got != want[s] {
					t.Errorf("%s logged %d expansions (3005), want %d", name, got, want[s])
				}
				if len(s.Events(1712)) == 0 {
					t.Errorf("%s took the message without organization properties", name)
				}
			}
			for name, s := range net {
				if n := eventCount(s, 3006, ""); n != 0 {
					t.Errorf("%s logged %d expansion cycles", name, n)
				}
			}
		})
	}
}
