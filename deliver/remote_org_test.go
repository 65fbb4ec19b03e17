package deliver

import (
	"testing"

	"mailward/directory"
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
