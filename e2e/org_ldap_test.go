package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"mailward/directory"
	"mailward/directory/ldapdir"
	"mailward/internal/testkit"
	"mailward/internal/testkit/orgbackend"
)

// The organization directory in LDAP (docs/directory.md), against a real
// slapd: a change is in force without a restart, an outage longer than
// stale_ttl defers (451 at RCPT, 454 for organization authentication)
// and mail resumes when the directory answers again.

// rcptReply is the server's answer to one RCPT from an outside sender.
func rcptReply(t *testing.T, addr, rcpt string) reply {
	t.Helper()
	c := dial(t, addr)
	defer c.Close()
	c.expect("EHLO client.elsewhere.test", 250)
	c.expect("MAIL FROM:<someone@elsewhere.test>", 250)
	r := c.cmd("RCPT TO:<" + rcpt + ">")
	c.cmdErr("QUIT")
	return r
}

// A mailbox added in LDAP while mx1 runs is accepted and delivered
// within the cache TTL (1 s here), without a restart or a reload.
func TestLDAPLiveChange(t *testing.T) {
	b := &orgbackend.LDAP{CacheTTL: "1s"}
	d := orgRecipients(t, "mx1")
	homed(d, "mx1", "a@example.test")
	mx1 := startOrgNetOn(t, b, d, orgMember("mx1"))["mx1"]
	if r := rcptReply(t, mx1.Addr, "new@example.test"); r.Code != 550 {
		t.Fatalf("RCPT to a mailbox not yet in LDAP: %v, want 550", r)
	}
	homed(d, "mx1", "new@example.test")
	b.Publish(t, d) // an import: adds the entry to the running slapd
	testkit.WaitFor(t, 10*time.Second, "the new mailbox accepted", func() bool {
		return rcptReply(t, mx1.Addr, "new@example.test").Code == 250
	})
	sendAnon(t, mx1.Addr, "<someone@elsewhere.test>", []string{"<new@example.test>"}, "live")
	delivered(t, mx1, "new@example.test", 1)
}

// slapd stopped: mx1 keeps serving its copy (event 3040) until
// stale_ttl (2 s), then RCPT to the organization gets 451 4.3.0 (event
// 3041), never 550 and never a relay; X-EXPS from mx2 (which reads a
// file and so still accepts the mail) gets 454 4.7.0 on mx1 (event
// 1035) and mx2 keeps the message with KB979174's last error. slapd back:
// event 3042, RCPT is accepted again and mx2's next retry delivers.
func TestLDAPOutageAndRecovery(t *testing.T) {
	ldap := &orgbackend.LDAP{CacheTTL: "1s", StaleTTL: "2s"}
	file := &orgbackend.File{}
	d := orgRecipients(t, "mx1", "mx2")
	homed(d, "mx1", "a@example.test")
	c1, c2 := orgMember("mx1"), orgMember("mx2")
	for _, c := range []*testkit.Config{c1, c2} {
		c.ListenOnFreePorts(t)
		d.Server(c.Organization.Self).DeliveryAddress = c.VirtualServer("default").Address
	}
	ldap.Publish(t, d)
	mx1 := startOrgNetOn(t, ldap, d, c1)["mx1"]
	mx2 := startOrgNetOn(t, file, d, c2)["mx2"]
	if r := rcptReply(t, mx1.Addr, "a@example.test"); r.Code != 250 {
		t.Fatalf("before the outage: %v", r)
	}

	ldap.Slapd.Stop()
	waitEvents(t, mx1, 3040, "", 1, 10*time.Second)
	waitEvents(t, mx1, 3041, "", 1, 10*time.Second)
	want := "451 4.3.0 Recipient lookup failed (directory unavailable), try again later"
	for _, rcpt := range []string{"a@example.test", "nobody@example.test"} {
		if r := rcptReply(t, mx1.Addr, rcpt); r.String() != want {
			t.Errorf("RCPT %s during the outage: %q, want %q", rcpt, r, want)
		}
	}
	if r := rcptReply(t, mx1.Addr, "x@partner.test"); r.Code != 550 {
		t.Errorf("relay during the outage: %v, want 550", r)
	}
	id := sendAnon(t, mx2.Addr, "<someone@elsewhere.test>", []string{"<a@example.test>"}, "outage")
	kb := `451 4.4.0 Primary target IP address responded with: "454 4.7.0 Temporary authentication failure."`
	testkit.WaitFor(t, 15*time.Second, "KB979174's last error on mx2", func() bool {
		got, _ := queueLastError(t, mx2, c1.VirtualServer("default").Address, id)
		return strings.HasPrefix(got, kb)
	})
	if r := mx1.Events(1035); len(r) == 0 || !strings.Contains(r[0].Message, "DirectoryUnavailable") {
		t.Errorf("mx1 event 1035 should name the directory outage: %+v", r)
	}
	if n := len(mx1.Maildir("a@example.test")); n != 0 {
		t.Fatalf("delivered during the outage: %d", n)
	}

	ldap.Slapd.Restart(t)
	waitEvents(t, mx1, 3042, "", 1, 15*time.Second)
	if r := rcptReply(t, mx1.Addr, "a@example.test"); r.Code != 250 {
		t.Errorf("after recovery: %v", r)
	}
	delivered(t, mx1, "a@example.test", 1)
}

