package smtp

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"mailward/address"
	"mailward/events"
	"mailward/policy"
	"mailward/queue"
	"mailward/reply"
)

func defaultVerbs() map[string]verbFunc {
	return map[string]verbFunc{
		"EHLO":     (*session).cmdEhlo,
		"HELO":     (*session).cmdHelo,
		"MAIL":     (*session).cmdMail,
		"RCPT":     (*session).cmdRcpt,
		"DATA":     (*session).cmdData,
		"BDAT":     (*session).cmdBdat,
		"RSET":     (*session).cmdRset,
		"NOOP":     (*session).cmdNoop,
		"QUIT":     (*session).cmdQuit,
		"VRFY":     (*session).cmdVrfy,
		"EXPN":     (*session).cmdExpn,
		"HELP":     (*session).cmdHelp,
		"STARTTLS": (*session).cmdStartTLS,
		"AUTH":     (*session).cmdAuth,
		"X-EXPS":   (*session).cmdXEXPS,
		"XEXCH50":  (*session).cmdXEXCH50,
		// mailward folder status (folderquery.go).
		"X-MWFOLDER": (*session).cmdXMWFOLDER,
	}
}

// Replies several commands share.
var (
	replyOK          = reply.New(250, "2.0.0", "OK")
	replyNeedHello   = reply.New(503, "5.5.1", "Send EHLO/HELO first")
	replyNeedEHLO    = reply.New(503, "5.5.1", "Send EHLO first")
	replyAuthed      = reply.New(503, "5.5.1", "Already authenticated")
	replyBadMech     = reply.New(504, "5.5.4", "Unrecognized authentication type")
	replyBadEncoding = reply.New(501, "5.5.2", "Cannot decode response")
	replyAuthFailed  = reply.New(535, "5.7.8", "Authentication credentials invalid")
	replyAuthTemp    = reply.New(454, "4.7.0", "Temporary authentication failure")
	replyAuthOK      = reply.New(235, "2.7.0", "Authentication successful")
)

func (s *session) cmdEhlo(arg string) reply.Reply { return s.hello(arg, true) }
func (s *session) cmdHelo(arg string) reply.Reply { return s.hello(arg, false) }

// hello answers EHLO/HELO (RFC 5321 §4.1.1.1); it also resets any
// transaction. The keywords depend on TLS state: AUTH is offered only
// over TLS unless the virtual server allows plaintext (RFC 4954 §4).
func (s *session) hello(arg string, extended bool) reply.Reply {
	arg = strings.TrimSpace(arg)
	verb := "HELO"
	if extended {
		verb = "EHLO"
	}
	if arg == "" || strings.IndexFunc(arg, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return reply.New(501, "5.5.4", "Syntax: %s hostname", verb)
	}
	s.resetTransaction()
	s.helo, s.esmtp = arg, extended
	l := s.l
	if !extended {
		return reply.New(250, "", "%s", l.FQDN)
	}
	lines := []string{
		fmt.Sprintf("%s Hello %s [%s]", l.FQDN, arg, s.ip),
		"PIPELINING",
		fmt.Sprintf("SIZE %d", l.MaxMessageSize),
		"8BITMIME",
		"CHUNKING",
		"ENHANCEDSTATUSCODES",
		"SMTPUTF8",
		"DSN",
	}
	if !l.Chunking {
		lines = slices.DeleteFunc(lines, func(k string) bool { return k == "CHUNKING" })
	}
	if s.opt.TLS != nil && !s.tls {
		lines = append(lines, "STARTTLS")
	}
	var auth []string
	if s.authOffered() {
		auth = append(auth, l.Auth...)
	}
	if s.gssapiOffered() {
		// Kerberos for servers of the organization only (KB843106: the
		// EHLO name decides trust), as X-EXPS.
		auth = append(auth, "GSSAPI")
	}
	if len(auth) > 0 {
		lines = append(lines, "AUTH "+strings.Join(auth, " "))
	}
	if s.orgAuthOffered() {
		lines = append(lines, "X-EXPS "+strings.Join(l.OrgAuth, " "))
	}
	if s.opt.Org != nil && len(l.OrgAuth) > 0 {
		// Advertised to everyone, as Exchange does: a stranger that
		// tries it gets "504 Need to authenticate first" (KB843106).
		lines = append(lines, "XEXCH50")
	}
	lines = append(lines, "HELP")
	return reply.Reply{Code: 250, Lines: lines}
}

