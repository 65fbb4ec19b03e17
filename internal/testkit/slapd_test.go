package testkit

import (
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// TestStartSlapd: slapd starts from the cn=config the test writes, with
// mailward's schema loaded (a server entry of its classes is accepted),
// and a stop is an outage (the URL refuses) that Restart ends.
func TestStartSlapd(t *testing.T) {
	s := StartSlapd(t, SlapdOptions{})
	s.Add(t, "cn=mx1,"+s.Suffix, map[string][]string{"objectClass": {"mailwardServer"}, "cn": {"mx1"},
		"dNSHostName": {"mx1.example.org"}, "servicePrincipalName": {"SMTP/mx1", "SMTP/mx1.example.org"}})
	c := s.MustConn(t)
	res, err := c.Search(ldap.NewSearchRequest(s.Suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 5, false,
		"(servicePrincipalName=smtp/MX1.example.org)", []string{"dNSHostName"}, nil))
	if err != nil || len(res.Entries) != 1 || res.Entries[0].GetAttributeValue("dNSHostName") != "mx1.example.org" {
		t.Fatalf("search by SPN: %v %v", err, res)
	}
	s.Stop()
	if _, err := s.Conn(); err == nil {
		t.Fatal("a stopped slapd still answers")
	}
	s.Restart(t)
	if _, err := s.Conn(); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

// TestStartSlapdPair: an entry added on the provider reaches the
// consumer (syncrepl); with replication paused one does not, while both
// answer; resumed, it arrives.
func TestStartSlapdPair(t *testing.T) {
	p := StartSlapdPair(t)
	add := func(name string) string {
		dn := "cn=" + name + "," + p.Provider.Suffix
		p.Provider.Add(t, dn, map[string][]string{"objectClass": {"mailwardServer"}, "cn": {name}, "dNSHostName": {name + ".example.org"}})
		return dn
	}
	p.WaitReplicated(t, add("mx1"))
	p.PauseReplication()
	mx3 := add("mx3")
	if Eventually(1500*time.Millisecond, func() bool { return p.Consumer.Has(mx3) }) {
		t.Fatal("an entry reached the consumer while replication was paused")
	}
	if !p.Provider.Has(mx3) {
		t.Fatal("the provider lost its entry")
	}
	p.ResumeReplication()
	p.WaitReplicated(t, mx3)
}
