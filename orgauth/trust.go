package orgauth

import (
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"mailward/directory"
)

// Trust answers the receive side's questions about a peer server.
type Trust struct {
	Org *directory.Org
}

// ServerByFQDN reports whether an EHLO name is a server of the
// organization (seed 000: the EHLO name decides trust).
func (t *Trust) ServerByFQDN(helo string) (string, bool) {
	if t == nil || t.Org == nil {
		return "", false
	}
	s, ok := t.Org.ServerByFQDN(helo)
	if !ok {
		return "", false
	}
	return s.Name, true
}

// ErrUnknownServer: the account is not (yet) in the directory — seed 003's
// replication lag. Temporary: the sender keeps the message and retries.
var ErrUnknownServer = fmt.Errorf("server account not found in the directory (replication not complete?)")

// CheckLogin verifies a server account's LOGIN secret. The user may be
// the server's name or FQDN, optionally as "name$" (a machine account).
func (t *Trust) CheckLogin(user, password string) (string, bool, error) {
	u := strings.ToLower(strings.TrimSuffix(user, "$"))
	s, ok := t.Org.ServerByName(u)
	if !ok {
		s, ok = t.Org.ServerByFQDN(u)
	}
	if !ok {
		return "", false, ErrUnknownServer
	}
	if s.Auth != "login" || s.PasswordHash == "" {
		return s.Name, false, fmt.Errorf("server %q authenticates with %s, not LOGIN", s.Name, s.Auth)
	}
	return s.Name, bcrypt.CompareHashAndPassword([]byte(s.PasswordHash), []byte(password)) == nil, nil
}

// SendAs decides whether server may pass organization properties.
func (t *Trust) SendAs(server string) directory.Decision {
	return t.Org.Effective(server, directory.RightSendAs)
}