func (s *session) authOffered() bool {
	l := s.l
	return len(l.Auth) > 0 && s.authUser == "" && (s.tls || l.AuthPlaintext)
}

func (s *session) cmdMail(arg string) reply.Reply {
	switch {
	case s.helo == "":
		return replyNeedHello
	case s.l.RequireTLS && !s.tls:
		return reply.New(530, "5.7.0", "Must issue a STARTTLS command first")
	case s.env != nil:
		return reply.New(503, "5.5.1", "Sender already specified")
	}
	rest, ok := cutPrefixFold(arg, "FROM:")
	if !ok {
		return reply.New(501, "5.5.4", "Syntax: MAIL FROM:<address>")
	}
	p, bad := parseParams(rest, s.esmtp)
	if !bad.IsZero() {
		return bad
	}
	env := &queue.Envelope{ClientIP: s.ip.String(), Helo: s.helo, VirtualServer: s.l.Name, AuthUser: s.authUser, Body: "7BIT"}
	utf8 := false
	for _, kv := range p.list {
		switch kv.key {
		case "SIZE":
			n, err := parseSize(kv.val)
			if err != nil {
				return reply.New(501, "5.5.4", "Bad SIZE parameter")
			}
			// RFC 1870 §6: refuse at MAIL what will be refused at DATA.
			if n > s.l.MaxMessageSize {
				return reply.New(552, "5.3.4", "Message size exceeds fixed maximum message size (%d)", s.l.MaxMessageSize)
			}
		case "BODY":
			switch strings.ToUpper(kv.val) {
			case "7BIT", "8BITMIME":
				env.Body = strings.ToUpper(kv.val)
			default:
				return reply.New(555, "5.5.4", "Unsupported BODY type %s", kv.val)
			}
		case "SMTPUTF8":
			if kv.val != "" {
				return reply.New(501, "5.5.4", "SMTPUTF8 takes no value")
			}
			utf8 = true
		case "RET":
			v := strings.ToUpper(kv.val)
			if v != "FULL" && v != "HDRS" {
				return reply.New(501, "5.5.4", "Bad RET parameter")
			}
			env.Ret = v
		case "ENVID":
			v, ok := xtextDecode(kv.val)
			if !ok || len(v) > 100 {
				return reply.New(501, "5.5.4", "Bad ENVID parameter")
			}
			env.EnvID = v
		case "AUTH":
			// RFC 4954 §5: the original submitter; we record our own
			// authenticated user instead, so the value is not trusted.
		default:
			return reply.New(555, "5.5.4", "Unsupported parameter %s", kv.key)
		}
	}
	a, _, err := address.ParsePath(p.path, true, utf8)
	if err != nil {
		return addressError(err, reply.New(501, "5.1.7", "Bad sender address syntax"))
	}
	a = s.qualify(a)
	if r := s.senderFilter(a.String()); !r.IsZero() {
		return r
	}
	env.From, env.SMTPUTF8 = a.String(), utf8
	s.env, s.utf8, s.rcptSeen = env, utf8, map[string]bool{}
	// KB304897's exact wording: "250 2.1.0 LocalUser@Domain....Sender OK".
	return reply.New(250, "2.1.0", "%s....Sender OK", orNull(env.From))
}

