package config

// Organization is the [organization] section: the mail servers of the
// organization that trust each other (seeds 000–003), which one this is,
// and how it proves itself to the others. The directory logic (nested
// groups, effective rights, SPN checks) is in package directory.
type Organization struct {
	Name string `toml:"name"`
	// Self is this server's name among Servers.
	Self string `toml:"self"`
	// File names a TOML file holding server/group/permission tables
	// instead of (or in addition to) this section.
	File string `toml:"file"`
	// PasswordFile holds this server's LOGIN secret (one line) for
	// authenticating to the others; keep it mode 0600.
	PasswordFile string `toml:"password_file"`
	// Keytab, Krb5Conf and Realm configure Kerberos (GSSAPI).
	Keytab   string `toml:"keytab"`
	Krb5Conf string `toml:"krb5_conf"`
	Realm    string `toml:"realm"`
	// SuppressExternal (seed 000): never send XEXCH50 to a server outside
	// the organization. On by default.
	SuppressExternal *bool `toml:"suppress_external"`

	Servers     []OrgServer  `toml:"server"`
	Groups      []OrgGroup   `toml:"group"`
	Permissions []Permission `toml:"permission"`
}

// OrgServer is one mail server of the organization.
type OrgServer struct {
	Name      string   `toml:"name"`
	FQDN      string   `toml:"fqdn"`
	Addresses []string `toml:"addresses"`
	// SPNs are the service principal names registered for the server
	// (seed 003: SMTP/<name>, SMTP/<fqdn>, SMTPSVC/<name>, SMTPSVC/<fqdn>).
	SPNs []string `toml:"spns"`
	// Auth is how the others authenticate to it — a sending server uses
	// the *receiving* server's entry: "gssapi" (Kerberos, X-EXPS GSSAPI to
	// SMTP/<fqdn>: the server has its SPNs and a keytab) or "login" (the
	// sender gives its LOGIN secret, checked against the sender's own
	// password_hash).
	Auth string `toml:"auth"`
	// PasswordHash is the bcrypt hash of its LOGIN secret (what it proves
	// itself with to servers whose entry says "login").
	PasswordHash string `toml:"password_hash"`
}

// OrgGroup is a named set of servers and groups.
type OrgGroup struct {
	Name    string   `toml:"name"`
	Members []string `toml:"members"`
}

// Permission is one ALLOW or DENY entry on the organization.
type Permission struct {
	Right     string `toml:"right"`     // "send-as"
	Principal string `toml:"principal"` // a server or a group
	Type      string `toml:"type"`      // "allow" or "deny"
}
