package config

import (
	"strings"
	"time"
)

// The organization directory in LDAP ([organization] directory = "ldap",
// the [organization.ldap] table; docs/directory.md).

// Defaults of [organization.ldap].
const (
	// DefaultLDAPCacheTTL: a change in LDAP is in force within a minute.
	DefaultLDAPCacheTTL = time.Minute
	// DefaultLDAPStaleTTL: a directory outage shorter than this is not
	// seen by senders (the last copy serves); longer, RCPT gets 451.
	DefaultLDAPStaleTTL = 15 * time.Minute
	DefaultLDAPTimeout  = 5 * time.Second
	DefaultLDAPPoolSize = 4
)

// OrgDirectory is where the organization directory is kept.
type OrgDirectory struct{ w string }

var (
	OrgDirectoryFile = OrgDirectory{"file"} // [organization] and organization.file (default)
	OrgDirectoryLDAP = OrgDirectory{"ldap"} // [organization.ldap]
)

func (v OrgDirectory) String() string               { return v.w }
func (v OrgDirectory) MarshalText() ([]byte, error) { return []byte(v.w), nil }
func (v *OrgDirectory) UnmarshalText(b []byte) error {
	return word(&v.w, b, "file", "ldap")
}

// LDAPBind is how mailward binds to the directory.
type LDAPBind struct{ w string }

var (
	LDAPBindSimple   = LDAPBind{"simple"}   // bind_dn and password_file
	LDAPBindExternal = LDAPBind{"external"} // SASL EXTERNAL: the TLS client certificate
)

func (v LDAPBind) String() string               { return v.w }
func (v LDAPBind) MarshalText() ([]byte, error) { return []byte(v.w), nil }
func (v *LDAPBind) UnmarshalText(b []byte) error {
	return word(&v.w, b, "simple", "external")
}

// OrgLDAP is the [organization.ldap] table.
type OrgLDAP struct {
	// URL is ldap://host:port (StartTLS with ca_file; plain only to a
	// loopback address) or ldaps://host:port.
	URL string `toml:"url"`
	// CAFile verifies the directory's certificate; CertFile and KeyFile
	// are the client certificate of bind = "external".
	CAFile   string   `toml:"ca_file"`
	CertFile string   `toml:"cert_file"`
	KeyFile  string   `toml:"key_file"`
	Bind     LDAPBind `toml:"bind"`
	BindDN   string   `toml:"bind_dn"`
	// PasswordFile holds the bind password (one line): credentials are
	// never in the configuration itself.
	PasswordFile string `toml:"password_file"`
	BaseDN       string `toml:"base_dn"`
	// CacheTTL is how often the directory is read again; StaleTTL how
	// long the last copy serves while the directory cannot be read.
	CacheTTL Duration `toml:"cache_ttl"`
	StaleTTL Duration `toml:"stale_ttl"`
	Timeout  Duration `toml:"timeout"`
	PoolSize int      `toml:"pool_size"`
	// Attributes renames attributes: mailward's name (AD's where AD has
	// one) = the site's.
	Attributes map[string]string `toml:"attributes"`
}

func (c *Config) applyOrgLDAPDefaults() {
	o := &c.Organization
	if o.Directory == (OrgDirectory{}) {
		o.Directory = OrgDirectoryFile
	}
	l := &o.LDAP
	if l.Bind == (LDAPBind{}) {
		l.Bind = LDAPBindSimple
	}
	if l.CacheTTL.Duration == 0 {
		l.CacheTTL.Duration = DefaultLDAPCacheTTL
	}
	if l.StaleTTL.Duration == 0 {
		l.StaleTTL.Duration = DefaultLDAPStaleTTL
	}
	if l.Timeout.Duration == 0 {
		l.Timeout.Duration = DefaultLDAPTimeout
	}
	if l.PoolSize == 0 {
		l.PoolSize = DefaultLDAPPoolSize
	}
}

func (c *Config) validateOrgLDAP(bad func(string, ...any)) {
	o := c.Organization
	if o.Directory != OrgDirectoryLDAP {
		return
	}
	l := o.LDAP
	if l.URL == "" || l.BaseDN == "" {
		bad("organization.ldap: url and base_dn are required with directory = \"ldap\"")
	}
	if !strings.HasPrefix(l.URL, "ldap://") && !strings.HasPrefix(l.URL, "ldaps://") {
		bad("organization.ldap.url %q: want ldap://host:port or ldaps://host:port", l.URL)
	}
	if l.Bind == LDAPBindSimple && (l.BindDN == "" || l.PasswordFile == "") {
		bad("organization.ldap: bind = \"simple\" needs bind_dn and password_file")
	}
	if l.Bind == LDAPBindExternal && (l.CertFile == "" || l.KeyFile == "") {
		bad("organization.ldap: bind = \"external\" needs cert_file and key_file")
	}
	if l.StaleTTL.Duration < l.CacheTTL.Duration {
		bad("organization.ldap: stale_ttl %v is shorter than cache_ttl %v", l.StaleTTL.Duration, l.CacheTTL.Duration)
	}
	if l.PoolSize < 0 {
		bad("organization.ldap.pool_size must be positive")
	}
	if o.File != "" || len(o.Servers)+len(o.Groups)+len(o.Permissions)+len(o.Domains)+len(o.Mailboxes)+len(o.DistGroups)+
		len(o.JournalRules)+len(o.Folders) > 0 || o.Journaling != nil {
		// One source of truth: entries here would differ between servers
		// reading the same directory.
		bad("organization: with directory = \"ldap\" the entries come from LDAP only (no organization.file, no [[organization.*]] tables; 'mailward directory import' moves them)")
	}
}
