package categorize

import (
	"slices"
	"testing"

	"mailward/directory"
	"mailward/orgauth"
	"mailward/queue"
)

// A group passed to its expansion server by the server that expanded
// the group containing it arrives with that server's decisions in the
// XEXCH50 properties: reached through a group with hidden membership
// whose reports go to its owner. The expansion server's members inherit
// them, so that no notice from it names a member of the hidden group, and
// the reports go where the outer group says.
func TestExpansionServerInheritsUpstreamDecisions(t *testing.T) {
	dir := orgRecipients(t, "mx2", directory.OrgFile{
		Mailboxes: []directory.OrgMailbox{{Address: "carol@example.test", HomeServer: "mx2"}},
		DistGroups: []directory.DistributionGroup{
			{Address: "board@example.test", ExpansionServer: "mx2", Members: []string{"carol@example.test"}},
		},
	})
	props := orgauth.Props{Envelope: orgauth.EnvelopeProp{OriginServer: "mx1"},
		Recipients: []orgauth.RcptProp{{Address: "board@example.test", ExpandedFrom: "all@example.test",
			Groups: []string{"all@example.test"}, Hidden: "all@example.test", ReportTo: "owner@example.test"}}}
	blob, err := props.Encode()
	if err != nil {
		t.Fatal(err)
	}
	env := &queue.Envelope{ID: "T1", From: "sender@example.test", OrgProps: blob,
		Recipients: []queue.Recipient{{Addr: "board@example.test"}}}
	p := (&Categorizer{Dir: dir}).plan(&queue.Message{Env: env, Status: make([]queue.RcptStatus, 1)})
	if len(p.recips) != 2 || p.copies("carol@example.test") != 1 {
		t.Fatalf("recipients %+v: want board expanded to carol, delivered here", p.recips)
	}
	carol := p.recips[1]
	if carol.Hidden != "all@example.test" || carol.ReportTo != "owner@example.test" ||
		!slices.Equal(carol.ExpandedFrom, []string{"all@example.test", "board@example.test"}) {
		t.Errorf("carol: hidden %q, reports to %q, expanded from %v; want hidden by all@, reports to owner@, from all@ → board@",
			carol.Hidden, carol.ReportTo, carol.ExpandedFrom)
	}
}
