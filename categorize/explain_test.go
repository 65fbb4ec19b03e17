package categorize

import (
	"encoding/json"
	"strings"
	"testing"

	"mailward/directory"
)

// explainOrg is a small organization: nesting, a proxy address, an
// alternate recipient delivered to both, a forwarding loop, a
// restricted group, a hidden group expanded on mx2, and a nesting cycle
// (not validated: orgRecipients).
func explainOrg(t *testing.T, self string) *directory.Recipients {
	return orgRecipients(t, self, directory.OrgFile{
		Mailboxes: []directory.OrgMailbox{
			{Address: "alice@example.test", ProxyAddresses: []string{"a.smith@example.test"}, HomeServer: "mx2"},
			{Address: "bob@example.test", HomeServer: "mx1"},
			{Address: "carol@example.test", HomeServer: "mx2", AlternateRecipient: "carol@partner.test", DeliverToBoth: true},
			{Address: "dave@example.test", HomeServer: "mx1", AlternateRecipient: "erin@example.test"},
			{Address: "erin@example.test", HomeServer: "mx2", AlternateRecipient: "dave@example.test"},
		},
		DistGroups: []directory.DistributionGroup{
			{Address: "everyone@example.test", Members: []string{"alice@example.test", "bob@example.test", "team@example.test"}},
			{Address: "team@example.test", Members: []string{"a.smith@example.test", "carol@example.test"}},
			{Address: "staff@example.test", AcceptOnlyAuthenticated: true, ExpansionServer: "mx2",
				Members: []string{"bob@example.test", "carol@example.test"}},
			{Address: "board@example.test", HideMembership: true, DeliveryReports: "owner", Owner: "bob@example.test",
				Members: []string{"dave@example.test", "outside@partner.test"}},
			{Address: "ring@example.test", Members: []string{"loop@example.test", "bob@example.test"}},
			{Address: "loop@example.test", Members: []string{"ring@example.test"}},
		},
	})
}

func explain(t *testing.T, c *Categorizer, q Query) Explanation {
	t.Helper()
	if q.Server == "" {
		q.Server = "mx1"
	}
	if q.As == nil {
		q.As = func(server string) Directory { return explainOrg(t, server) }
	}
	return c.Explain(q)
}

// shape is a node's tree in one line: address=outcome[@server] and the
// members in parentheses, for comparing whole trees.
func shape(n *Node) string {
	if n == nil {
		return "-"
	}
	s := n.Address + "=" + string(n.Outcome)
	if n.To != "" {
		s += ">" + n.To
	}
	if n.CopyOf != "" {
		s += ":" + n.CopyOf
	}
	if n.Expansion != nil {
		s += "{" + n.Expansion.At + ":" + shape(n.Expansion) + "}"
	}
	if a := n.Alternate; a != nil {
		s += " alt[" + a.Loop + shape(a.Recipient) + "]"
	}
	var ms []string
	for _, m := range n.Members {
		ms = append(ms, shape(m))
	}
	if n.HiddenMembers {
		ms = append(ms, "(hidden)")
	}
	if len(ms) > 0 {
		s += " (" + strings.Join(ms, ", ") + ")"
	}
	return s
}

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		name   string
		q      Query
		max    int
		want   string
		copies int
	}{
		{"nesting, a proxy reached twice, an alternate delivered to both", Query{Rcpt: "everyone@example.test"}, 0,
			"everyone@example.test=expanded (alice@example.test=sent>mx2, bob@example.test=delivered, team@example.test=expanded " +
				"(a.smith@example.test=once:alice@example.test, carol@example.test=sent>mx2 alt[carol@partner.test=relayed]))", 4},
		{"a proxy address addressed directly", Query{Rcpt: "a.smith@example.test"}, 0, "a.smith@example.test=sent>mx2", 1},
		{"a forwarding loop: one copy", Query{Rcpt: "dave@example.test"}, 0,
			"dave@example.test=forwarded alt[erin@example.test=sent>mx2 alt[dave@example.test → erin@example.test → dave@example.test-]]", 1},
		{"a nesting cycle: each group once", Query{Rcpt: "ring@example.test"}, 0,
			"ring@example.test=expanded (loop@example.test=expanded (ring@example.test=cycle), bob@example.test=delivered)", 1},
		{"hidden membership masked", Query{Rcpt: "board@example.test"}, 0, "board@example.test=expanded ((hidden))", 2},
		{"hidden membership shown", Query{Rcpt: "board@example.test", ShowHidden: true}, 0,
			"board@example.test=expanded (dave@example.test=forwarded alt[erin@example.test=sent>mx2 alt[dave@example.test → erin@example.test → dave@example.test-]], outside@partner.test=relayed)", 2},
		{"restricted, expanded on mx2, sender authenticated here", Query{Rcpt: "staff@example.test", Sender: "bob@example.test",
			Authenticated: true, Restrictions: true}, 0,
			"staff@example.test=passed>mx2{mx2:staff@example.test=expanded (bob@example.test=sent>mx1, carol@example.test=delivered alt[carol@partner.test=relayed])}", 3},
		{"restricted, sender not authenticated: refused on mx2", Query{Rcpt: "staff@example.test", Sender: "bob@example.test",
			Restrictions: true}, 0, "staff@example.test=passed>mx2{mx2:staff@example.test=failed}", 0},
		{"restrictions not applied without a sender", Query{Rcpt: "staff@example.test"}, 0,
			"staff@example.test=passed>mx2{mx2:staff@example.test=expanded (bob@example.test=sent>mx1, carol@example.test=delivered alt[carol@partner.test=relayed])}", 3},
		{"the expansion limit", Query{Rcpt: "everyone@example.test"}, 2, "everyone@example.test=failed", 0},
		{"nobody", Query{Rcpt: "nobody@example.test"}, 0, "nobody@example.test=failed", 0},
		{"outside the organization", Query{Rcpt: "someone@partner.test"}, 0, "someone@partner.test=relayed", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := explain(t, &Categorizer{Dir: explainOrg(t, "mx1"), MaxExpanded: tc.max}, tc.q)
			if got := shape(x.Root); got != tc.want {
				t.Errorf("tree:\n got %s\nwant %s", got, tc.want)
			}
			if x.Copies != tc.copies {
				t.Errorf("%d copies, want %d", x.Copies, tc.copies)
			}
		})
	}
}

