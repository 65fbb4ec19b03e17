package directory

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// The organization (KB843106 and KB979174): the mail servers that trust each
// other, the groups they belong to, and the permissions on the
// organization. A server's rights are never set on it directly in
// practice: they are inherited through group membership, nested to any
// depth, and a DENY anywhere on the way wins over every ALLOW.

// RightSendAs is the right a sending server needs for XEXCH50 (KB843106).
const RightSendAs = "send-as"

// DefaultServersGroup holds every server and ALLOW send-as by default.
const DefaultServersGroup = "domain-servers"

// OrgServer is one mail server of the organization.
type OrgServer struct {
	Name      string   `toml:"name"`
	FQDN      string   `toml:"fqdn"`
	Addresses []string `toml:"addresses"`
	// SPNs are the service principal names registered for the server
	// (KB979174: SMTP/<name>, SMTP/<fqdn>, SMTPSVC/<name>, SMTPSVC/<fqdn>).
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
	// DeliveryAddress is where the other servers deliver the mail homed
	// on it ("host:port"); empty: its FQDN on the SMTP port.
	DeliveryAddress string `toml:"delivery_address"`
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

// Org is the organization directory.
type Org struct {
	Name        string
	Servers     []OrgServer
	Groups      []OrgGroup
	Permissions []Permission
	// The organization's recipients (recipients.go).
	Domains    []OrgDomain
	Mailboxes  []OrgMailbox
	DistGroups []DistributionGroup
	// Journaling (journal.go, docs/journaling.md).
	JournalRules []JournalRule
	Journaling   Journaling
	Folders      []SharedFolder // folders.go

	byAddr  map[string]Entry
	domains map[string]bool
}

// Normalize lower-cases names and adds the default servers group (every
// server, ALLOW send-as) when the organization defines no groups.
func (o *Org) Normalize() {
	for i := range o.Servers {
		s := &o.Servers[i]
		s.Name = strings.ToLower(s.Name)
		s.FQDN = strings.ToLower(strings.TrimSuffix(s.FQDN, "."))
		if s.Auth == "" {
			s.Auth = "gssapi"
		}
	}
	for i := range o.Groups {
		g := &o.Groups[i]
		g.Name = strings.ToLower(g.Name)
		for j := range g.Members {
			g.Members[j] = strings.ToLower(g.Members[j])
		}
	}
	for i := range o.Permissions {
		p := &o.Permissions[i]
		p.Principal, p.Type, p.Right = strings.ToLower(p.Principal), strings.ToLower(p.Type), strings.ToLower(p.Right)
	}
	o.normalizeRecipients()
	o.normalizeJournal()
	if len(o.Groups) == 0 && len(o.Permissions) == 0 && len(o.Servers) > 0 {
		g := OrgGroup{Name: DefaultServersGroup}
		for _, s := range o.Servers {
			g.Members = append(g.Members, s.Name)
		}
		o.Groups = []OrgGroup{g}
		o.Permissions = []Permission{{Right: RightSendAs, Principal: DefaultServersGroup, Type: "allow"}}
	}
}

// ServerByFQDN finds a server by the name it uses in EHLO.
func (o *Org) ServerByFQDN(fqdn string) (*OrgServer, bool) {
	fqdn = strings.ToLower(strings.TrimSuffix(fqdn, "."))
	for i := range o.Servers {
		if o.Servers[i].FQDN == fqdn {
			return &o.Servers[i], true
		}
	}
	return nil, false
}

// ServerByName finds a server by its short name.
func (o *Org) ServerByName(name string) (*OrgServer, bool) {
	name = strings.ToLower(name)
	for i := range o.Servers {
		if o.Servers[i].Name == name {
			return &o.Servers[i], true
		}
	}
	return nil, false
}

func (o *Org) group(name string) (*OrgGroup, bool) {
	for i := range o.Groups {
		if o.Groups[i].Name == name {
			return &o.Groups[i], true
		}
	}
	return nil, false
}

// memberships returns every group principal belongs to, directly or
// through nesting, each with the chain that leads to it ("mx1 → a → b").
func (o *Org) memberships(principal string) map[string]string {
	out := map[string]string{}
	var walk func(p, chain string)
	walk = func(p, chain string) {
		for _, g := range o.Groups {
			for _, m := range g.Members {
				if m == p {
					if _, seen := out[g.Name]; !seen { // cycles end here
						c := chain + " → " + g.Name
						out[g.Name] = c
						walk(g.Name, c)
					}
				}
			}
		}
	}
	walk(principal, principal)
	return out
}

// Decision is the outcome of a rights check, with the entry that decided.
type Decision struct {
	Allowed bool
	Reason  string // e.g. `DENY send-as on group "quarantine" (mx1 → quarantine)`
}

// Effective computes a server's right: allowed when some ALLOW applies to
// it or a group it is (transitively) in, and no DENY does (KB843106).
func (o *Org) Effective(server, right string) Decision {
	server, right = strings.ToLower(server), strings.ToLower(right)
	groups := o.memberships(server)
	applies := func(p Permission) (string, bool) {
		if p.Right != right {
			return "", false
		}
		if p.Principal == server {
			return server, true
		}
		c, ok := groups[p.Principal]
		return c, ok
	}
	var allow string
	for _, p := range o.Permissions {
		chain, ok := applies(p)
		if !ok {
			continue
		}
		what := fmt.Sprintf("%s %s on %q (%s)", strings.ToUpper(p.Type), p.Right, p.Principal, chain)
		if p.Type == "deny" {
			return Decision{Allowed: false, Reason: what}
		}
		if allow == "" {
			allow = what
		}
	}
	if allow == "" {
		return Decision{Allowed: false, Reason: fmt.Sprintf("no ALLOW %s applies to %q", right, server)}
	}
	return Decision{Allowed: true, Reason: allow}
}

// ExpectedSPNs are the service principal names a server must have
// registered, exactly once each (KB979174).
func ExpectedSPNs(s *OrgServer) []string {
	return []string{"SMTP/" + s.Name, "SMTP/" + s.FQDN, "SMTPSVC/" + s.Name, "SMTPSVC/" + s.FQDN}
}

// MissingSPNs lists the expected SPNs a server lacks.
func (o *Org) MissingSPNs(s *OrgServer) []string {
	have := map[string]bool{}
	for _, spn := range s.SPNs {
		have[strings.ToLower(spn)] = true
	}
	var out []string
	for _, spn := range ExpectedSPNs(s) {
		if !have[strings.ToLower(spn)] {
			out = append(out, spn)
		}
	}
	return out
}

// DuplicateSPNs maps each SPN registered more than once (on one server
// or several) to the servers holding it: Kerberos cannot tell which
// account's key to use, so authentication to that name breaks.
func (o *Org) DuplicateSPNs() map[string][]string {
	holders := map[string][]string{}
	for _, s := range o.Servers {
		for _, spn := range s.SPNs {
			k := strings.ToLower(spn)
			holders[k] = append(holders[k], s.Name)
		}
	}
	out := map[string][]string{}
	for k, v := range holders {
		if len(v) > 1 {
			out[k] = v
		}
	}
	return out
}

// Validate reports configuration errors (unknown members, cycles,
// duplicates, bad entries) and warnings (duplicate or missing SPNs: a
// real directory can be in that state, and the diagnostics must show it).
func (o *Org) Validate() (errs, warnings []string) {
	names := map[string]string{}
	fqdns := map[string]bool{}
	for _, s := range o.Servers {
		switch {
		case s.Name == "" || s.FQDN == "":
			errs = append(errs, "organization server without name or fqdn")
			continue
		case names[s.Name] != "":
			errs = append(errs, fmt.Sprintf("organization: %q defined twice", s.Name))
		case fqdns[s.FQDN]:
			errs = append(errs, fmt.Sprintf("organization: fqdn %q used by two servers", s.FQDN))
		}
		if s.Auth != "gssapi" && s.Auth != "login" {
			errs = append(errs, fmt.Sprintf("organization server %q: auth %q: want gssapi or login", s.Name, s.Auth))
		}
		if s.Auth == "login" && !strings.HasPrefix(s.PasswordHash, "$2") {
			errs = append(errs, fmt.Sprintf("organization server %q: auth login needs a bcrypt password_hash", s.Name))
		}
		names[s.Name], fqdns[s.FQDN] = "server", true
	}
	for _, g := range o.Groups {
		if names[g.Name] != "" {
			errs = append(errs, fmt.Sprintf("organization: %q defined twice", g.Name))
		}
		names[g.Name] = "group"
	}
	for _, g := range o.Groups {
		seen := map[string]bool{}
		for _, m := range g.Members {
			if names[m] == "" {
				errs = append(errs, fmt.Sprintf("organization group %q: unknown member %q", g.Name, m))
			}
			if seen[m] {
				errs = append(errs, fmt.Sprintf("organization group %q: member %q listed twice", g.Name, m))
			}
			seen[m] = true
		}
		if c, ok := o.memberships(g.Name)[g.Name]; ok {
			errs = append(errs, fmt.Sprintf("organization group %q: membership cycle %s", g.Name, c))
		}
	}
	for _, p := range o.Permissions {
		if p.Right != RightSendAs {
			errs = append(errs, fmt.Sprintf("organization permission: unknown right %q (known: %s)", p.Right, RightSendAs))
		}
		if p.Type != "allow" && p.Type != "deny" {
			errs = append(errs, fmt.Sprintf("organization permission on %q: type %q: want allow or deny", p.Principal, p.Type))
		}
		if names[p.Principal] == "" {
			errs = append(errs, fmt.Sprintf("organization permission: unknown principal %q", p.Principal))
		}
	}
	errs = append(errs, o.validateRecipients()...)
	errs = append(errs, o.validateJournal()...)
	dups := o.DuplicateSPNs()
	keys := make([]string, 0, len(dups))
	for k := range dups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		warnings = append(warnings, fmt.Sprintf("duplicate SPN %s on %s", k, strings.Join(dups[k], ", ")))
	}
	for i := range o.Servers {
		if o.Servers[i].Auth == "gssapi" {
			for _, m := range o.MissingSPNs(&o.Servers[i]) {
				warnings = append(warnings, fmt.Sprintf("server %q lacks SPN %s", o.Servers[i].Name, m))
			}
		}
	}
	return errs, warnings
}

