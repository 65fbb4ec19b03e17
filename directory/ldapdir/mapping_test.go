package ldapdir

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"mailward/directory"
)

// sampleOrg has one of every kind of entry, with every setting.
func sampleOrg() directory.OrgFile {
	return directory.OrgFile{
		Servers: []directory.OrgServer{
			{Name: "mx1", FQDN: "mx1.example.org", SPNs: []string{"SMTP/mx1", "SMTP/mx1.example.org"}, Auth: "gssapi", Addresses: []string{"127.0.0.1"}},
			{Name: "mx2", FQDN: "mx2.example.org", Auth: "login", PasswordHash: "$2a$10$abc", DeliveryAddress: "127.0.0.1:2525"}},
		Groups:      []directory.OrgGroup{{Name: "hub", Members: []string{"mx1"}}, {Name: "all", Members: []string{"hub", "mx2"}}},
		Permissions: []directory.Permission{{Right: "send-as", Principal: "all", Type: "allow"}, {Right: "send-as", Principal: "mx2", Type: "deny"}},
		Domains:     []directory.OrgDomain{{Name: "example.org"}},
		Mailboxes: []directory.OrgMailbox{
			{Address: "ann@example.org", ProxyAddresses: []string{"a@example.org"}, HomeServer: "mx1", PasswordHash: "$2a$10$x"},
			{Address: "bob@example.org", HomeServer: "mx2", AlternateRecipient: "bob@elsewhere.test", DeliverToBoth: true}},
		DistGroups: []directory.DistributionGroup{
			{Address: "staff@example.org", Members: []string{"ann@example.org", "ext@partner.test"}, ExpansionServer: "mx1",
				HideMembership: true, AcceptOnlyAuthenticated: true, AcceptFrom: []string{"bob@example.org", "all@example.org"},
				RejectFrom: []string{"spam@partner.test"}, DeliveryReports: "owner", Owner: "ann@example.org"},
			{Address: "all@example.org", Members: []string{"staff@example.org", "bob@example.org"}, DeliveryReports: "none"},
			{Address: "empty@example.org", DeliveryReports: "sender"}},
		JournalRules: []directory.JournalRule{{Name: "legal", Mailboxes: []string{"ann@example.org"}, Recipient: "journal@archive.test"},
			{Name: "all", Domain: "example.org", Recipient: "journal@archive.test"}, {Name: "grp", Group: "staff@example.org", Recipient: "ann@example.org"}},
		Journaling: &directory.Journaling{Address: "journaling@example.org"},
		Folders:    []directory.SharedFolder{{Address: "pub@example.org", Replicas: []string{"mx2", "mx1"}}},
	}
}

// asLDAP is what a search returns for the encoded entries, with the
// site's attribute names; the journaling address lands on the base entry.
func asLDAP(es []Entry, a Attributes) []*ldap.Entry {
	var out []*ldap.Entry
	for _, e := range es {
		attrs := map[string][]string{}
		if len(e.Classes) > 0 {
			attrs["objectClass"] = e.Classes
		} else {
			attrs["objectClass"] = []string{"dcObject", "mailwardOrganization"}
		}
		for _, at := range e.Attrs {
			if len(at.Values) > 0 && !(len(at.Values) == 1 && at.Values[0] == "") {
				attrs[a.name(at.Name)] = at.Values
			}
		}
		out = append(out, ldap.NewEntry(e.DN, attrs))
	}
	return out
}

// TestMappingRoundTrip: every setting of every kind of entry survives
// Org → LDAP entries → Org, with AD's attribute names and with a site's
// own names ([organization.ldap.attributes]); references are DNs in LDAP.
func TestMappingRoundTrip(t *testing.T) {
	for _, attrs := range []Attributes{nil, {"proxyAddresses": "otherMailbox", "msExchHomeServerName": "homeMTA"}} {
		if err := CheckAttributes(attrs); err != nil {
			t.Fatal(err)
		}
		es := Encode(sampleOrg(), "dc=example,dc=org")
		want, _ := directory.NewOrg("o", sampleOrg(), "")
		got, _ := directory.NewOrg("o", Decode(asLDAP(es, attrs), attrs), "")
		wt, _ := TOML(want)
		gt, _ := TOML(got)
		if string(wt) != string(gt) {
			t.Fatalf("attributes %v: round trip differs:\nwant %s\ngot  %s", attrs, wt, gt)
		}
		if errs, _ := got.Validate(); len(errs) > 0 {
			t.Fatalf("decoded org invalid: %v", errs)
		}
		ldapEntries := asLDAP(es, attrs)
		for _, e := range ldapEntries {
			if e.DN == "cn=ann@example.org,ou=recipients,dc=example,dc=org" {
				name := attrs.name("proxyAddresses")
				if v := e.GetAttributeValues(name); !reflect.DeepEqual(v, []string{"smtp:a@example.org"}) {
					t.Errorf("ann's %s = %v, want AD's form smtp:a@example.org", name, v)
				}
			}
			if e.DN == "cn=staff@example.org,ou=recipients,dc=example,dc=org" {
				if m := e.GetAttributeValues("member"); !reflect.DeepEqual(m, []string{"cn=ann@example.org,ou=recipients,dc=example,dc=org",
					"cn=ext@partner.test,ou=contacts,dc=example,dc=org"}) {
					t.Errorf("staff's members = %v, want DNs (a contact for the outside address)", m)
				}
				if v := e.GetAttributeValues("dLMemSubmitPerms"); len(v) != 1 || !strings.HasPrefix(v[0], "cn=all@example.org,") {
					t.Errorf("a group allowed to send is dLMemSubmitPerms: %v", v)
				}
			}
		}
	}
}

