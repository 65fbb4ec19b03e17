package directory

import (
	"fmt"
	"testing"
)

// mayPost is one MayPost question and its expected answer; why is the
// expected reason, "" when accepted.
type mayPost struct {
	group, sender string
	authenticated bool
	why           string
}

func checkMayPost(t *testing.T, r *Recipients, cases []mayPost) {
	t.Helper()
	for _, c := range cases {
		e, err := r.Find(c.group)
		if err != nil || e.Kind != GroupEntry {
			t.Fatalf("%s is not a group: %+v, %v", c.group, e, err)
		}
		ok, why := r.MayPost(e.Group, c.sender, c.authenticated)
		if ok != (c.why == "") || why != c.why {
			t.Errorf("MayPost(%s, %q, authenticated %v) = %v %q; want %v %q", c.group, c.sender, c.authenticated, ok, why, c.why == "", c.why)
		}
	}
}

// The restriction rule (docs/categorizer.md): a refused sender is
// refused whatever else holds; then "accept only from authenticated
// senders"; then the list of the only senders accepted. A mailbox
// matches by any of its addresses, on either side; a group in a list
// matches its members, nested to any depth; addresses compare in any
// case.
func TestMayPost(t *testing.T) {
	f := orgRecipients(t)
	f.DistGroups = append(f.DistGroups,
		// accept_from: a mailbox by its proxy, a nested group, an outsider.
		DistributionGroup{Address: "board@example.test", Members: []string{"bob@example.test"},
			AcceptFrom: []string{"a.smith@example.test", "everyone@example.test", "Partner@Remote.Test"}},
		// both lists: reject_from wins over accept_from and over AUTH.
		DistributionGroup{Address: "news@example.test", Members: []string{"bob@example.test"}, AcceptOnlyAuthenticated: true,
			AcceptFrom: []string{"everyone@example.test"}, RejectFrom: []string{"team@example.test", "spammer@remote.test"}},
		DistributionGroup{Address: "open@example.test", Members: []string{"bob@example.test"}},
		DistributionGroup{Address: "nospam@example.test", Members: []string{"bob@example.test"}, RejectFrom: []string{"spammer@remote.test"}},
	)
	r := recipientsOf(newOrg(t, f), "mx1")
	refusedBy := func(g, s string) string { return fmt.Sprintf("%s does not accept mail from %s", g, s) }
	const onlyAuth = "staff@example.test accepts mail only from authenticated senders"
	const notListed = "board@example.test accepts mail only from the senders it lists"
	checkMayPost(t, r, []mayPost{
		{"staff@example.test", "friend@remote.test", false, onlyAuth},
		{"staff@example.test", "bob@example.test", false, onlyAuth}, // a member, but not authenticated
		{"staff@example.test", "", false, onlyAuth},
		{"staff@example.test", "friend@remote.test", true, ""},

		{"board@example.test", "alice@example.test", false, ""},         // listed by its proxy address
		{"board@example.test", "A.Smith@example.test", false, ""},       // listed, sending by the proxy
		{"board@example.test", "c.jones@example.test", false, ""},       // carol, by proxy, in team in everyone
		{"board@example.test", "friend@remote.test", false, ""},         // an outside member of everyone
		{"board@example.test", "partner@remote.test", false, ""},        // an outsider listed
		{"board@example.test", "PARTNER@remote.test", false, ""},        // in another case
		{"board@example.test", "stranger@remote.test", true, notListed}, // AUTH does not put one on the list
		{"board@example.test", "", false, notListed},

		{"news@example.test", "bob@example.test", true, ""},
		{"news@example.test", "carol@example.test", true, refusedBy("news@example.test", "carol@example.test")},     // in team
		{"news@example.test", "a.smith@example.test", true, refusedBy("news@example.test", "a.smith@example.test")}, // alice, in team, by proxy
		{"news@example.test", "Spammer@Remote.Test", true, refusedBy("news@example.test", "Spammer@Remote.Test")},
		{"news@example.test", "bob@example.test", false, "news@example.test accepts mail only from authenticated senders"},

		{"nospam@example.test", "SPAMMER@remote.test", false, refusedBy("nospam@example.test", "SPAMMER@remote.test")},
		{"nospam@example.test", "friend@remote.test", false, ""},

		{"open@example.test", "", false, ""},
		{"open@example.test", "anyone@remote.test", false, ""},
	})
}

// Membership cycles in a directory that was not validated (a reload in
// progress, a future LDAP backend) end: a sender in the cycle matches,
// one outside it does not, and MayPost returns.
func TestMayPostCycle(t *testing.T) {
	f := orgRecipients(t)
	f.DistGroups = append(f.DistGroups,
		DistributionGroup{Address: "a@example.test", Members: []string{"b@example.test"}},
		DistributionGroup{Address: "b@example.test", Members: []string{"a@example.test", "c.jones@example.test"}},
		DistributionGroup{Address: "vip@example.test", Members: []string{"bob@example.test"}, AcceptFrom: []string{"a@example.test"}},
		DistributionGroup{Address: "quiet@example.test", Members: []string{"bob@example.test"}, RejectFrom: []string{"b@example.test"}},
	)
	r := recipientsOf(newOrg(t, f), "mx1")
	checkMayPost(t, r, []mayPost{
		{"vip@example.test", "carol@example.test", false, ""},
		{"vip@example.test", "alice@example.test", false, "vip@example.test accepts mail only from the senders it lists"},
		{"quiet@example.test", "carol@example.test", false, "quiet@example.test does not accept mail from carol@example.test"},
		{"quiet@example.test", "bob@example.test", false, ""},
	})
}