// OrgFile is the format of organization.file: the same tables as the
// [organization] section's, strictly parsed.
type OrgFile struct {
	Servers     []OrgServer  `toml:"server"`
	Groups      []OrgGroup   `toml:"group"`
	Permissions []Permission `toml:"permission"`
	// The organization's recipients.
	Domains    []OrgDomain         `toml:"domain"`
	Mailboxes  []OrgMailbox        `toml:"mailbox"`
	DistGroups []DistributionGroup `toml:"distribution_group"`
	// Journaling (docs/journaling.md).
	JournalRules []JournalRule  `toml:"journal_rule"`
	Journaling   *Journaling    `toml:"journaling"`
	Folders      []SharedFolder `toml:"shared_folder"`
}

// NewOrg builds the organization from the entries of the
// configuration's [organization] section and the file it names (file may
// be ""). Validation is separate (Validate), so that a directory in a
// bad but real state (duplicate SPNs) can still be loaded and diagnosed.
func NewOrg(name string, entries OrgFile, file string) (*Org, error) {
	o := &Org{Name: name}
	o.add(entries)
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("organization: %w", err)
		}
		var f OrgFile
		dec := toml.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return nil, fmt.Errorf("organization: %s: %w", file, err)
		}
		o.add(f)
	}
	o.Normalize()
	return o, nil
}

// add appends a file's (or the section's) entries, copies of them.
func (o *Org) add(f OrgFile) {
	o.Servers = append(o.Servers, f.Servers...)
	o.Groups = append(o.Groups, f.Groups...)
	o.Permissions = append(o.Permissions, f.Permissions...)
	o.Domains = append(o.Domains, f.Domains...)
	for _, m := range f.Mailboxes {
		m.ProxyAddresses = append([]string(nil), m.ProxyAddresses...)
		o.Mailboxes = append(o.Mailboxes, m)
	}
	for _, g := range f.DistGroups {
		g.Members = append([]string(nil), g.Members...)
		g.AcceptFrom = append([]string(nil), g.AcceptFrom...)
		g.RejectFrom = append([]string(nil), g.RejectFrom...)
		o.DistGroups = append(o.DistGroups, g)
	}
	for _, r := range f.JournalRules {
		r.Mailboxes = append([]string(nil), r.Mailboxes...)
		o.JournalRules = append(o.JournalRules, r)
	}
	if f.Journaling != nil {
		o.Journaling = *f.Journaling
	}
	for _, f := range f.Folders {
		f.Replicas = append([]string(nil), f.Replicas...)
		o.Folders = append(o.Folders, f)
	}
}
