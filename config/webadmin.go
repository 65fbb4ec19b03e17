package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// WebAdmin is [web_admin]: the web administration (Queue Viewer, Event
// Viewer, Organization page; docs/web-admin.md) on a listener of its
// own. Off by default: no address, no listener.
type WebAdmin struct {
	// Address is host:port to listen on, e.g. "127.0.0.1:8025"; empty:
	// off. Anything but a loopback address needs TLS (TLSCert/TLSKey).
	Address string `toml:"address"`
	// TLSCert and TLSKey serve HTTPS; both or neither.
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// SessionTimeout ends a session this long after its last request.
	SessionTimeout Duration `toml:"session_timeout"`
	// LoginFailures failed logins from one client address, or for one
	// user name, lock further logins from it, or as it, for
	// LoginLockout.
	LoginFailures int      `toml:"login_failures"`
	LoginLockout  Duration `toml:"login_lockout"`
	// Users are the administrators who may log in.
	Users []WebAdminUser `toml:"user"`
}

// WebAdminUser is one [[web_admin.user]].
type WebAdminUser struct {
	Name string `toml:"name"`
	// PasswordHash is a bcrypt hash ("mailward config hash-password"),
	// as a mailbox's.
	PasswordHash string `toml:"password_hash"`
}

// Enabled reports whether the web administration is turned on.
func (w WebAdmin) Enabled() bool { return w.Address != "" }

// TLS reports whether it serves HTTPS.
func (w WebAdmin) TLS() bool { return w.TLSCert != "" }

func (c *Config) applyWebAdminDefaults() {
	w := &c.WebAdmin
	if w.SessionTimeout.Duration == 0 {
		w.SessionTimeout.Duration = DefaultWebAdminSessionTimeout
	}
	if w.LoginFailures == 0 {
		w.LoginFailures = DefaultWebAdminLoginFailures
	}
	if w.LoginLockout.Duration == 0 {
		w.LoginLockout.Duration = DefaultWebAdminLoginLockout
	}
}

// validateWebAdmin refuses a web administration that anyone on the
// network could reach in clear text, or that nobody could log in to.
func (c *Config) validateWebAdmin(bad func(string, ...any)) {
	w := c.WebAdmin
	if (w.TLSCert == "") != (w.TLSKey == "") {
		bad("web_admin.tls_cert and web_admin.tls_key go together")
	}
	if w.LoginFailures < 1 || w.SessionTimeout.Duration < 0 || w.LoginLockout.Duration < 0 {
		bad("web_admin: login_failures must be at least 1, session_timeout and login_lockout positive")
	}
	seen := map[string]bool{}
	for _, u := range w.Users {
		switch {
		case u.Name == "" || strings.ContainsAny(u.Name, " \t\r\n"):
			bad("[[web_admin.user]] %q: a name without spaces is required", u.Name)
		case seen[u.Name]:
			bad("[[web_admin.user]] %q listed twice", u.Name)
		case !strings.HasPrefix(u.PasswordHash, "$2"):
			bad("[[web_admin.user]] %q: password_hash must be a bcrypt hash (mailward config hash-password)", u.Name)
		}
		seen[u.Name] = true
	}
	if !w.Enabled() {
		return
	}
	host, port, err := net.SplitHostPort(w.Address)
	if err != nil {
		bad("web_admin.address %q: want host:port, e.g. \"127.0.0.1:8025\" (%v)", w.Address, err)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		bad("web_admin.address %q: the port must be a number from 1 to 65535", w.Address)
	}
	if !loopbackHost(host) && !w.TLS() {
		bad("web_admin.address %q is not a loopback address: set web_admin.tls_cert and tls_key, so that passwords and session cookies never cross the network in clear text", w.Address)
	}
	if len(w.Users) == 0 {
		bad("web_admin is on (address %q) but has no [[web_admin.user]]: nobody could log in", w.Address)
	}
}

// loopbackHost: a literal loopback address or "localhost"; an empty host
// (every interface) is not.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
