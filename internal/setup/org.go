package setup

import (
	"fmt"
	"os"
	"strings"

	"mailward/config"
	"mailward/deliver"
	"mailward/directory"
	"mailward/directory/ldapdir"
	"mailward/orgauth"
)

// Org is the organization as this server sees it (KB843106, KB979174):
// the directory, the receive side's trust in its servers, and what this
// server proves itself with when it sends to them.
type Org struct {
	Dir *directory.Org
	// Trust is nil when the organization has no servers: then no
	// virtual server offers X-EXPS or takes XEXCH50.
	Trust *orgauth.Trust
	// Self is this server's name in the directory; Secret its LOGIN
	// secret (organization.password_file).
	Self, Secret string
	// Acceptor verifies Kerberos tickets (X-EXPS GSSAPI) and Initiator
	// gets ours; both nil without organization.keytab.
	Acceptor  *orgauth.Acceptor
	Initiator *orgauth.Initiator
	// Live keeps an LDAP directory's copy fresh (orgldap.go); nil with
	// the file directory.
	Live *liveDirectory
	// Warnings are real directory states that do not stop a start
	// (duplicate SPNs): `mailward diag spn` reports them.
	Warnings []string
}

// OrgDirectory loads the organization directory — the [organization]
// section and the file it names — without judging it: the diagnostics
// must be able to show a directory in a bad state (duplicate SPNs,
// unknown members) that Organization refuses to run with.
func OrgDirectory(cfg *config.Config) (*directory.Org, error) {
	oc := cfg.Organization
	if oc.Directory == config.OrgDirectoryLDAP {
		org, c, err := ldapOrg(cfg)
		if err != nil {
			return nil, err
		}
		c.Close()
		return org, nil
	}
	return directory.NewOrg(oc.Name, directory.OrgFile{Servers: oc.Servers, Groups: oc.Groups, Permissions: oc.Permissions,
		Domains: oc.Domains, Mailboxes: oc.Mailboxes, DistGroups: oc.DistGroups,
		JournalRules: oc.JournalRules, Journaling: oc.Journaling, Folders: oc.Folders}, oc.File)
}

// Organization loads the organization directory and this server's
// credentials: the [organization] section, the file it names, the
// password file and the keytab. Every configuration error stops here, so
// `config check` fails where `serve` would.
func Organization(cfg *config.Config) (*Org, error) {
	oc := cfg.Organization
	var dir *directory.Org
	var client *ldapdir.Client
	var err error
	if oc.Directory == config.OrgDirectoryLDAP {
		dir, client, err = ldapOrg(cfg)
	} else {
		dir, err = OrgDirectory(cfg)
	}
	if err != nil {
		return nil, err
	}
	o := &Org{Dir: dir, Self: oc.Self}
	if client != nil {
		o.Live = newLiveDirectory(cfg, client)
	}
	if len(dir.Servers) == 0 {
		if len(dir.Domains)+len(dir.Mailboxes)+len(dir.DistGroups) > 0 {
			// Recipients without servers would be ignored without a word:
			// there is no organization to route them in.
			return nil, fmt.Errorf("organization: domains, mailboxes and distribution groups need the organization's servers ([[server]], organization.self)")
		}
		return o, nil
	}
	errs, warns := judge(dir, oc.Self)
	o.Warnings = warns
	if len(errs) > 0 {
		return nil, fmt.Errorf("organization: %s", strings.Join(errs, "; "))
	}
	o.Trust = orgauth.NewTrust(dir, oc.Self, oc.Realm)
	if o.Live != nil {
		o.Trust.Available = o.Live.snap.Err
	}
	if oc.PasswordFile != "" {
		b, err := os.ReadFile(oc.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("organization.password_file: %w", err)
		}
		if o.Secret = strings.TrimSpace(string(b)); o.Secret == "" {
			return nil, fmt.Errorf("organization.password_file %s is empty", oc.PasswordFile)
		}
	}
	if oc.Keytab == "" {
		return o, nil
	}
	kt, err := orgauth.LoadKeytab(oc.Keytab)
	if err != nil {
		return nil, fmt.Errorf("organization.keytab: %w", err)
	}
	clock, err := testClock()
	if err != nil {
		return nil, err
	}
	// The initiator logs in to the KDC on first use, so a KDC that is
	// down at start costs nothing until mail needs it.
	o.Initiator = &orgauth.Initiator{Krb5Conf: krb5Conf(cfg), Keytab: kt,
		Principal: "SMTP/" + strings.ToLower(cfg.Server.FQDN), Realm: oc.Realm, Clock: clock}
	o.Acceptor = &orgauth.Acceptor{Keytab: kt, Clock: clock}
	return o, nil
}

// Equip gives remote delivery what it needs to send to the servers of
// the organization: the directory, our name and secret, Kerberos.
func (o *Org) Equip(r *deliver.Remote) {
	if o.Trust == nil {
		return
	}
	r.Org, r.Self, r.Secret, r.Kerberos = o.Trust.Org, o.Self, o.Secret, o.Initiator
}
