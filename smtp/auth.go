package smtp

import (
	"bytes"
	"encoding/base64"
	"strings"
	"time"

	"mailward/events"
	"mailward/metrics"
	"mailward/reply"
)

// maxAuthLine: RFC 4954 §4 requires accepting at least 12288 octets.
const maxAuthLine = 12288

// cmdAuth implements AUTH PLAIN (RFC 4616) and LOGIN
// (draft-murchison-sasl-login) per RFC 4954.
func (s *session) cmdAuth(arg string) reply.Reply {
	l := s.l
	mech, initial, _ := strings.Cut(strings.TrimSpace(arg), " ")
	mech = strings.ToUpper(mech)
	if mech == "GSSAPI" {
		return s.authGSSAPI(initial)
	}
	switch {
	case len(l.Auth) == 0:
		return reply.New(502, "5.5.1", "AUTH not available")
	case s.helo == "" || !s.esmtp:
		return replyNeedEHLO
	case s.authUser != "":
		return replyAuthed
	case s.env != nil:
		return reply.New(503, "5.5.1", "AUTH not permitted during a mail transaction")
	case !s.tls && !l.AuthPlaintext:
		// RFC 4954 §4: no plaintext passwords over an unprotected
		// channel; the reply code is RFC 4954 §6's.
		return reply.New(538, "5.7.11", "Encryption required for requested authentication mechanism")
	case !contains(l.Auth, mech):
		return replyBadMech
	}
	if r, locked := s.lockedOut(""); locked {
		return r
	}
	var user, pass string
	var bad reply.Reply
	var ok bool
	switch mech {
	case "PLAIN":
		user, pass, bad, ok = s.authPlain(initial)
	case "LOGIN":
		user, pass, bad, ok = s.authLogin(initial)
	}
	if !ok {
		return bad // cancelled, bad encoding, or the connection lost (zero)
	}
	end, refused := s.checkTurn(user)
	if end == nil {
		return refused
	}
	good, err := s.opt.Auth.Authenticate(user, pass)
	if err != nil {
		end()
		s.srv.ev.Emit(events.AuthFailed, "virtual_server", l.Name, "mechanism", mech, "user", user, "ip", s.ip, "error", err)
		s.opt.Metrics.Auth(mech, metrics.AuthError)
		return replyAuthTemp
	}
	if !good {
		s.srv.ev.Emit(events.AuthFailed, "virtual_server", l.Name, "mechanism", mech, "user", user, "ip", s.ip, "error", "invalid credentials")
		s.opt.Metrics.Auth(mech, metrics.AuthFailure)
		return s.authFailed(user, end)
	}
	s.opt.AuthGuard.Succeeded(user)
	end()
	s.authUser = strings.ToLower(user)
	s.srv.ev.Emit(events.AuthSucceeded, "virtual_server", l.Name, "mechanism", mech, "user", s.authUser, "ip", s.ip)
	s.opt.Metrics.Auth(mech, metrics.AuthSuccess)
	return replyAuthOK
}

// authGSSAPI is AUTH GSSAPI: the organization's Kerberos authentication
// (as X-EXPS GSSAPI) for servers of the organization, which is how
// ordinary SASL clients (Cyrus, MIT GSS-API) speak it. It sets the
// organization peer, not a user login.
func (s *session) authGSSAPI(initial string) reply.Reply {
	l := s.l
	_, isOrg := s.orgServer()
	switch {
	case s.helo == "" || !s.esmtp:
		return replyNeedEHLO
	case s.orgPeer != "" || s.authUser != "":
		return replyAuthed
	case s.env != nil:
		return reply.New(503, "5.5.1", "AUTH not permitted during a mail transaction")
	case s.opt.Org == nil || !contains(l.OrgAuth, "GSSAPI"):
		return replyBadMech
	case !isOrg:
		s.srv.ev.Emit(events.OrgAuthRefused, "virtual_server", l.Name, "ip", s.ip, "helo", s.helo)
		return reply.New(504, "5.7.4", "GSSAPI is only for servers of the organization; EHLO name %s is not one", s.helo)
	case !s.tls && s.opt.TLS != nil:
		return reply.New(538, "5.7.11", "Encryption required: STARTTLS, then EHLO, then AUTH")
	}
	if r, locked := s.lockedOut(""); locked {
		return r
	}
	return s.orgGSSAPI("AUTH", initial)
}

