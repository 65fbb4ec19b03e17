package config

import "mailward/directory"

// Organization is the [organization] section: the mail servers of the
// organization that trust each other (KB843106, KB979174), which one this is,
// and how it proves itself to the others. The directory logic (nested
// groups, effective rights, SPN checks) is in package directory.
type Organization struct {
	Name string `toml:"name"`
	// Self is this server's name among Servers.
	Self string `toml:"self"`
	// Directory is where the entries below are kept: "file" (this
	// section and File, the default) or "ldap" (LDAP, config/orgldap.go).
	Directory OrgDirectory `toml:"directory"`
	LDAP      OrgLDAP      `toml:"ldap"`
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
	// SuppressExternal (KB843106): never send XEXCH50 to a server outside
	// the organization. On by default.
	SuppressExternal *bool `toml:"suppress_external"`

	Servers     []directory.OrgServer  `toml:"server"`
	Groups      []directory.OrgGroup   `toml:"group"`
	Permissions []directory.Permission `toml:"permission"`
	// The organization's recipients (docs/categorizer.md).
	Domains    []directory.OrgDomain         `toml:"domain"`
	Mailboxes  []directory.OrgMailbox        `toml:"mailbox"`
	DistGroups []directory.DistributionGroup `toml:"distribution_group"`
	// Journaling (docs/journaling.md).
	JournalRules []directory.JournalRule `toml:"journal_rule"`
	Journaling   *directory.Journaling   `toml:"journaling"`
	// Shared folders (docs/shared-folders.md).
	Folders []directory.SharedFolder `toml:"shared_folder"`
}
