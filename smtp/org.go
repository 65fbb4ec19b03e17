package smtp

import (
	"encoding/base64"
	"errors"
	"io"
	"strconv"
	"strings"

	"mailward/directory"
	"mailward/events"
	"mailward/metrics"
	"mailward/orgauth"
	"mailward/reply"
)

// Org is what the receive side needs from the organization (orgauth.Trust
// satisfies it).
type Org interface {
	ServerByFQDN(helo string) (string, bool)
	CheckLogin(user, password string) (server string, ok bool, err error)
	SendAs(server string) directory.Decision
	// ServerByPrincipal maps a Kerberos client principal (and the
	// authorization identity it asked for) to a server (GSSAPI).
	ServerByPrincipal(principal, authzid string) (server string, err error)
	// SPNProblem names what is wrong, in the directory, with the SPNs of
	// the server answering as fqdn ("" when nothing is).
	SPNProblem(fqdn string) string
}

// orgServer is the organization server the EHLO name claims to be, when
// this virtual server takes organization mail at all.
func (s *session) orgServer() (string, bool) {
	if s.opt.Org == nil || len(s.l.OrgAuth) == 0 || s.helo == "" {
		return "", false
	}
	return s.opt.Org.ServerByFQDN(s.helo)
}

// orgAuthOffered: X-EXPS is offered only to servers of the organization
// (KB843106: the EHLO name decides trust), or to every client where the
// virtual server says so (org_auth_offer = "everyone": a replicated
// directory may not know a new server yet, KB979174), and, where the
// virtual server has TLS, only after STARTTLS and a new EHLO.
func (s *session) orgAuthOffered() bool {
	_, ok := s.orgServer()
	ok = ok || s.strangerMayTry()
	return ok && s.orgPeer == "" && (s.tls || s.opt.TLS == nil)
}

// strangerMayTry: a client whose EHLO name the directory does not know
// may still try X-EXPS (org_auth_offer = "everyone"); its account then
// decides: unknown is KB979174's 454, known under another name 504.
func (s *session) strangerMayTry() bool {
	return s.opt.Org != nil && len(s.l.OrgAuth) > 0 && s.helo != "" && s.l.OrgAuthEveryone
}

// replyNotThatServer answers X-EXPS from a client that proved to be
// server, under an EHLO name that is not server's: trust goes with the
// EHLO name (KB843106), so it is refused as a stranger's would be, and
// the sender goes on as if X-EXPS had not been offered.
func (s *session) replyNotThatServer(server string) reply.Reply {
	s.srv.ev.Emit(events.OrgAuthRefused, "virtual_server", s.l.Name, "ip", s.ip, "helo", s.helo, "server", server)
	return reply.New(504, "5.7.4", "X-EXPS is only for servers of the organization; EHLO name %s is not the FQDN of %s", s.helo, server)
}

// orgRelay reports whether the client is a server of the organization
// that authenticated and holds send-as: it may relay, as Exchange lets
// its authenticated servers send to any recipient (a bridgehead depends
// on it).
func (s *session) orgRelay() bool {
	return s.orgPeer != "" && s.opt.Org != nil && s.opt.Org.SendAs(s.orgPeer).Allowed
}

