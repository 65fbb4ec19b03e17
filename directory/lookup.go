package directory

import "strings"

// Recipients answers for every address this server accepts mail for:
// the organization's recipients (one directory for every server of the
// organization) and this server's own [[domain]]s and [[mailbox]]es. It
// is the one lookup the policy (RCPT), the categorizer and AUTH use; an
// LDAP backend will stand behind the same methods.
type Recipients struct {
	// Local is this server's own domains and mailboxes.
	Local *Directory
	// Org returns the organization directory in force (a reload replaces
	// it); nil when the server belongs to no organization.
	Org func() *Org
	// Self is this server's name in the organization.
	Self string
	// Available, when set, reports whether the organization directory
	// may be used now: an LDAP directory whose cached copy expired during
	// an outage gives an error wrapping ErrUnavailable, and an address of
	// an organization domain gets 451 4.3.0, never a 550 or a relay.
	Available func() error
}

func (r *Recipients) available() error {
	if r.Available == nil {
		return nil
	}
	return r.Available()
}

func (r *Recipients) org() *Org {
	if r.Org == nil {
		return nil
	}
	return r.Org()
}

// IsLocalDomain reports whether mail for domain is accepted here: one of
// this server's domains or of the organization's.
func (r *Recipients) IsLocalDomain(domain string) bool {
	return r.Local.IsLocalDomain(domain) || r.org().IsOrgDomain(domain)
}

// Find resolves an address of a local domain. A mailbox of this server's
// own [[mailbox]] list is homed here (HomeServer ""). The error is the
// directory being unavailable: the caller defers, never bounces.
func (r *Recipients) Find(addr string) (Entry, error) {
	addr = strings.ToLower(addr)
	if o := r.org(); o.IsOrgDomain(domainOf(addr)) {
		if err := r.available(); err != nil {
			return Entry{}, err
		}
		if e := o.Find(addr); e.Kind != NotFound {
			return e, nil
		}
	}
	m, ok, err := r.Local.Lookup(addr)
	if err != nil || !ok {
		return Entry{}, err
	}
	return Entry{Kind: MailboxEntry, Mailbox: &OrgMailbox{Address: m.Address, PasswordHash: m.PasswordHash}}, nil
}

// Exists reports whether addr is a mailbox or a group (policy.Directory).
func (r *Recipients) Exists(addr string) (bool, error) {
	e, err := r.Find(addr)
	return e.Kind != NotFound, err
}

// Authenticate checks a login: an organization mailbox (by its primary or
// a proxy address) or one of this server's mailboxes. An unknown user
// and a wrong password get the same answer, in the same time.
func (r *Recipients) Authenticate(user, password string) (bool, error) {
	if r.org().IsOrgDomain(domainOf(strings.ToLower(user))) {
		if err := r.available(); err != nil {
			return false, err
		}
	}
	if e := r.org().Find(user); e.Kind == MailboxEntry {
		return checkPassword(e.Mailbox.PasswordHash, password), nil
	}
	return r.Local.Authenticate(user, password)
}

// IsHere reports whether a home or expansion server name is this server
// ("" is: a mailbox of this server's own list, a group expanded by
// whichever server has it first).
func (r *Recipients) IsHere(server string) bool {
	return server == "" || server == r.Self
}

// Server finds a server of the organization by name.
func (r *Recipients) Server(name string) (*OrgServer, bool) {
	o := r.org()
	if o == nil {
		return nil, false
	}
	return o.ServerByName(name)
}
