package testkit

// The organization directory's two backends in tests: the same
// OrgDirectory written as the organization file beside each server, or
// imported into a real slapd that every server reads. A test written
// against OrgBackend runs on both (ForEachOrgBackend): what the
// categorizer, the policy and the organization's trust do must not
// depend on where the directory is kept.

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"mailward/directory"
	"mailward/directory/ldapdir"
)

// OrgBackend keeps a test organization's directory.
type OrgBackend interface {
	// Name is "file" or "ldap" (a subtest's name).
	Name() string
	// Publish makes d the directory (again: a test may change it and
	// publish it anew; for LDAP that is an import, add or modify).
	Publish(t testing.TB, d *OrgDirectory)
	// Configure points a server's configuration, whose files are in dir,
	// at the directory.
	Configure(t testing.TB, c *Config, dir string)
}

// FileBackend writes the directory as organization.toml beside each
// server, as the organization tests always did.
type FileBackend struct{ d *OrgDirectory }

func (b *FileBackend) Name() string                          { return "file" }
func (b *FileBackend) Publish(t testing.TB, d *OrgDirectory) { b.d = d }
func (b *FileBackend) Configure(t testing.TB, c *Config, dir string) {
	t.Helper()
	writeTestFile(t, filepath.Join(dir, "organization.toml"), b.d.TOML())
	c.Organization.File = "organization.toml"
}

// LDAPBackend imports the directory into a slapd of its own (started
// on first use) and configures each server to read it with the given
// cache TTLs (short, so that a test sees a change or an outage soon).
type LDAPBackend struct {
	Slapd              *Slapd
	CacheTTL, StaleTTL string // default "1s", "1h"

	owner testing.TB // the test whose slapd Slapd is
}

func (b *LDAPBackend) Name() string { return "ldap" }

// Publish imports d (TOML → LDAP, as 'mailward directory import').
func (b *LDAPBackend) Publish(t testing.TB, d *OrgDirectory) {
	t.Helper()
	if b.Slapd == nil || b.owner != t {
		// Each (sub)test its own directory: a slapd stops with the test
		// that started it, and a directory left by another test would mix
		// its entries in.
		b.Slapd, b.owner = StartSlapd(t, SlapdOptions{}), t
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

func (b *LDAPBackend) Configure(t testing.TB, c *Config, dir string) {
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
	c.Organization.LDAP = &OrgLDAP{URL: b.Slapd.URL, Bind: "simple", BindDN: b.Slapd.RootDN, PasswordFile: "ldap-password",
		BaseDN: b.Slapd.Suffix, CacheTTL: ttl, StaleTTL: stale, Timeout: "2s"}
}

// ForEachOrgBackend runs test once with each backend, as subtests
// "file" and "ldap" (the LDAP one needs slapd: skipped or failed as a
// missing component).
func ForEachOrgBackend(t *testing.T, test func(t *testing.T, b OrgBackend)) {
	t.Run("file", func(t *testing.T) { test(t, &FileBackend{}) })
	t.Run("ldap", func(t *testing.T) {
		RequireSlapd(t)
		test(t, &LDAPBackend{})
	})
}

func writeTestFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