// cmdXEXPS is X-EXPS: AUTH for servers of the organization.
func (s *session) cmdXEXPS(arg string) reply.Reply {
	l := s.l
	mech, initial, _ := strings.Cut(strings.TrimSpace(arg), " ")
	mech = strings.ToUpper(mech)
	switch {
	case s.opt.Org == nil || len(l.OrgAuth) == 0:
		return reply.New(502, "5.5.1", "X-EXPS not available")
	case s.helo == "" || !s.esmtp:
		return replyNeedEHLO
	case s.orgPeer != "":
		return replyAuthed
	case s.env != nil:
		return reply.New(503, "5.5.1", "X-EXPS not permitted during a mail transaction")
	}
	if _, ok := s.orgServer(); !ok && !s.strangerMayTry() {
		s.srv.ev.Emit(events.OrgAuthRefused, "virtual_server", l.Name, "ip", s.ip, "helo", s.helo)
		return reply.New(504, "5.7.4", "X-EXPS is only for servers of the organization; EHLO name %s is not one", s.helo)
	}
	if !s.tls && s.opt.TLS != nil {
		return reply.New(538, "5.7.11", "Encryption required: STARTTLS, then EHLO, then X-EXPS")
	}
	if !contains(l.OrgAuth, mech) {
		return replyBadMech
	}
	if r, locked := s.lockedOut(""); locked {
		return r
	}
	if mech == "GSSAPI" {
		return s.orgGSSAPI("X-EXPS", initial)
	}
	user, pass, bad, ok := s.authLogin(initial)
	if !ok {
		return bad
	}
	end, refused := s.checkTurn(user)
	if end == nil {
		return refused
	}
	server, good, err := s.opt.Org.CheckLogin(user, pass)
	return s.orgAuthResult(mech, user, server, good, err, end)
}

// gssapiOffered: AUTH GSSAPI is offered on the same terms as X-EXPS (to
// servers of the organization only, after TLS where the virtual server
// has it), when the virtual server takes GSSAPI from them.
func (s *session) gssapiOffered() bool {
	_, known := s.orgServer()
	return known && s.orgAuthOffered() && contains(s.l.OrgAuth, "GSSAPI")
}

// orgGSSAPI runs SASL GSSAPI (RFC 4752) for an organization server, as
// X-EXPS GSSAPI or AUTH GSSAPI: challenges are 334 lines in base64, an
// empty one is "334 " (RFC 4954). The ticket is verified with the
// virtual server's keytab for SMTP/<virtual server FQDN> (SMTPSVC/ and smtp/ too),
// and the client principal must be a server of the organization.
//
// Temporary failures — no keytab, an SPN missing or duplicated in the
// directory, clock skew, a stale or wrong keytab, a replay — answer 454
// 4.7.0 with event 1035 naming the cause, so the sender keeps the message
// (KB979174); a refused ticket or a principal that is not a server of the
// organization answer 535 5.7.8 with event 1704.
func (s *session) orgGSSAPI(verb, initial string) reply.Reply {
	l := s.l
	const mech = "GSSAPI"
	temporary := func(name, detail string) reply.Reply {
		kv := []any{"virtual_server", l.Name, "mechanism", mech, "ip", s.ip, "error", name, "helo", s.helo}
		if detail != "" {
			kv = append(kv, "detail", detail)
		}
		s.srv.ev.Emit(events.OrgAuthTemporary, kv...)
		s.opt.Metrics.Auth(verb+" "+mech, metrics.AuthError)
		return replyAuthTemp
	}
	denied := func(who, name, detail string) reply.Reply {
		kv := []any{"virtual_server", l.Name, "server", who, "ip", s.ip, "mechanism", verb + " " + mech, "error", name}
		if detail != "" {
			kv = append(kv, "detail", detail)
		}
		s.srv.ev.Emit(events.OrgAuthFailed, kv...)
		s.opt.Metrics.Auth(verb+" "+mech, metrics.AuthFailure)
		return s.authFailed(who, nil)
	}
	acc := s.opt.GSSAPI
	if acc == nil {
		// Integrated (Kerberos) authentication is not enabled on this
		// server: organization.keytab is not set.
		return temporary("NoKeytab", "organization.keytab is not set")
	}
	if p := s.opt.Org.SPNProblem(l.FQDN); p != "" {
		return temporary(p, "")
	}
	var resp []byte
	switch initial {
	case "":
		var bad reply.Reply
		var ok bool
		if resp, bad, ok = s.challenge(""); !ok {
			return bad
		}
	case "=":
		resp = []byte{}
	default:
		var err error
		if resp, err = base64.StdEncoding.DecodeString(initial); err != nil {
			return replyBadEncoding
		}
	}
	claimed, known := s.orgServer()
	ss := acc.NewServerSession("SMTP", l.FQDN)
	// RFC 4752 takes three client messages; one more is a broken client.
	for n := 0; ; n++ {
		chal, done, err := ss.Step(resp)
		if err != nil {
			var ae *orgauth.AuthError
			if !errors.As(err, &ae) {
				ae = &orgauth.AuthError{Kind: orgauth.LogonDenied, Err: err}
			}
			if ae.Temporary() {
				return temporary(ae.Name(), ae.Error())
			}
			return denied(claimed, ae.Name(), ae.Error())
		}
		if done {
			break
		}
		if n == 3 {
			return denied(claimed, orgauth.LogonDeniedName, "SASL GSSAPI exchange did not finish")
		}
		var bad reply.Reply
		var ok bool
		if resp, bad, ok = s.challenge(base64.StdEncoding.EncodeToString(chal)); !ok {
			return bad
		}
	}
	principal := ss.Principal()
	server, err := s.opt.Org.ServerByPrincipal(principal, ss.AuthzID())
	if errors.Is(err, directory.ErrUnavailable) {
		// The ticket is good; the directory cannot say whose it is now.
		s.srv.ev.Emit(events.OrgAuthTemporary, "virtual_server", l.Name, "mechanism", mech, "ip", s.ip, "error", "DirectoryUnavailable: "+err.Error())
		return replyAuthTemp
	}
	if err != nil && !known && sameHost(principal, s.helo) {
		// A good ticket for SMTP/<the EHLO name>, a server this
		// directory does not know: a new server not replicated here yet
		// (KB979174). Temporary, so the sender keeps the message.
		return temporary("UnknownServer", principal+": "+err.Error())
	}
	if err != nil {
		return denied(principal, orgauth.LogonDeniedName, err.Error())
	}
	if !known {
		s.opt.Metrics.Auth(verb+" "+mech, metrics.AuthFailure)
		return s.replyNotThatServer(server)
	}
	s.orgPeer = server
	s.srv.ev.Emit(events.AuthSucceeded, "virtual_server", l.Name, "mechanism", verb+" "+mech, "user", server, "ip", s.ip,
		"principal", principal)
	s.opt.Metrics.Auth(verb+" "+mech, metrics.AuthSuccess)
	return replyAuthOK
}