// A group passed to its expansion server travels there in one
// transaction with the other recipients this server sends there, so the
// expansion server counts their copies together: alice, a member of both
// groups and homed on mx2, gets one.
func TestExplainHopCountsCopiesTogether(t *testing.T) {
	dir := func(self string) *directory.Recipients {
		return orgRecipients(t, self, directory.OrgFile{
			Mailboxes: []directory.OrgMailbox{
				{Address: "alice@example.test", HomeServer: "mx2"},
				{Address: "bob@example.test", HomeServer: "mx2"},
			},
			DistGroups: []directory.DistributionGroup{
				{Address: "outer@example.test", Members: []string{"alice@example.test", "inner@example.test"}},
				{Address: "inner@example.test", ExpansionServer: "mx2", Members: []string{"alice@example.test", "bob@example.test"}},
			},
		})
	}
	x := (&Categorizer{Dir: dir("mx1")}).Explain(Query{Rcpt: "outer@example.test", Server: "mx1",
		As: func(server string) Directory { return dir(server) }})
	want := "outer@example.test=expanded (alice@example.test=sent>mx2, inner@example.test=passed>mx2{mx2:inner@example.test=expanded " +
		"(alice@example.test=once:alice@example.test, bob@example.test=delivered)})"
	if got := shape(x.Root); got != want || x.Copies != 2 {
		t.Errorf("%d copies, tree:\n got %s\nwant %s", x.Copies, got, want)
	}
}

// A mailbox this server delivers itself that is also a member of a group
// expanded on another server gets one copy: the transaction that passes
// the group on lists the message's other recipients (XEXCH50
// message.covered, built as deliver sends it), and the expansion server
// skips them.
func TestExplainCoveredElsewhere(t *testing.T) {
	dir := func(self string) *directory.Recipients {
		return orgRecipients(t, self, directory.OrgFile{
			Mailboxes: []directory.OrgMailbox{
				{Address: "bob@example.test", HomeServer: "mx1"},
				{Address: "carol@example.test", HomeServer: "mx2"},
			},
			DistGroups: []directory.DistributionGroup{
				{Address: "outer@example.test", Members: []string{"bob@example.test", "inner@example.test"}},
				{Address: "inner@example.test", ExpansionServer: "mx2", Members: []string{"bob@example.test", "carol@example.test"}},
			},
		})
	}
	x := (&Categorizer{Dir: dir("mx1")}).Explain(Query{Rcpt: "outer@example.test", Server: "mx1",
		As: func(server string) Directory { return dir(server) }})
	want := "outer@example.test=expanded (bob@example.test=delivered, inner@example.test=passed>mx2{mx2:inner@example.test=expanded " +
		"(bob@example.test=once, carol@example.test=delivered)})"
	if got := shape(x.Root); got != want || x.Copies != 2 {
		t.Errorf("%d copies, tree:\n got %s\nwant %s", x.Copies, got, want)
	}
}