// replyLockedOut answers a login from a client address or for an
// account that failed too often lately: temporary, so a legitimate
// client retries later, and given before any password is checked, so
// that guessing goes no further meanwhile.
var replyLockedOut = reply.New(454, "4.7.0", "Temporary authentication failure (too many failed attempts; try again later)")

// lockedOut refuses a login while the client address, or the account
// (when not ""), is locked out (AuthGuard).
func (s *session) lockedOut(account string) (reply.Reply, bool) {
	lo, locked := s.opt.AuthGuard.Locked(s.ip, account)
	if !locked {
		return reply.Reply{}, false
	}
	s.lockoutEvent(account, lo)
	return replyLockedOut, true
}

// checkTurn waits for this client address's turn to have a password
// checked (AuthGuard.Turn) and refuses when the address or the account is
// locked out. end is nil when refused, and then refused is the reply;
// otherwise the caller calls end once the check's outcome is recorded.
func (s *session) checkTurn(account string) (end func(), refused reply.Reply) {
	end, err := s.opt.AuthGuard.Turn(s.ctx, s.ip)
	if err != nil {
		return nil, replyAuthTemp // shutting down
	}
	if r, locked := s.lockedOut(account); locked {
		end()
		return nil, r
	}
	return end, reply.Reply{}
}

// authFailed records a failed login (across sessions and virtual servers),
// ends the check's turn (end may be nil), waits the delay the count has
// grown to, and refuses.
func (s *session) authFailed(account string, end func()) reply.Reply {
	n, started := s.opt.AuthGuard.Failed(s.ip, account)
	if end != nil {
		end()
	}
	if started != nil {
		s.lockoutEvent(account, *started)
	}
	s.sleep(s.authDelay(n))
	return replyAuthFailed
}

func (s *session) lockoutEvent(account string, lo Lockout) {
	if account == "" {
		account = "any account"
	}
	lim := s.opt.AuthGuard.lim
	s.srv.ev.Emit(events.AuthLockout, "ip", s.ip, "account", account, "virtual_server", s.l.Name,
		"duration", time.Until(lo.Until).Round(time.Second), "failures", lo.N, "window", lim.Window, "by", lo.By)
}

// challenge sends a 334 and reads the client's base64 answer. "*"
// cancels (RFC 4954 §4). When ok is false, bad is the reply to give (the
// zero Reply when the connection is gone).
func (s *session) challenge(prompt string) (data []byte, bad reply.Reply, ok bool) {
	s.send(reply.New(334, "", "%s", prompt))
	line, err := s.readLine(maxAuthLine)
	if err == errLineTooLong {
		return nil, reply.New(500, "5.5.6", "Authentication exchange line is too long"), false
	}
	if err != nil {
		s.quit = true
		return nil, reply.Reply{}, false
	}
	if line == "*" {
		return nil, reply.New(501, "5.0.0", "Authentication cancelled"), false
	}
	b, err := base64.StdEncoding.DecodeString(line)
	if err != nil {
		return nil, replyBadEncoding, false
	}
	return b, reply.Reply{}, true
}

func (s *session) authPlain(initial string) (user, pass string, bad reply.Reply, ok bool) {
	var resp []byte
	switch initial {
	case "":
		if resp, bad, ok = s.challenge(""); !ok {
			return "", "", bad, false
		}
	case "=":
		resp = nil
	default:
		var err error
		if resp, err = base64.StdEncoding.DecodeString(initial); err != nil {
			return "", "", replyBadEncoding, false
		}
	}
	parts := bytes.Split(resp, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		return "", "", reply.New(501, "5.5.2", "Malformed PLAIN response"), false
	}
	authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if authz != "" && !strings.EqualFold(authz, user) {
		return "", "", reply.New(535, "5.7.8", "Authorization identity not permitted"), false
	}
	return user, pass, reply.Reply{}, true
}

func (s *session) authLogin(initial string) (user, pass string, bad reply.Reply, ok bool) {
	var u []byte
	if initial != "" {
		var err error
		if u, err = base64.StdEncoding.DecodeString(initial); err != nil {
			return "", "", replyBadEncoding, false
		}
	} else if u, bad, ok = s.challenge("VXNlcm5hbWU6"); !ok { // "Username:"
		return "", "", bad, false
	}
	p, bad, ok := s.challenge("UGFzc3dvcmQ6") // "Password:"
	if !ok {
		return "", "", bad, false
	}
	return string(u), string(p), reply.Reply{}, true
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
