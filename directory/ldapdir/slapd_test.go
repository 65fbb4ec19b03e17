package ldapdir_test

import (
	"path/filepath"
	"strings"
	"testing"

	"mailward/directory"
	"mailward/directory/ldapdir"
	"mailward/internal/certs"
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

// TestStartTLS: with ca_file, ldap:// is upgraded with StartTLS and the
// directory's certificate verified: the right CA reads the directory,
// another CA's certificate is refused before anything is sent (an
// outage, not a plain-text fallback).
func TestStartTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key, other := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "other.pem")
	if err := certs.SelfSigned(cert, key, "localhost"); err != nil {
		t.Fatal(err)
	}
	if err := certs.SelfSigned(other, filepath.Join(dir, "otherkey.pem"), "localhost"); err != nil {
		t.Fatal(err)
	}
	s := testkit.StartSlapd(t, testkit.SlapdOptions{Suffix: base, TLSCert: cert, TLSKey: key})
	url := strings.Replace(s.URL, "127.0.0.1", "localhost", 1)
	cfg := ldapdir.Config{URL: url, CAFile: cert, Bind: "simple", BindDN: s.RootDN, Password: s.RootPW, BaseDN: base}
	c, err := ldapdir.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Load("o"); err != nil {
		t.Fatalf("StartTLS with the right CA: %v", err)
	}
	cfg.CAFile = other
	bad, err := ldapdir.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.Load("o"); err == nil || !strings.Contains(err.Error(), "StartTLS") || !strings.Contains(err.Error(), directory.ErrUnavailable.Error()) {
		t.Fatalf("a certificate of another CA: %v, want a StartTLS failure (unavailable)", err)
	}
}

// TestPlainOnlyToLoopback: plain ldap:// to another host is refused at
// configuration (a bind password in clear over a network).
func TestPlainOnlyToLoopback(t *testing.T) {
	_, err := ldapdir.NewClient(ldapdir.Config{URL: "ldap://ldap.example.org:389", Bind: "simple", BindDN: "cn=x", Password: "p", BaseDN: base})
	if err == nil || !strings.Contains(err.Error(), "plain ldap:// only to a loopback address") {
		t.Fatalf("plain ldap:// to another host: %v", err)
	}
}
