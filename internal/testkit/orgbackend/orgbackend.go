// Package orgbackend runs the organization tests on both directory
// backends. The organization directory's two backends in tests: the same
// OrgDirectory written as the organization file beside each server, or
// imported into a real slapd that every server reads. A test written
// against Backend runs on both (ForEach): what the
// categorizer, the policy and the organization's trust do must not
// depend on where the directory is kept. (A package of its own: testkit
// imports no mailward package, so that every package's tests can use it.)
package orgbackend

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"mailward/directory"
	"mailward/directory/ldapdir"
	"mailward/internal/testkit"
)

// Backend keeps a test organization's directory.
type Backend interface {
	// Name is "file" or "ldap" (a subtest's name).
	Name() string
	// Publish makes d the directory (again: a test may change it and
	// publish it anew; for LDAP that is an import, add or modify).
	Publish(t testing.TB, d *testkit.OrgDirectory)
	// Configure points a server's configuration, whose files are in dir,
	// at the directory.
	Configure(t testing.TB, c *testkit.Config, dir string)
}

// File writes the directory as organization.toml beside each
// server, as the organization tests always did.
type File struct{ d *testkit.OrgDirectory }

func (b *File) Name() string                                  { return "file" }
func (b *File) Publish(t testing.TB, d *testkit.OrgDirectory) { b.d = d }
func (b *File) Configure(t testing.TB, c *testkit.Config, dir string) {
	t.Helper()
	writeTestFile(t, filepath.Join(dir, "organization.toml"), b.d.TOML())
	c.Organization.File = "organization.toml"
}

// LDAP imports the directory into a slapd of its own (started
// on first use; or the one given in Slapd: a replication test gives the
// provider) and configures each server to read it with the given
// cache TTLs (short, so that a test sees a change or an outage soon).
type LDAP struct {
	Slapd              *testkit.Slapd
	CacheTTL, StaleTTL string // default "1s", "1h"
	// Replica marks Slapd as a syncrepl consumer: it cannot be written,
	// Publish leaves it alone (what the provider gets reaches it by
	// replication).
	Replica bool

	owner testing.TB // the test that started Slapd; nil when it was given
}

func (b *LDAP) Name() string { return "ldap" }

// Publish imports d (TOML → LDAP, as 'mailward directory import').
func (b *LDAP) Publish(t testing.TB, d *testkit.OrgDirectory) {
	t.Helper()
	if b.Replica {
		return
	}
	if b.Slapd == nil || (b.owner != nil && b.owner != t) {
		// Each (sub)test its own directory: a slapd stops with the test
		// that started it, and a directory left by another test would mix
		// its entries in.
		b.Slapd, b.owner = testkit.StartSlapd(t, testkit.SlapdOptions{}), t
	}
	var f directory.OrgFile
	dec := toml.NewDecoder(bytes.NewReader([]byte(d.TOML())))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("testkit: organization directory: %v", err)
	}
	c, err := ldapdir.NewClient(ldapdir.Config{URL: b.Slapd.URL, Bind: "simple", BindDN: b.Slapd.RootDN,
		Password: b.Slapd.RootPW, BaseDN: b.Slapd.Suffix})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.Apply(ldapdir.Encode(f, b.Slapd.Suffix)); err != nil {
		t.Fatalf("testkit: import into slapd: %v", err)
	}
}

func (b *LDAP) Configure(t testing.TB, c *testkit.Config, dir string) {
	t.Helper()
	writeTestFile(t, filepath.Join(dir, "ldap-password"), b.Slapd.RootPW+"\n")
	ttl, stale := b.CacheTTL, b.StaleTTL
	if ttl == "" {
		ttl = "1s"
	}
	if stale == "" {
		stale = "1h"
	}
	c.Organization.File = ""
	c.Organization.Directory = "ldap"
	c.Organization.LDAP = &testkit.OrgLDAP{URL: b.Slapd.URL, Bind: "simple", BindDN: b.Slapd.RootDN, PasswordFile: "ldap-password",
		BaseDN: b.Slapd.Suffix, CacheTTL: ttl, StaleTTL: stale, Timeout: "2s"}
}

// ForEach runs test once with each backend, as subtests "file" and
// "ldap" (the LDAP one needs slapd: skipped or failed as a missing
// component).
func ForEach(t *testing.T, test func(t *testing.T, b Backend)) {
	t.Run("file", func(t *testing.T) { test(t, &File{}) })
	t.Run("ldap", func(t *testing.T) {
		testkit.RequireSlapd(t)
		test(t, &LDAP{})
	})
}

func writeTestFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
