package smtp

import (
	"bytes"
	"encoding/base64"
	"strings"
	"time"

	"mailward/events"
)

// maxAuthLine: RFC 4954 §4 requires accepting at least 12288 octets.
const maxAuthLine = 12288

// cmdAuth implements AUTH PLAIN (RFC 4616) and LOGIN
// (draft-murchison-sasl-login) per RFC 4954.
func (s *session) cmdAuth(arg string) {
	l := s.srv.l
	mech, initial, _ := strings.Cut(strings.TrimSpace(arg), " ")
	mech = strings.ToUpper(mech)
	if mech == "GSSAPI" {
		s.authGSSAPI(initial)
		return
	}
	switch {
	case len(l.Auth) == 0:
		s.fail("502 5.5.1 AUTH not available")
		return
	case s.helo == "" || !s.esmtp:
		s.fail("503 5.5.1 Send EHLO first")
		return
	case s.authUser != "":
		s.fail("503 5.5.1 Already authenticated")
		return
	case s.env != nil:
		s.fail("503 5.5.1 AUTH not permitted during a mail transaction")
		return
	case !s.tls && !l.AuthPlaintext:
		// RFC 4954 §4: no plaintext passwords over an unprotected
		// channel; the reply code is RFC 4954 §6's.
		s.fail("538 5.7.11 Encryption required for requested authentication mechanism")
		return
	case !contains(l.Auth, mech):
		s.fail("504 5.5.4 Unrecognized authentication type")
		return
	}
	var user, pass string
	var ok bool
	switch mech {
	case "PLAIN":
		user, pass, ok = s.authPlain(initial)
	case "LOGIN":
		user, pass, ok = s.authLogin(initial)
	}
	if !ok {
		return // the exchange already answered (cancelled, bad encoding, lost)
	}
	good, err := s.srv.opt.Auth.Authenticate(user, pass)
	if err != nil {
		s.reply("454 4.7.0 Temporary authentication failure")
		s.srv.ev.Emit(events.AuthFailed, "connector", l.Name, "mechanism", mech, "user", user, "ip", s.ip, "error", err)
		return
	}
	if !good {
		s.srv.ev.Emit(events.AuthFailed, "connector", l.Name, "mechanism", mech, "user", user, "ip", s.ip, "error", "invalid credentials")
		s.sleep(s.srv.authDelay(s.ip, time.Now()))
		s.fail("535 5.7.8 Authentication credentials invalid")
		return
	}
	s.authUser = strings.ToLower(user)
	s.srv.ev.Emit(events.AuthSucceeded, "connector", l.Name, "mechanism", mech, "user", s.authUser, "ip", s.ip)
	s.reply("235 2.7.0 Authentication successful")
}

// authGSSAPI is AUTH GSSAPI: the organization's Kerberos authentication
// (as X-EXPS GSSAPI) for servers of the organization, which is how
// ordinary SASL clients (Cyrus, MIT GSS-API) speak it. It sets the
// organization peer, not a user login.
func (s *session) authGSSAPI(initial string) {
	l := s.srv.l
	_, isOrg := s.orgServer()
	switch {
	case s.helo == "" || !s.esmtp:
		s.fail("503 5.5.1 Send EHLO first")
	case s.orgPeer != "" || s.authUser != "":
		s.fail("503 5.5.1 Already authenticated")
	case s.env != nil:
		s.fail("503 5.5.1 AUTH not permitted during a mail transaction")
	case s.srv.opt.Org == nil || !contains(l.OrgAuth, "GSSAPI"):
		s.fail("504 5.5.4 Unrecognized authentication type")
	case !isOrg:
		s.srv.ev.Emit(events.OrgAuthRefused, "connector", l.Name, "ip", s.ip, "helo", s.helo)
		s.fail("504 5.7.4 GSSAPI is only for servers of the organization; EHLO name %s is not one", s.helo)
	case !s.tls && l.TLS != "none":
		s.fail("538 5.7.11 Encryption required: STARTTLS, then EHLO, then AUTH")
	default:
		s.orgGSSAPI("AUTH", initial)
	}
}

// challenge sends a 334 and reads the client's base64 answer. "*"
// cancels (RFC 4954 §4).
func (s *session) challenge(prompt string) ([]byte, bool) {
	s.reply("334 %s", prompt)
	line, err := s.readLine(maxAuthLine)
	if err == errLineTooLong {
		s.fail("500 5.5.6 Authentication exchange line is too long")
		return nil, false
	}
	if err != nil {
		s.quit = true
		return nil, false
	}
	if line == "*" {
		s.fail("501 5.0.0 Authentication cancelled")
		return nil, false
	}
	b, err := base64.StdEncoding.DecodeString(line)
	if err != nil {
		s.fail("501 5.5.2 Cannot decode response")
		return nil, false
	}
	return b, true
}

func (s *session) authPlain(initial string) (string, string, bool) {
	var resp []byte
	if initial == "" {
		var ok bool
		if resp, ok = s.challenge(""); !ok {
			return "", "", false
		}
	} else if initial == "=" {
		resp = nil
	} else {
		var err error
		if resp, err = base64.StdEncoding.DecodeString(initial); err != nil {
			s.fail("501 5.5.2 Cannot decode response")
			return "", "", false
		}
	}
	parts := bytes.Split(resp, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		s.fail("501 5.5.2 Malformed PLAIN response")
		return "", "", false
	}
	authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if authz != "" && !strings.EqualFold(authz, user) {
		s.fail("535 5.7.8 Authorization identity not permitted")
		return "", "", false
	}
	return user, pass, true
}

func (s *session) authLogin(initial string) (string, string, bool) {
	var u []byte
	if initial != "" {
		var err error
		if u, err = base64.StdEncoding.DecodeString(initial); err != nil {
			s.fail("501 5.5.2 Cannot decode response")
			return "", "", false
		}
	} else {
		var ok bool
		if u, ok = s.challenge("VXNlcm5hbWU6"); !ok { // "Username:"
			return "", "", false
		}
	}
	p, ok := s.challenge("UGFzc3dvcmQ6") // "Password:"
	if !ok {
		return "", "", false
	}
	return string(u), string(p), true
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
