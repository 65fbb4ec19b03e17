package ldapdir_test

import (
	"strings"
	"testing"

	"mailward/directory"
	"mailward/directory/ldapdir"
	"mailward/internal/testkit"
)

const base = "dc=example,dc=org"

func file() directory.OrgFile {
	return directory.OrgFile{
		Servers:    []directory.OrgServer{{Name: "mx1", FQDN: "mx1.example.org", SPNs: []string{"SMTP/mx1", "SMTP/mx1.example.org", "SMTPSVC/mx1", "SMTPSVC/mx1.example.org"}}},
		Domains:    []directory.OrgDomain{{Name: "example.org"}},
		Mailboxes:  []directory.OrgMailbox{{Address: "ann@example.org", ProxyAddresses: []string{"a@example.org"}, AlternateRecipient: "ann@else.test"}},
		DistGroups: []directory.DistributionGroup{{Address: "g@example.org", Members: []string{"ann@example.org", "x@partner.test"}, HideMembership: true}, {Address: "empty@example.org"}},
		Folders:    []directory.SharedFolder{{Address: "pub@example.org", Replicas: []string{"mx1"}}},
		Journaling: &directory.Journaling{Address: "j@example.org"},
	}
}

// TestImportExportSlapd: the organization written into a real slapd
// (Debian's, with mailward's schema: every entry passes its schema
// checks) reads back as the same organization; importing again is
// idempotent, and a change made in the TOML (a setting removed) is
// applied to the existing entry.
func TestImportExportSlapd(t *testing.T) {
	s := testkit.StartSlapd(t, testkit.SlapdOptions{Suffix: base})
	c, err := ldapdir.NewClient(ldapdir.Config{URL: s.URL, Bind: "simple", BindDN: s.RootDN, Password: s.RootPW, BaseDN: base})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	added, _, err := c.Apply(ldapdir.Encode(file(), base))
	if err != nil || added == 0 {
		t.Fatalf("import: %v (added %d)", err, added)
	}
	want, _ := directory.NewOrg("o", file(), "")
	got, err := c.Load("o")
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := ldapdir.TOML(want)
	gt, _ := ldapdir.TOML(got)
	if string(wt) != string(gt) {
		t.Fatalf("TOML → LDAP → TOML differs:\nwant %s\ngot  %s", wt, gt)
	}
	added, _, err = c.Apply(ldapdir.Encode(file(), base))
	if err != nil || added != 0 {
		t.Fatalf("second import: %v, added %d (want 0)", err, added)
	}
	f := file()
	f.DistGroups[0].HideMembership = false
	if _, _, err := c.Apply(ldapdir.Encode(f, base)); err != nil {
		t.Fatal(err)
	}
	got, _ = c.Load("o")
	if got.Find("g@example.org").Group.HideMembership {
		t.Fatal("hideDLMembership removed in the TOML is still set in LDAP after import")
	}
	if !strings.Contains(string(ldapdir.LDIF(ldapdir.Encode(f, base), nil)), "proxyAddresses: smtp:a@example.org") {
		t.Fatal("LDIF export lacks the proxy address")
	}
}

// TestLoadOutage: a directory that does not answer is
// directory.ErrUnavailable (the 451, never a 550).
func TestLoadOutage(t *testing.T) {
	s := testkit.StartSlapd(t, testkit.SlapdOptions{Suffix: base})
	c, _ := ldapdir.NewClient(ldapdir.Config{URL: s.URL, Bind: "simple", BindDN: s.RootDN, Password: s.RootPW, BaseDN: base})
	if _, err := c.Load("o"); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if _, err := c.Load("o"); err == nil || !strings.Contains(err.Error(), directory.ErrUnavailable.Error()) {
		t.Fatalf("load from a stopped slapd: %v", err)
	}
}
