package smtp

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"mailward/directory"
	"mailward/events"
	"mailward/orgauth"
)

// Org is what the receive side needs from the organization (orgauth.Trust
// satisfies it).
type Org interface {
	ServerByFQDN(helo string) (string, bool)
	CheckLogin(user, password string) (server string, ok bool, err error)
	SendAs(server string) directory.Decision
}

// orgServer is the organization server the EHLO name claims to be, when
// this virtual server takes organization mail at all.
func (s *session) orgServer() (string, bool) {
	if s.srv.opt.Org == nil || len(s.srv.l.OrgAuth) == 0 || s.helo == "" {
		return "", false
	}
	return s.srv.opt.Org.ServerByFQDN(s.helo)
}

// orgAuthOffered: X-EXPS is offered only to servers of the organization
// (seed 000: the EHLO name decides trust) and, where the virtual server
// has TLS, only after STARTTLS and a new EHLO.
func (s *session) orgAuthOffered() bool {
	_, ok := s.orgServer()
	return ok && s.orgPeer == "" && (s.tls || s.srv.l.TLS == "none")
}

// cmdXEXPS is X-EXPS: AUTH for servers of the organization.
func (s *session) cmdXEXPS(arg string) {
	l := s.srv.l
	mech, initial, _ := strings.Cut(strings.TrimSpace(arg), " ")
	mech = strings.ToUpper(mech)
	switch {
	case s.srv.opt.Org == nil || len(l.OrgAuth) == 0:
		s.fail("502 5.5.1 X-EXPS not available")
		return
	case s.helo == "" || !s.esmtp:
		s.fail("503 5.5.1 Send EHLO first")
		return
	case s.orgPeer != "":
		s.fail("503 5.5.1 Already authenticated")
		return
	case s.env != nil:
		s.fail("503 5.5.1 X-EXPS not permitted during a mail transaction")
		return
	}
	if _, ok := s.orgServer(); !ok {
		s.srv.ev.Emit(events.OrgAuthRefused, "connector", l.Name, "ip", s.ip, "helo", s.helo)
		s.fail("504 5.7.4 X-EXPS is only for servers of the organization; EHLO name %s is not one", s.helo)
		return
	}
	if !s.tls && l.TLS != "none" {
		s.fail("538 5.7.11 Encryption required: STARTTLS, then EHLO, then X-EXPS")
		return
	}
	if !contains(l.OrgAuth, mech) {
		s.fail("504 5.5.4 Unrecognized authentication type")
		return
	}
	switch mech {
	case "LOGIN":
		user, pass, ok := s.authLogin(initial)
		if !ok {
			return
		}
		server, good, err := s.srv.opt.Org.CheckLogin(user, pass)
		s.orgAuthResult(mech, user, server, good, err)
	default:
		// GSSAPI is wired by the Kerberos acceptor (orgauth) when a keytab
		// is configured; without one the mechanism cannot work here.
		s.srv.ev.Emit(events.OrgAuthTemporary, "connector", l.Name, "mechanism", mech, "ip", s.ip, "error", "NoKeytab")
		s.reply("454 4.7.0 Temporary authentication failure")
	}
}

// orgAuthResult answers an X-EXPS exchange. A failure to verify is
// temporary (454 4.7.0, event 1035) so the sender keeps the message
// (seed 003); wrong credentials are permanent (535, event 1704).
func (s *session) orgAuthResult(mech, user, server string, good bool, err error) {
	l := s.srv.l
	switch {
	case err != nil && errors.Is(err, orgauth.ErrUnknownServer):
		s.srv.ev.Emit(events.OrgAuthTemporary, "connector", l.Name, "mechanism", mech, "ip", s.ip, "error", "UnknownServer: "+user)
		s.reply("454 4.7.0 Temporary authentication failure")
	case err != nil:
		s.srv.ev.Emit(events.OrgAuthFailed, "connector", l.Name, "server", user, "ip", s.ip, "mechanism", mech, "error", err)
		s.sleep(s.srv.authDelay(s.ip, time.Now()))
		s.fail("535 5.7.8 Authentication credentials invalid")
	case !good:
		s.srv.ev.Emit(events.OrgAuthFailed, "connector", l.Name, "server", user, "ip", s.ip, "mechanism", mech,
			"error", "SEC_E_LOGON_DENIED (0x8009030c)")
		s.sleep(s.srv.authDelay(s.ip, time.Now()))
		s.fail("535 5.7.8 Authentication credentials invalid")
	default:
		s.orgPeer = server
		s.srv.ev.Emit(events.AuthSucceeded, "connector", l.Name, "mechanism", "X-EXPS "+mech, "user", server, "ip", s.ip)
		s.reply("235 2.7.0 Authentication successful")
	}
}

// cmdXEXCH50 receives organization properties (seed 000):
// "XEXCH50 <size> <flag>", after RCPT; an authenticated organization peer
// holding SendAs gets 354, sends exactly <size> octets, and gets 250.
func (s *session) cmdXEXCH50(arg string) {
	f := strings.Fields(arg)
	if len(f) != 2 {
		s.fail("501 5.5.4 Syntax: XEXCH50 <size> <flag>")
		return
	}
	size, err := strconv.Atoi(f[0])
	if err != nil || size <= 0 {
		s.fail("501 5.5.4 Syntax: XEXCH50 <size> <flag>")
		return
	}
	if s.env == nil || len(s.env.Recipients) == 0 {
		s.fail("503 5.5.1 Need RCPT before XEXCH50")
		return
	}
	if s.orgPeer == "" {
		// The seed's exact words; no blob follows.
		s.fail("504 Need to authenticate first")
		return
	}
	if d := s.srv.opt.Org.SendAs(s.orgPeer); !d.Allowed {
		s.srv.ev.Emit(events.SendAsDenied, "server", s.orgPeer, "reason", d.Reason)
		s.fail("550 5.7.1 Permission denied: SendAs is denied for %s (%s)", s.orgPeer, d.Reason)
		return
	}
	if size > orgauth.MaxBlob {
		s.fail("552 5.3.4 XEXCH50 data too large (limit %d)", orgauth.MaxBlob)
		return
	}
	s.reply("354 Send binary data")
	if err := s.flush(); err != nil {
		s.quit = true
		return
	}
	blob := make([]byte, size)
	if _, err := io.ReadFull(s.br, blob); err != nil {
		s.quit = true
		return
	}
	if _, err := orgauth.Decode(blob); err != nil {
		s.fail("501 5.5.4 Malformed XEXCH50 data")
		return
	}
	s.env.OrgProps = blob
	s.srv.ev.Emit(events.XEXCH50Accepted, "server", s.orgPeer, "size", size)
	s.reply("250 2.0.0 XEXCH50 OK")
}