// orgAuthResult answers an X-EXPS exchange. A failure to verify is
// temporary (454 4.7.0, event 1035) so the sender keeps the message
// (KB979174); wrong credentials are permanent (535, event 1704).
func (s *session) orgAuthResult(mech, user, server string, good bool, err error, end func()) reply.Reply {
	l := s.l
	if err == nil && good {
		end()
	}
	_, known := s.orgServer()
	result := metrics.AuthFailure
	switch {
	case err == nil && good && known:
		result = metrics.AuthSuccess
	case errors.Is(err, orgauth.ErrUnknownServer):
		result = metrics.AuthError
	}
	s.opt.Metrics.Auth("X-EXPS "+mech, result)
	switch {
	case err != nil && errors.Is(err, orgauth.ErrUnknownServer):
		end()
		s.srv.ev.Emit(events.OrgAuthTemporary, "virtual_server", l.Name, "mechanism", mech, "ip", s.ip, "error", "UnknownServer: "+user,
			"helo", s.helo)
		return replyAuthTemp
	case err != nil && errors.Is(err, directory.ErrUnavailable):
		end()
		s.srv.ev.Emit(events.OrgAuthTemporary, "virtual_server", l.Name, "mechanism", mech, "ip", s.ip, "error", "DirectoryUnavailable: "+err.Error())
		return replyAuthTemp
	case err != nil:
		s.srv.ev.Emit(events.OrgAuthFailed, "virtual_server", l.Name, "server", user, "ip", s.ip, "mechanism", mech, "error", err)
		return s.authFailed(user, end)
	case !good:
		s.srv.ev.Emit(events.OrgAuthFailed, "virtual_server", l.Name, "server", user, "ip", s.ip, "mechanism", mech,
			"error", "SEC_E_LOGON_DENIED (0x8009030c)")
		return s.authFailed(user, end)
	}
	s.opt.AuthGuard.Succeeded(user)
	if !known {
		return s.replyNotThatServer(server)
	}
	s.orgPeer = server
	s.srv.ev.Emit(events.AuthSucceeded, "virtual_server", l.Name, "mechanism", "X-EXPS "+mech, "user", server, "ip", s.ip)
	return replyAuthOK
}

