package categorize

import (
	"slices"
	"testing"

	"mailward/directory"
	"mailward/orgauth"
	"mailward/queue"
)

// A group passed to its expansion server comes with the message's other
// recipients (XEXCH50's covered): the expansion server gives none of
// them a second copy, not as a member, not as an alternate recipient,
// and still delivers its own.
func TestCoveredRecipientsGetNoSecondCopy(t *testing.T) {
	org, err := directory.NewOrg("Example", directory.OrgFile{
		Servers: []directory.OrgServer{{Name: "mx1", FQDN: "mx1.example.test"}, {Name: "mx3", FQDN: "mx3.example.test"}},
		Domains: []directory.OrgDomain{{Name: "example.test"}},
		Mailboxes: []directory.OrgMailbox{
			{Address: "a2@example.test", HomeServer: "mx1"},
			{Address: "b3@example.test", HomeServer: "mx3"},
			{Address: "c3@example.test", HomeServer: "mx3", AlternateRecipient: "a2@example.test", DeliverToBoth: true},
		},
		DistGroups: []directory.DistributionGroup{{Address: "sub@example.test", ExpansionServer: "mx3",
			Members: []string{"a2@example.test", "b3@example.test", "c3@example.test"}}},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	up := orgauth.Props{Envelope: orgauth.EnvelopeProp{OriginServer: "mx1"},
		Message:    orgauth.MessageProp{Covered: []string{"all@example.test", "A2@example.test"}},
		Recipients: []orgauth.RcptProp{{Address: "sub@example.test", ExpandedFrom: "all@example.test", Groups: []string{"all@example.test"}}}}
	blob, err := up.Encode()
	if err != nil {
		t.Fatal(err)
	}
	m := &queue.Message{Env: &queue.Envelope{ID: "Q1", From: "someone@elsewhere.test", OrgProps: blob,
		Recipients: []queue.Recipient{{Addr: "sub@example.test", ExpandedFrom: []string{"all@example.test"}}}},
		Status: make([]queue.RcptStatus, 1)}
	c := &Categorizer{Dir: &directory.Recipients{Local: directory.New(nil, nil, ""), Org: func() *directory.Org { return org }, Self: "mx3"}}
	p := c.plan(m)

	var added []string
	for _, x := range p.exps {
		for _, r := range x.Add {
			added = append(added, r.Addr)
		}
	}
	if want := []string{"b3@example.test", "c3@example.test"}; !slices.Equal(added, want) {
		t.Errorf("the expansion added %v, want %v (a2 is covered by mx1)", added, want)
	}
	var local []string
	for _, j := range p.local {
		local = append(local, j.mailbox)
	}
	slices.Sort(local)
	if want := []string{"b3@example.test", "c3@example.test"}; !slices.Equal(local, want) {
		t.Errorf("local copies %v, want %v", local, want)
	}
	if len(p.remote) != 0 {
		t.Errorf("remote jobs %+v: a2's copy is mx1's to deliver", p.remote)
	}
	// c3's alternate is applied (marked, to be passed on) without a copy.
	fw := false
	for _, x := range p.exps {
		fw = fw || (x.Forwarded && len(x.Add) == 0)
	}
	if !fw {
		t.Errorf("c3's alternate recipient not marked as applied: %+v", p.exps)
	}
}