func (s *session) cmdRcpt(arg string) reply.Reply {
	if s.env == nil {
		return reply.New(503, "5.5.1", "Need MAIL before RCPT")
	}
	rest, ok := cutPrefixFold(arg, "TO:")
	if !ok {
		return reply.New(501, "5.5.4", "Syntax: RCPT TO:<address>")
	}
	p, bad := parseParams(rest, s.esmtp)
	if !bad.IsZero() {
		return bad
	}
	r := queue.Recipient{}
	for _, kv := range p.list {
		switch kv.key {
		case "NOTIFY":
			v, ok := parseNotify(kv.val)
			if !ok {
				return reply.New(501, "5.5.4", "Bad NOTIFY parameter")
			}
			r.Notify = v
		case "ORCPT":
			v, ok := parseORCPT(kv.val)
			if !ok {
				return reply.New(501, "5.5.4", "Bad ORCPT parameter")
			}
			r.ORCPT = v
		default:
			return reply.New(555, "5.5.4", "Unsupported parameter %s", kv.key)
		}
	}
	a, _, err := address.ParsePath(p.path, false, s.utf8)
	if err != nil {
		return addressError(err, reply.New(501, "5.1.3", "Bad recipient address syntax"))
	}
	a = s.qualify(a)
	addr := a.String()
	// Every accepted RCPT counts, a repeated one too (Postfix's
	// smtpd_recipient_limit): 5,000 copies of one address are 5,000
	// commands to answer, even if the envelope keeps one.
	if s.rcpts >= s.l.MaxRecipients {
		// RFC 5321 §4.5.3.1.10: 452, and the client sends the rest later.
		return reply.New(452, "4.5.3", "Too many recipients")
	}
	if s.rcptSeen[a.Key()] {
		s.rcpts++
		return reply.New(250, "2.1.5", "%s", addr) // duplicate: deliver once
	}
	if r := s.rcptFilter(a); !r.IsZero() {
		return r
	}
	c := policy.Client{IP: s.ip, Authenticated: s.authUser != "", OrgServer: s.orgRelay(), Sender: s.env.From}
	d := s.opt.Policy.Recipient(c, s.l.Relay, a, s.unknown)
	switch d.Kind {
	case policy.Local, policy.Relay:
		r.Addr = addr
		s.env.Recipients = append(s.env.Recipients, r)
		s.rcptSeen[a.Key()] = true
		s.rcpts++
	case policy.Denied:
		s.srv.ev.Emit(events.RelayDenied, "virtual_server", s.l.Name, "ip", s.ip, "helo", s.helo,
			"user", s.user(), "from", orNull(s.env.From), "rcpt", addr)
	case policy.Restricted:
		s.srv.ev.Emit(events.RestrictionAtRCPT, "virtual_server", s.l.Name, "ip", s.ip, "from", orNull(s.env.From),
			"rcpt", addr, "reason", d.Reply.Text())
	case policy.StoreRefused:
		s.srv.ev.Emit(events.ReplicationRcptRefused, "virtual_server", s.l.Name, "ip", s.ip, "helo", s.helo, "rcpt", addr)
	case policy.Unknown:
		if s.orgPeer != "" && s.l.DirectoryReplicated {
			// An authenticated server of the organization routed it
			// here, so its directory knows the address: ours may be
			// behind (KB979174's replication lag). Temporary, so the
			// sender keeps it; no tarpit for a trusted peer.
			s.srv.ev.Emit(events.RecipientNotHereYet, "virtual_server", s.l.Name, "server", s.orgPeer, "rcpt", addr)
			return reply.New(451, "4.1.1", "%s... not in this server's directory yet (replication?), try again later", addr)
		}
		s.unknown++
		s.srv.ev.Emit(events.UnknownRecipient, "virtual_server", s.l.Name, "ip", s.ip, "rcpt", addr, "delay", d.Tarpit)
		s.sleep(d.Tarpit)
	default:
		s.srv.ev.Emit(events.DirectoryUnavailable, "error", d.Err)
	}
	return d.Reply
}

// addressError gives each address fault its own reply.
func addressError(err error, syntax reply.Reply) reply.Reply {
	switch {
	case errors.Is(err, address.ErrNonASCII):
		return reply.New(553, "5.6.7", "Non-ASCII address needs SMTPUTF8 (RFC 6531)")
	case errors.Is(err, address.ErrTooLong):
		return reply.New(501, "5.5.4", "Address too long (RFC 5321 section 4.5.3.1)")
	}
	return syntax
}

func orNull(a string) string {
	if a == "" {
		return "<>"
	}
	return a
}

func (s *session) cmdRset(arg string) reply.Reply {
	if strings.TrimSpace(arg) != "" {
		return reply.New(501, "5.5.4", "Syntax: RSET")
	}
	s.resetTransaction()
	return reply.New(250, "2.0.0", "Resetting")
}

func (s *session) cmdNoop(string) reply.Reply { return replyOK }

func (s *session) cmdQuit(string) reply.Reply {
	s.quit = true
	return reply.New(221, "2.0.0", "%s closing connection", s.l.FQDN)
}

// VRFY never lists users (harvesting, KB304897); RFC 5321 §3.5.3 allows 252.
func (s *session) cmdVrfy(arg string) reply.Reply {
	if strings.TrimSpace(arg) == "" {
		return reply.New(501, "5.5.4", "Syntax: VRFY address")
	}
	return reply.New(252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery")
}

func (s *session) cmdExpn(string) reply.Reply { return reply.New(502, "5.5.1", "EXPN not available") }

func (s *session) cmdHelp(string) reply.Reply {
	return reply.New(214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH")
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return s[len(prefix):], true
}
