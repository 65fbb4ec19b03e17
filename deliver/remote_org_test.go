package deliver

import (
	"slices"
	"testing"

	"mailward/directory"
	"mailward/orgauth"
	"mailward/queue"
)

// Two servers of the organization on one address (a loopback test bed)
// are told apart by their delivery_address; a server known only by its
// addresses is still recognised by them.
func TestOrgPeerByDeliveryAddress(t *testing.T) {
	org := &directory.Org{Servers: []directory.OrgServer{
		{Name: "mx1", FQDN: "mx1.example.test", DeliveryAddress: "127.0.0.1:2725"},
		{Name: "mx2", FQDN: "mx2.example.test", DeliveryAddress: "127.0.0.1:2726"},
		{Name: "mx3", FQDN: "mx3.example.test", Addresses: []string{"127.0.0.3"}},
	}}
	r := &Remote{Org: func() *directory.Org { return org }}
	for _, c := range []struct{ host, addr, want string }{
		{"127.0.0.1", "127.0.0.1:2725", "mx1"},
		{"127.0.0.1", "127.0.0.1:2726", "mx2"},
		{"mx2.example.test", "127.0.0.9:25", "mx2"},
		{"127.0.0.3", "127.0.0.3:25", "mx3"},
		{"127.0.0.1", "127.0.0.1:25", ""},
	} {
		s, ok := r.orgPeer(c.host, c.addr)
		got := ""
		if ok {
			got = s.Name
		}
		if got != c.want {
			t.Errorf("orgPeer(%s, %s) = %q, want %q", c.host, c.addr, got, c.want)
		}
	}
}

// A transaction that passes a group on unexpanded carries the message's
// other recipients (covered), with those of the server before; one that
// carries only mailboxes carries none.
func TestPropsCoveredWithAGroupOnly(t *testing.T) {
	org, err := directory.NewOrg("Example", directory.OrgFile{
		Servers:    []directory.OrgServer{{Name: "mx1", FQDN: "mx1.example.test"}, {Name: "mx3", FQDN: "mx3.example.test"}},
		Domains:    []directory.OrgDomain{{Name: "example.test"}},
		Mailboxes:  []directory.OrgMailbox{{Address: "a1@example.test", HomeServer: "mx1"}, {Address: "a3@example.test", HomeServer: "mx3"}},
		DistGroups: []directory.DistributionGroup{{Address: "sub@example.test", ExpansionServer: "mx3", Members: []string{"a3@example.test"}}},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	up, _ := (&orgauth.Props{Message: orgauth.MessageProp{Covered: []string{"x@example.test"}}}).Encode()
	m := &queue.Message{Env: &queue.Envelope{OrgProps: up, Recipients: []queue.Recipient{
		{Addr: "all@example.test"}, {Addr: "A1@example.test"}, {Addr: "sub@example.test"}, {Addr: "a3@example.test"}}}}
	r := &Remote{Org: func() *directory.Org { return org }, Self: "mx1"}
	for _, c := range []struct {
		idx  []int
		want []string
	}{
		{[]int{2, 3}, []string{"x@example.test", "all@example.test", "a1@example.test"}},
		{[]int{3}, nil},
	} {
		p, err := orgauth.Decode(r.props(m, c.idx))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(p.Message.Covered, c.want) {
			t.Errorf("transaction %v: covered %v, want %v", c.idx, p.Message.Covered, c.want)
		}
	}
}