// cmdXEXCH50 receives organization properties (KB843106):
// "XEXCH50 <size> <flag>", after RCPT; an authenticated organization peer
// holding SendAs gets 354, sends exactly <size> octets, and gets 250.
func (s *session) cmdXEXCH50(arg string) reply.Reply {
	f := strings.Fields(arg)
	if len(f) != 2 {
		return reply.New(501, "5.5.4", "Syntax: XEXCH50 <size> <flag>")
	}
	size, err := strconv.Atoi(f[0])
	if err != nil || size <= 0 {
		return reply.New(501, "5.5.4", "Syntax: XEXCH50 <size> <flag>")
	}
	if s.env == nil || len(s.env.Recipients) == 0 {
		return reply.New(503, "5.5.1", "Need RCPT before XEXCH50")
	}
	if s.orgPeer == "" {
		// KB843106's exact words; no blob follows. The receiving side
		// says so too, at level medium, as it does for 7004 on the
		// sending side: who tried, under which name, and why.
		why := "the client did not authenticate as a server of the organization (X-EXPS)"
		switch _, known := s.orgServer(); {
		case s.opt.Org == nil || len(s.l.OrgAuth) == 0:
			why = "this virtual server takes no organization mail (org_auth is empty)"
		case !known && s.l.OrgAuthEveryone:
			why = "its EHLO name is not a server of the organization, and it did not authenticate as one"
		case !known:
			why = "its EHLO name is not a server of the organization, so X-EXPS was not offered to it"
		case s.authUser != "":
			why = "it authenticated as user " + s.authUser + ", not as a server of the organization"
		}
		s.propsLost = true
		s.srv.ev.Emit(events.XEXCH50Refused, "ip", s.ip, "helo", s.helo, "virtual_server", s.l.Name,
			"reply", "504 Need to authenticate first", "reason", why)
		return reply.New(504, "", "Need to authenticate first")
	}
	if d := s.opt.Org.SendAs(s.orgPeer); !d.Allowed {
		s.srv.ev.Emit(events.SendAsDenied, "server", s.orgPeer, "reason", d.Reason)
		return reply.New(550, "5.7.1", "Permission denied: SendAs is denied for %s (%s)", s.orgPeer, d.Reason)
	}
	if size > orgauth.MaxBlob {
		return reply.New(552, "5.3.4", "XEXCH50 data too large (limit %d)", orgauth.MaxBlob)
	}
	s.send(reply.New(354, "", "Send binary data"))
	if err := s.flush(); err != nil {
		s.quit = true
		return reply.Reply{}
	}
	blob := make([]byte, size)
	if _, err := io.ReadFull(s.br, blob); err != nil {
		s.quit = true
		return reply.Reply{}
	}
	if _, err := orgauth.Decode(blob); err != nil {
		return reply.New(501, "5.5.4", "Malformed XEXCH50 data")
	}
	s.env.OrgProps = blob
	s.srv.ev.Emit(events.XEXCH50Accepted, "server", s.orgPeer, "size", size)
	return reply.New(250, "2.0.0", "XEXCH50 OK")
}

// sameHost: principal is SMTP/<host>@REALM (or SMTPSVC/, smtp/) for the
// host the client named in EHLO.
func sameHost(principal, helo string) bool {
	name, _, _ := strings.Cut(principal, "@")
	svc, host, ok := strings.Cut(name, "/")
	return ok && (strings.EqualFold(svc, "SMTP") || strings.EqualFold(svc, "SMTPSVC")) && strings.EqualFold(host, helo)
}