// mailward directory import then export: an organization file with
// every kind of entry goes into slapd and comes back as a file that
// loads as the same organization; importing it again adds nothing; the
// LDIF export names the entries with AD's attributes. Then mx1 serves
// from what was imported (directory resolve reads LDAP).
func TestLDAPImportExportRoundTrip(t *testing.T) {
	b := &orgbackend.LDAP{Slapd: testkit.StartSlapd(t, testkit.SlapdOptions{})}
	d := orgRecipients(t, "mx1", "mx2")
	homed(d, "mx1", "a@example.test")
	d.Mailboxes = append(d.Mailboxes, testkit.OrgMailbox{Address: "b@example.test", HomeServer: "mx2",
		ProxyAddresses: []string{"bee@example.test"}, AlternateRecipient: "b@partner.test", DeliverToBoth: true})
	d.DistGroups = []testkit.DistributionGroup{{Address: "g@example.test", Members: []string{"a@example.test", "x@partner.test"},
		HideMembership: true, AcceptOnlyAuthenticated: true, RejectFrom: []string{"spam@partner.test"}, DeliveryReports: "owner",
		Owner: "a@example.test", ExpansionServer: "mx1"}}
	d.Groups = []testkit.OrgGroup{{Name: "hubs", Members: []string{"mx1", "mx2"}}}
	d.Permissions = []testkit.Permission{{Right: "send-as", Principal: "hubs", Type: "allow"}}
	d.JournalRules = []testkit.JournalRule{{Name: "legal", Mailboxes: []string{"a@example.test"}, Recipient: "archive@partner.test"}}
	d.Folders = []testkit.SharedFolder{{Address: "pub@example.test", Replicas: []string{"mx2", "mx1"}}}

	dir := t.TempDir()
	writeFile(t, dir+"/org.toml", d.TOML())
	cli, c := ldapToolServer(t, b, dir)

	out, errOut, err := runCLI(cli, "directory", "import", "org.toml", "--config", cli.Config)
	if err != nil || !strings.Contains(out, "entries added, 0 updated") {
		t.Fatalf("import: %v %s %s", err, out, errOut)
	}
	out, errOut, err = runCLI(cli, "directory", "import", "org.toml", "--config", cli.Config)
	if err != nil || !strings.Contains(out, ": 0 entries added,") {
		t.Fatalf("second import added entries: %v %s %s", err, out, errOut)
	}
	exported, errOut, err := runCLI(cli, "directory", "export", "--config", cli.Config)
	if err != nil {
		t.Fatalf("export: %v %s", err, errOut)
	}
	writeFile(t, dir+"/exported.toml", exported)
	// The imported file, read as a server reads its organization file,
	// prints the same as the export: the same organization.
	orig, err := directory.NewOrg("Example", directory.OrgFile{}, dir+"/org.toml")
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := ldapdir.TOML(orig); string(want) != exported {
		t.Fatalf("TOML → LDAP → TOML differs:\n%s\nvs the file's\n%s", exported, want)
	}
	if !strings.Contains(exported, `proxy_addresses = ['bee@example.test']`) || !strings.Contains(exported, `replicas = ['mx2', 'mx1']`) ||
		!strings.Contains(exported, `hide_membership = true`) || !strings.Contains(exported, `members = ['a@example.test', 'x@partner.test']`) {
		t.Errorf("export lacks settings of the imported file:\n%s", exported)
	}
	ldif, errOut, err := runCLI(cli, "directory", "export", "--config", cli.Config, "--format", "ldif")
	if err != nil || !strings.Contains(ldif, "proxyAddresses: smtp:bee@example.test") || !strings.Contains(ldif, "hideDLMembership: TRUE") ||
		!strings.Contains(ldif, "member: cn=x@partner.test,ou=contacts,dc=example,dc=org") {
		t.Errorf("LDIF export: %v %s\n%s", err, errOut, ldif)
	}
	// Re-importing the export into a fresh directory gives the same export.
	b2 := &orgbackend.LDAP{Slapd: testkit.StartSlapd(t, testkit.SlapdOptions{})}
	b2.Configure(t, c, dir)
	writeFile(t, dir+"/mailward2.toml", c.TOML())
	if out, errOut, err := runCLI(cli, "directory", "import", "exported.toml", "--config", dir+"/mailward2.toml"); err != nil {
		t.Fatalf("import of the export: %v %s %s", err, out, errOut)
	}
	again, _, err := runCLI(cli, "directory", "export", "--config", dir+"/mailward2.toml")
	if err != nil || again != exported {
		t.Fatalf("TOML → LDAP → TOML → LDAP → TOML differs (%v):\n%s\nvs\n%s", err, again, exported)
	}
	res, errOut, err := runCLI(cli, "directory", "resolve", "bee@example.test", "--config", cli.Config)
	if err != nil || !strings.Contains(res, "b@example.test") {
		t.Errorf("directory resolve on LDAP: %v %s %s", err, res, errOut)
	}
}