// The details the tool prints: why a restriction refuses, where it is
// decided, the limit's reply, the group's settings.
func TestExplainDetails(t *testing.T) {
	c := &Categorizer{Dir: explainOrg(t, "mx1"), MaxExpanded: 2}
	x := explain(t, c, Query{Rcpt: "everyone@example.test"})
	if r := x.Root.Reply; !strings.HasPrefix(r, "550 5.2.4 everyone@example.test: expanding it would exceed the limit of 2") {
		t.Errorf("limit reply %q", r)
	}
	c.MaxExpanded = 0
	x = explain(t, c, Query{Rcpt: "staff@example.test", Sender: "bob@example.test", Restrictions: true})
	e := x.Root.Expansion
	if e == nil || e.At != "mx2" || e.Restriction == nil || e.Restriction.Allowed || e.Restriction.Authenticated ||
		e.Restriction.Why != "staff@example.test accepts mail only from authenticated senders" ||
		e.Reply != "550 5.7.1 staff@example.test accepts mail only from authenticated senders" {
		t.Errorf("staff@ on mx2 for an unauthenticated sender: %+v", e)
	}
	// Authenticated on mx1: mx2 knows it from the XEXCH50 properties.
	x = explain(t, c, Query{Rcpt: "staff@example.test", Sender: "bob@example.test", Authenticated: true, Restrictions: true})
	if v := x.Root.Expansion.Restriction; v == nil || !v.Allowed || !v.Authenticated {
		t.Errorf("staff@ on mx2 for an authenticated sender: %+v", v)
	}
	x = explain(t, c, Query{Rcpt: "board@example.test", ShowHidden: true})
	g, dave := x.Root.Group, x.Root.Members[0]
	if g.DeliveryReports != "owner" || g.Owner != "bob@example.test" || !g.HideMembership {
		t.Errorf("board@'s settings: %+v", g)
	}
	if dave.ReportTo != "bob@example.test" {
		t.Errorf("a member of board@ reports to %q, want its owner", dave.ReportTo)
	}
}

// Masked, nothing names a member of a hidden group: not the JSON of
// the tree, not the copy_of of a visible member whose copy comes through
// the hidden group (board@ is expanded before team@).
func TestExplainMasksHiddenMembers(t *testing.T) {
	dir := orgRecipients(t, "mx1", directory.OrgFile{
		Mailboxes: []directory.OrgMailbox{
			{Address: "secret@example.test", HomeServer: "mx1"},
			{Address: "bob@example.test", HomeServer: "mx1"},
		},
		DistGroups: []directory.DistributionGroup{
			{Address: "all@example.test", Members: []string{"board@example.test", "team@example.test"}},
			{Address: "board@example.test", HideMembership: true, Members: []string{"secret@example.test", "inner@example.test"}},
			{Address: "inner@example.test", Members: []string{"bob@example.test"}},
			{Address: "team@example.test", Members: []string{"secret@example.test"}},
		},
	})
	for _, show := range []bool{false, true} {
		x := (&Categorizer{Dir: dir}).Explain(Query{Rcpt: "all@example.test", Server: "mx1", ShowHidden: show})
		b, err := json.Marshal(x.Root)
		if err != nil {
			t.Fatal(err)
		}
		if leak := strings.Contains(string(b), "inner@") || strings.Contains(string(b), "copy_of"); leak == !show {
			t.Errorf("show hidden %v: the tree names a member of the hidden group %v: %s", show, leak, b)
		}
		want := "all@example.test=expanded (board@example.test=expanded ((hidden)), team@example.test=expanded (secret@example.test=once))"
		if show {
			want = "all@example.test=expanded (board@example.test=expanded (secret@example.test=delivered, inner@example.test=expanded (bob@example.test=delivered))" +
				", team@example.test=expanded (secret@example.test=once:secret@example.test))"
		}
		if got := shape(x.Root); got != want {
			t.Errorf("show hidden %v: tree:\n got %s\nwant %s", show, got, want)
		}
		if x.Copies != 2 {
			t.Errorf("show hidden %v: %d copies, want 2 (the hidden ones count)", show, x.Copies)
		}
	}
}
