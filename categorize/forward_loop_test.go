package categorize

import (
	"testing"

	"mailward/directory"
	"mailward/orgauth"
	"mailward/queue"
)

// The plan itself: a forwarding loop that closes on the next server (a on mx1 forwards to
// b here, b forwards back to a): the chain the server before passed on
// shows it, so b keeps its one copy here, marked as forwarded, instead of
// going back to a.
func TestForwardingLoopClosedOnNextServerPlan(t *testing.T) {
	org, err := directory.NewOrg("Example", directory.OrgFile{
		Servers: []directory.OrgServer{{Name: "mx1", FQDN: "mx1.example.test"}, {Name: "mx2", FQDN: "mx2.example.test"}},
		Domains: []directory.OrgDomain{{Name: "example.test"}},
		Mailboxes: []directory.OrgMailbox{
			{Address: "a@example.test", HomeServer: "mx1", AlternateRecipient: "b@example.test"},
			{Address: "b@example.test", HomeServer: "mx2", AlternateRecipient: "a@example.test"},
		},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	up := orgauth.Props{Envelope: orgauth.EnvelopeProp{OriginServer: "mx1"},
		Recipients: []orgauth.RcptProp{{Address: "b@example.test", Alternate: true, ForwardedFrom: []string{"a@example.test"}}}}
	blob, err := up.Encode()
	if err != nil {
		t.Fatal(err)
	}
	m := &queue.Message{Env: &queue.Envelope{ID: "Q1", From: "someone@elsewhere.test", OrgProps: blob,
		Recipients: []queue.Recipient{{Addr: "b@example.test"}}}, Status: make([]queue.RcptStatus, 1)}
	c := &Categorizer{Dir: &directory.Recipients{Local: directory.New(nil, nil, ""), Org: func() *directory.Org { return org }, Self: "mx2"}}
	p := c.plan(m)
	if len(p.local) != 1 || p.local[0].mailbox != "b@example.test" || len(p.remote) != 0 {
		t.Errorf("local %+v, remote %+v: want b's one copy here", p.local, p.remote)
	}
	if len(p.exps) != 1 || !p.exps[0].Forwarded || len(p.exps[0].Add) != 0 {
		t.Errorf("expansions %+v: want b marked forwarded, nothing added", p.exps)
	}
}