// ldapToolServer is mx1's configuration reading b's slapd, written into
// dir with the secret: a server for the tools (runCLI), never started.
func ldapToolServer(t *testing.T, b *orgbackend.LDAP, dir string) (*server, *testkit.Config) {
	t.Helper()
	writeFile(t, dir+"/secret", orgSecret+"\n")
	c := orgMember("mx1")
	b.Configure(t, c, dir)
	c.ListenOnFreePorts(t)
	writeFile(t, dir+"/mailward.toml", c.TOML())
	return &server{t: t, Dir: dir, Config: dir + "/mailward.toml"}, c
}

// spnOrg publishes mx1 and mx2, each with its SMTP and SMTPSVC SPNs by
// name and FQDN, in a slapd of its own, and returns it with mx1's tool
// server on it.
func spnOrg(t *testing.T) (*orgbackend.LDAP, *server) {
	t.Helper()
	b := &orgbackend.LDAP{Slapd: testkit.StartSlapd(t, testkit.SlapdOptions{})}
	d := orgRecipients(t, "mx1", "mx2")
	for i := range d.Servers {
		s := &d.Servers[i]
		s.SPNs = []string{"SMTP/" + s.Name, "SMTP/" + s.FQDN, "SMTPSVC/" + s.Name, "SMTPSVC/" + s.FQDN}
	}
	b.Publish(t, d)
	cli, _ := ldapToolServer(t, b, t.TempDir())
	return b, cli
}

// mailward diag spn --duplicates reads the LDAP directory: an SPN
// planted by hand on a second server entry (as a mistaken setspn -A
// would) is found, as setspn -X finds it ("found 1 group(s) of
// duplicate SPNs."), and diag spn names it on the server it concerns.
func TestLDAPDiagSPNDuplicates(t *testing.T) {
	b, cli := spnOrg(t)
	if out, errOut, err := runCLI(cli, "diag", "spn", "--duplicates", "--config", cli.Config); err != nil ||
		!strings.Contains(out, "found 0 group(s) of duplicate SPNs.") {
		t.Fatalf("before: %v\n%s%s", err, out, errOut)
	}
	b.Slapd.Add(t, "cn=mx9,ou=servers,"+b.Slapd.Suffix, map[string][]string{"objectClass": {"mailwardServer"}, "cn": {"mx9"},
		"dNSHostName": {"mx9.example.test"}, "servicePrincipalName": {"SMTP/mx2.example.test"}})
	out, errOut, err := runCLI(cli, "diag", "spn", "--duplicates", "--config", cli.Config)
	if err == nil || !strings.Contains(out, "found 1 group(s) of duplicate SPNs.") || !strings.Contains(out, "mx9") {
		t.Fatalf("the planted duplicate: %v\n%s%s", err, out, errOut)
	}
}

