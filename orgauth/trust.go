package orgauth

import (
	"fmt"
	"sort"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/bcrypt"

	"mailward/directory"
)

// Trust answers the receive side's questions about a peer server.
type Trust struct {
	// org is replaced whole by SetOrg (a reload of the configuration).
	org atomic.Pointer[directory.Org]
	// Self is this server's name in the directory (organization.self):
	// whose SPNs SPNProblem checks when no server has the virtual server's FQDN.
	Self string
	// Realm, when set, is the only Kerberos realm whose principals
	// ServerByPrincipal maps to servers.
	Realm string
	// Available, when set, reports whether the directory may be trusted
	// now: an LDAP directory whose cached copy expired during an outage
	// (docs/directory.md) gives an error wrapping
	// directory.ErrUnavailable, and authentication answers 454 4.7.0
	// (KB979174: the sender keeps the message and retries).
	Available func() error
}

func (t *Trust) available() error {
	if t.Available == nil {
		return nil
	}
	return t.Available()
}

// NewTrust returns the trust in the servers of org.
func NewTrust(org *directory.Org, self, realm string) *Trust {
	t := &Trust{Self: self, Realm: realm}
	t.SetOrg(org)
	return t
}

// Org is the organization directory in force.
func (t *Trust) Org() *directory.Org { return t.org.Load() }

// SetOrg swaps in a new organization directory: sessions and deliveries
// from then on see only it.
func (t *Trust) SetOrg(org *directory.Org) { t.org.Store(org) }

// ServerByFQDN reports whether an EHLO name is a server of the
// organization (KB843106: the EHLO name decides trust).
func (t *Trust) ServerByFQDN(helo string) (string, bool) {
	if t == nil || t.Org() == nil {
		return "", false
	}
	s, ok := t.Org().ServerByFQDN(helo)
	if !ok {
		return "", false
	}
	return s.Name, true
}

// ErrUnknownServer: the account is not (yet) in the directory — KB979174's
// replication lag. Temporary: the sender keeps the message and retries.
var ErrUnknownServer = fmt.Errorf("server account not found in the directory (replication not complete?)")

// CheckLogin verifies a server account's LOGIN secret. The user may be
// the server's name or FQDN, optionally as "name$" (a machine account).
func (t *Trust) CheckLogin(user, password string) (string, bool, error) {
	u := strings.ToLower(strings.TrimSuffix(user, "$"))
	if err := t.available(); err != nil {
		return "", false, err
	}
	org := t.Org()
	s, ok := org.ServerByName(u)
	if !ok {
		s, ok = org.ServerByFQDN(u)
	}
	if !ok {
		return "", false, ErrUnknownServer
	}
	// A server's auth says how the others authenticate *to it* (the
	// sender uses the peer's entry); its password_hash is its own LOGIN
	// secret, used when it sends to a server whose entry says login.
	if s.PasswordHash == "" {
		return s.Name, false, fmt.Errorf("server %q has no LOGIN secret (password_hash) in the directory", s.Name)
	}
	return s.Name, bcrypt.CompareHashAndPassword([]byte(s.PasswordHash), []byte(password)) == nil, nil
}

// SendAs decides whether server may pass organization properties.
func (t *Trust) SendAs(server string) directory.Decision {
	return t.Org().Effective(server, directory.RightSendAs)
}

// ServerByPrincipal maps an authenticated Kerberos client principal to
// the organization server it belongs to: "SMTP/<fqdn>@REALM" (also
// SMTPSVC/ and smtp/, the SPN forms a mail server registers) by the FQDN
// in its instance part, or an Active Directory style machine account
// "NAME$@REALM" by the server's name. authzid, when the client asked for
// one (RFC 4752), must name the same server. The error says why the
// principal is not accepted; the caller answers 535.
func (t *Trust) ServerByPrincipal(principal, authzid string) (string, error) {
	if t == nil || t.Org() == nil {
		return "", fmt.Errorf("no organization directory")
	}
	if err := t.available(); err != nil {
		return "", err
	}
	name, realm, ok := strings.Cut(principal, "@")
	if !ok || name == "" || realm == "" {
		return "", fmt.Errorf("principal %q has no realm", principal)
	}
	if t.Realm != "" && !strings.EqualFold(realm, t.Realm) {
		return "", fmt.Errorf("principal %s is not of realm %s", principal, t.Realm)
	}
	var s *directory.OrgServer
	svc, inst, two := strings.Cut(name, "/")
	switch {
	case two && !strings.Contains(inst, "/") && (strings.EqualFold(svc, "SMTP") || strings.EqualFold(svc, "SMTPSVC")):
		s, ok = t.Org().ServerByFQDN(inst)
	case !two && strings.HasSuffix(name, "$"):
		s, ok = t.Org().ServerByName(strings.TrimSuffix(name, "$"))
	default:
		ok = false
	}
	if !ok {
		return "", fmt.Errorf("principal %s is not a server of the organization", principal)
	}
	if authzid != "" && !strings.EqualFold(authzid, s.Name) && !strings.EqualFold(authzid, s.FQDN) &&
		!strings.EqualFold(authzid, name) && !strings.EqualFold(authzid, principal) {
		return "", fmt.Errorf("principal %s (server %s) may not act as %q", principal, s.Name, authzid)
	}
	return s.Name, nil
}

// SPNProblem checks, in the directory, the service principal names of the
// server that answers as fqdn (or of Self): each expected SPN (KB979174:
// SMTP/<name>, SMTP/<fqdn>, SMTPSVC/<name>, SMTPSVC/<fqdn>) registered,
// and exactly once in the whole directory. A real directory in either
// state breaks Kerberos to this server; the receiving side answers GSSAPI
// with 454 and names the problem ("duplicate SPN SMTP/mx2.example.test
// (registered on mx1, mx2)", "missing SPN SMTP/mx2.example.test"). ""
// when all is well. Problems with SMTP/<fqdn>, the name senders ask
// tickets for, come first.
func (t *Trust) SPNProblem(fqdn string) string {
	if t == nil || t.Org() == nil {
		return ""
	}
	fqdn = strings.ToLower(strings.TrimSuffix(fqdn, "."))
	s, ok := t.Org().ServerByFQDN(fqdn)
	if !ok && t.Self != "" {
		s, ok = t.Org().ServerByName(t.Self)
	}
	if !ok {
		return fmt.Sprintf("missing SPN SMTP/%s (no server of the organization has this FQDN)", fqdn)
	}
	dups := t.Org().DuplicateSPNs()
	missing := map[string]bool{}
	for _, m := range t.Org().MissingSPNs(s) {
		missing[strings.ToLower(m)] = true
	}
	expected := directory.ExpectedSPNs(s)
	primary := "smtp/" + s.FQDN
	sort.SliceStable(expected, func(i, j int) bool {
		return strings.ToLower(expected[i]) == primary && strings.ToLower(expected[j]) != primary
	})
	var out []string
	seen := map[string]bool{}
	for _, spn := range expected {
		k := strings.ToLower(spn)
		if seen[k] { // name == fqdn: one SPN, not two
			continue
		}
		seen[k] = true
		if holders, ok := dups[k]; ok {
			out = append(out, fmt.Sprintf("duplicate SPN %s (registered on %s)", spn, strings.Join(holders, ", ")))
		} else if missing[k] {
			out = append(out, "missing SPN "+spn)
		}
	}
	return strings.Join(out, "; ")
}