// TestProxyAddressForms: AD's "SMTP:" primary is not a proxy address,
// other types (X400:) are not mail addresses.
func TestProxyAddressForms(t *testing.T) {
	e := ldap.NewEntry("cn=x,dc=e", map[string][]string{"objectClass": {"inetOrgPerson", "mailwardMailbox"}, "mail": {"x@e.org"},
		"proxyAddresses": {"SMTP:x@e.org", "smtp:y@e.org", "X400:c=US;a= ;p=E;o=X;s=x;", "z@e.org"}})
	f := Decode([]*ldap.Entry{e}, nil)
	if got := f.Mailboxes[0].ProxyAddresses; !reflect.DeepEqual(got, []string{"y@e.org", "z@e.org"}) {
		t.Fatalf("proxy addresses = %v", got)
	}
}

func TestCheckAttributes(t *testing.T) {
	if err := CheckAttributes(Attributes{"proxyAdresses": "x"}); err == nil || !strings.Contains(err.Error(), "unknown attribute") {
		t.Errorf("a misspelt attribute: %v", err)
	}
	if err := CheckAttributes(Attributes{"proxyAddresses": "mail"}); err == nil || !strings.Contains(err.Error(), "both map") {
		t.Errorf("two attributes on one name: %v", err)
	}
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// TestSnapshotTTLAndOutage: a good read puts the copy in force; a failed
// read keeps the last copy serving until it is stale_ttl old (Err nil),
// then Err is directory.ErrUnavailable (451 at RCPT); a good read ends it.
// Each change of state is reported once.
func TestSnapshotTTLAndOutage(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var loadErr error
	var applied int
	var states []string
	org, _ := directory.NewOrg("o", sampleOrg(), "")
	s := &Snapshot{Load: func() (*directory.Org, error) { return org, loadErr }, Apply: func(*directory.Org) { applied++ },
		TTL: time.Minute, StaleTTL: 10 * time.Minute, Now: c.now, Report: func(st State) { states = append(states, st.Kind) }}
	if err := s.Refresh(); err != nil || applied != 1 || s.Err() != nil {
		t.Fatalf("first read: %v applied %d", err, applied)
	}
	loadErr = errors.New("connection refused")
	c.t = c.t.Add(time.Minute)
	if s.Refresh() == nil || applied != 1 {
		t.Fatal("a failed read was applied")
	}
	c.t = c.t.Add(8 * time.Minute) // 9 minutes after the good read
	s.Refresh()
	if err := s.Err(); err != nil {
		t.Fatalf("within stale_ttl the cached copy must serve: %v", err)
	}
	c.t = c.t.Add(time.Minute) // 10 minutes: stale
	if err := s.Err(); !errors.Is(err, directory.ErrUnavailable) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("after stale_ttl: %v, want ErrUnavailable with the cause", err)
	}
	s.Refresh()
	s.Refresh()
	loadErr = nil
	c.t = c.t.Add(time.Minute)
	if err := s.Refresh(); err != nil || s.Err() != nil || applied != 2 {
		t.Fatalf("recovery: %v %v applied %d", err, s.Err(), applied)
	}
	if want := []string{"failing", "expired", "recovered"}; !reflect.DeepEqual(states, want) {
		t.Fatalf("states %v, want %v", states, want)
	}
}

// TestSnapshotRefusesBadCopy: a copy Check refuses (a broken edit in
// LDAP) is not put in force; the last good one serves.
func TestSnapshotRefusesBadCopy(t *testing.T) {
	org, _ := directory.NewOrg("o", sampleOrg(), "")
	var applied int
	s := &Snapshot{Load: func() (*directory.Org, error) { return org, nil }, Apply: func(*directory.Org) { applied++ },
		Check: func(*directory.Org) error { return errors.New("group x: unknown member y") }, TTL: time.Minute, StaleTTL: time.Hour}
	if err := s.Refresh(); err == nil || applied != 0 {
		t.Fatalf("refused copy applied: %v %d", err, applied)
	}
}
