package e2e

import (
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
	"mailward/internal/testkit/orgbackend"
)

// startUnreplicatedMX3 is KB979174's replication lag on a real syncrepl
// pair: mx1, with a@example.test, reads the consumer; mx3, a new server
// added on the provider only while replication is paused (with the
// mailboxes given homed on it), reads the provider.
func startUnreplicatedMX3(t *testing.T, mx3Mailboxes ...string) (pair *testkit.SlapdPair, mx1, mx3 *server) {
	t.Helper()
	pair = testkit.StartSlapdPair(t)
	provider := &orgbackend.LDAP{Slapd: pair.Provider}
	consumer := &orgbackend.LDAP{Slapd: pair.Consumer, Replica: true}
	c1, c3 := orgMember("mx1"), orgMember("mx3")
	c1.ListenOnFreePorts(t)
	d := orgRecipients(t, "mx1")
	homed(d, "mx1", "a@example.test")
	d.Server("mx1").DeliveryAddress = c1.VirtualServer("default").Address
	provider.Publish(t, d)
	pair.WaitReplicated(t, "cn=a@example.test,ou=recipients,"+pair.Provider.Suffix)

	pair.PauseReplication()
	d.Servers = append(d.Servers, orgRecipients(t, "mx3").Servers...)
	homed(d, "mx3", mx3Mailboxes...)
	mx3 = startOrgNetOn(t, provider, d, c3)["mx3"]
	mx1 = startOrgNetOn(t, consumer, d, c1)["mx1"]
	return pair, mx1, mx3
}

// KB979174 end to end, with real OpenLDAP replication (a syncrepl
// provider and consumer, docs/directory.md#replication): mx1 reads the
// consumer, mx3 — a new organization server, added on the provider only
// while replication is paused — reads the provider. mx1 offers X-EXPS to
// every client (org_auth_offer's default with LDAP), and answers mx3's
// account, which its replica lacks, with 454 4.7.0 and event 1035; mx3
// keeps the message with KB979174's last error. Replication resumed, the
// next retry delivers it, once.
func TestLDAPReplicationLagKB979174(t *testing.T) {
	// 1. mx3 is added on the provider only.
	pair, mx1, mx3 := startUnreplicatedMX3(t)
	mx3dn := "cn=mx3,ou=servers," + pair.Provider.Suffix
	if !pair.Provider.Has(mx3dn) || pair.Consumer.Has(mx3dn) {
		t.Fatal("mx3 should be on the provider only while replication is paused")
	}

	// 2. Mail from mx3 to mx1: 454 4.7.0, event 1035, and on mx3 the
	// queue shows KB979174's last error.
	id := sendAnon(t, mx3.Addr, "<someone@elsewhere.test>", []string{"<a@example.test>"}, "lag")
	var last string
	testkit.WaitFor(t, 15*time.Second, "KB979174's last error in mx3's queue", func() bool {
		last, _ = queueLastError(t, mx3, mx1.Addr, id)
		return last == kb979174LastError
	})
	recs := mx1.Events(1035)
	if len(recs) == 0 || recs[0].Fields["error"] != "UnknownServer: mx3" || recs[0].Fields["helo"] != "mx3.example.test" {
		t.Fatalf("mx1 event 1035 should name mx3 as unknown: %+v", recs)
	}
	if n := len(mx1.Maildir("a@example.test")); n != 0 {
		t.Fatalf("delivered while mx1's replica lacks mx3: %d", n)
	}
	out, _, err := runCLI(mx3, "queue", "list", "--config", mx3.Config)
	if err != nil || !strings.Contains(out, "454 4.7.0 Temporary authentication failure") {
		t.Errorf("mx3's queue list should show the 454: %v\n%s", err, out)
	}

	// 3. Replication resumes: the next retry delivers, once, with the
	// organization properties (mx1 accepted mx3's XEXCH50).
	pair.ResumeReplication()
	pair.WaitReplicated(t, mx3dn)
	delivered(t, mx1, "a@example.test", 1)
	if recs := mx1.EventsFor(1712, "server", "mx3"); len(recs) == 0 {
		t.Error("mx1 should accept mx3's properties (event 1712) once it knows mx3")
	}
	time.Sleep(2 * time.Second) // a second delivery would land within a retry
	if n := len(mx1.Maildir("a@example.test")); n != 1 {
		t.Errorf("a@example.test got %d copies, want 1", n)
	}
}

// The same for a group member added on one side: mx2, reading the
// provider, expands staff@ with a member the consumer that mx1 reads
// does not have yet. mx1 answers that recipient from an authenticated
// organization server with 451 4.1.1 (event 1028) — not 550, which would
// bounce a real recipient — and delivers the member it knows. mx2 keeps
// the new member's copy with that last error; replication resumed, the
// retry delivers it. Every member gets exactly one copy.
func TestLDAPReplicationLagGroupMember(t *testing.T) {
	pair := testkit.StartSlapdPair(t)
	provider := &orgbackend.LDAP{Slapd: pair.Provider, CacheTTL: "1s"}
	consumer := &orgbackend.LDAP{Slapd: pair.Consumer, Replica: true, CacheTTL: "1s"}
	c1, c2 := orgMember("mx1"), orgMember("mx2")
	d := orgRecipients(t, "mx1", "mx2")
	homed(d, "mx1", "a@example.test")
	d.DistGroups = append(d.DistGroups, testkit.DistributionGroup{Address: "staff@example.test",
		Members: []string{"a@example.test"}, ExpansionServer: "mx2"})
	c1.ListenOnFreePorts(t)
	d.Server("mx1").DeliveryAddress = c1.VirtualServer("default").Address
	mx2 := startOrgNetOn(t, provider, d, c2)["mx2"]
	pair.WaitReplicated(t, "cn=staff@example.test,ou=recipients,"+pair.Provider.Suffix)
	mx1 := startOrgNetOn(t, consumer, d, c1)["mx1"]

	pair.PauseReplication()
	homed(d, "mx1", "new@example.test")
	d.DistGroups[0].Members = append(d.DistGroups[0].Members, "new@example.test")
	provider.Publish(t, d)
	newDN := "cn=new@example.test,ou=recipients," + pair.Provider.Suffix
	if !pair.Provider.Has(newDN) || pair.Consumer.Has(newDN) {
		t.Fatal("new@example.test should be on the provider only")
	}
	time.Sleep(2 * time.Second) // mx2 reads the provider anew (cache_ttl 1 s)

	id := sendAnon(t, mx2.Addr, "<someone@elsewhere.test>", []string{"<staff@example.test>"}, "staff")
	delivered(t, mx1, "a@example.test", 1)
	want := "451 4.1.1 new@example.test... not in this server's directory yet (replication?), try again later"
	testkit.WaitFor(t, 15*time.Second, "the new member's copy held on mx2", func() bool {
		last, _ := queueLastError(t, mx2, c1.VirtualServer("default").Address, id)
		return strings.Contains(last, want)
	})
	if recs := mx1.EventsFor(1028, "rcpt", "new@example.test"); len(recs) == 0 || recs[0].Fields["server"] != "mx2" {
		t.Errorf("mx1 event 1028: %+v", recs)
	}

	pair.ResumeReplication()
	pair.WaitReplicated(t, newDN)
	delivered(t, mx1, "new@example.test", 1)
	time.Sleep(2 * time.Second)
	for _, a := range []string{"a@example.test", "new@example.test"} {
		if n := len(mx1.Maildir(a)); n != 1 {
			t.Errorf("%s got %d copies, want 1", a, n)
		}
	}
}