// diag spn searches LDAP itself, as setspn -X does: an SPN planted on
// an account that is no server of the organization (a person entry
// allowed any attribute, as any Active Directory account may carry an
// SPN) is outside what the organization loads, yet it collides in
// Kerberos: diag spn --duplicates names it by its DN, and diag spn
// --server mx2 marks mx2's SPN as a duplicate of it.
func TestLDAPDiagSPNSearchesLDAP(t *testing.T) {
	b, cli := spnOrg(t)
	account := "cn=svc-backup," + b.Slapd.Suffix
	b.Slapd.Add(t, account, map[string][]string{"objectClass": {"person", "extensibleObject"}, "cn": {"svc-backup"},
		"sn": {"backup"}, "servicePrincipalName": {"SMTP/mx2.example.test", "HOST/backup.example.test"}})
	out, errOut, err := runCLI(cli, "diag", "spn", "--duplicates", "--config", cli.Config)
	want := "Checking organization \"Example\" for duplicate SPNs\n" +
		"smtp/mx2.example.test is registered on: mx2, " + account + "\n" +
		"found 1 group(s) of duplicate SPNs.\n"
	if err == nil || out != want {
		t.Fatalf("diag spn --duplicates: %v\n%s%s\nwant:\n%s", err, out, errOut, want)
	}
	out, errOut, err = runCLI(cli, "diag", "spn", "--server", "mx2", "--config", cli.Config)
	if err == nil || !strings.Contains(out, "\tSMTP/mx2.example.test  DUPLICATE: also on "+account+"\n") ||
		strings.Contains(out, "HOST/backup") {
		t.Fatalf("diag spn --server mx2: %v\n%s%s", err, out, errOut)
	}
	// The organization the server loads does not have the account: the
	// duplicate came from the search, not from the snapshot.
	cl, err := ldapdir.NewClient(ldapdir.Config{URL: b.Slapd.URL, Bind: "simple", BindDN: b.Slapd.RootDN,
		Password: b.Slapd.RootPW, BaseDN: b.Slapd.Suffix})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	org, err := cl.Load("Example")
	if err != nil {
		t.Fatal(err)
	}
	if dups := org.DuplicateSPNs(); len(dups) != 0 {
		t.Fatalf("the snapshot sees duplicates %v: the test would not tell a search from the snapshot", dups)
	}
}

// Negative answers cost the directory nothing: forty unknown addresses
// asked at RCPT (a harvest) are answered from mx1's copy — 550 5.1.1
// after the tarpit — and slapd's own counters (cn=Monitor) show no search
// per address: only the snapshot's periodic reads, a handful at most.
func TestLDAPHarvestDoesNotReachTheDirectory(t *testing.T) {
	b := &orgbackend.LDAP{Slapd: testkit.StartSlapd(t, testkit.SlapdOptions{Monitor: true})}
	d := orgRecipients(t, "mx1")
	homed(d, "mx1", "a@example.test")
	mx1 := startOrgNetOn(t, b, d, orgMember("mx1"))["mx1"]
	before := b.Slapd.Searches(t)
	const n = 40
	codes := make(chan int, n)
	for i := range n {
		go func() { codes <- rcptReply(t, mx1.Addr, fmt.Sprintf("harvest%d@example.test", i)).Code }()
	}
	for range n {
		select {
		case c := <-codes:
			if c != 550 {
				t.Fatalf("an unknown address got %d, want 550", c)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the harvest did not finish within 30 s")
		}
	}
	// The first reading counts itself: at least 1, or the counter is not live.
	if got := b.Slapd.Searches(t) - before; got < 1 || got >= 10 {
		t.Errorf("slapd completed %d searches during a harvest of %d addresses; want only the snapshot's few", got, n)
	}
}
