package smtp

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"mailward/address"
	"mailward/events"
	"mailward/filter"
	"mailward/protolog"
	"mailward/queue"
	"mailward/reply"
)

// session is one SMTP conversation.
type session struct {
	srv *Server
	// opt and l are the virtual server's options and settings as they
	// were when the client connected: a reload (Server.Update) gives
	// them to later sessions only, so that no conversation changes its
	// rules half-way (docs/configuration.md, "Reloading").
	opt  *Options
	l    *Settings
	log  *slog.Logger
	ctx  context.Context
	conn net.Conn
	rd   *clientReader
	br   *bufio.Reader
	bw   *bufio.Writer
	ip   netip.Addr

	tls      bool
	helo     string
	esmtp    bool
	authUser string
	orgPeer  string // the organization server authenticated with X-EXPS
	errors   int
	commands int
	verb     string // the command being answered (for the metrics)
	unknown  int    // unknown recipients so far (tarpit grows with it)
	quit     bool

	// The connection filter's lookups, started at connect (nil: none),
	// and whether a failed one was reported (fail_open: once).
	dnsbl      *filter.Check
	dnsblNoted bool
	// drop is the sender filter's pattern when the transaction is
	// accepted and discarded (action "drop").
	drop string
	// propsLost: an XEXCH50 of this transaction was refused (504), so
	// the sender's SCL is lost and the message is scanned again.
	propsLost bool

	// The mail transaction (RFC 5321 §3.3); nil env means none.
	env      *queue.Envelope
	rcptSeen map[string]bool
	rcpts    int // RCPTs accepted in the transaction, duplicates included
	utf8     bool
	bdat     *bdatState // the chunks received so far (BDAT, RFC 3030)

	// plog is the protocol log (nil: off for this virtual server).
	plog *protolog.Session

	// mu guards closing and the replacement of rd, which the server's
	// drain reads from its own goroutine.
	mu      sync.Mutex
	closing bool
}

var errLineTooLong = errors.New("line too long")

func newSession(ctx context.Context, srv *Server, cur *current, c net.Conn, ip netip.Addr) *session {
	rd := &clientReader{c: c}
	l := &cur.opt.Settings
	if l.MaxSessionTime > 0 {
		rd.end = time.Now().Add(l.MaxSessionTime)
	}
	return &session{srv: srv, opt: &cur.opt, l: l, log: cur.log, ctx: ctx, conn: c, ip: ip, rd: rd,
		br:   bufio.NewReaderSize(rd, 16<<10),
		bw:   bufio.NewWriterSize(c, 4<<10),
		plog: cur.opt.ProtocolLog.Session(protolog.Server, c.RemoteAddr().String(), "virtual server "+l.Name)}
}

// verbFunc handles one command; arg is the text after the verb. It
// returns the reply to send; the zero Reply when it has already ended
// the exchange itself (the connection is gone).
type verbFunc func(s *session, arg string) reply.Reply

func (s *session) run() {
	defer s.plog.Close("")
	defer s.conn.Close()
	defer s.abortChunks() // a transaction cut off leaves no spool file
	defer func() {
		// No input may crash the server; a bug here ends one session.
		if r := recover(); r != nil {
			s.log.Error("smtp: session panic", "ip", s.ip, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	if !s.connectFilter() {
		return
	}
	// The date in the greeting, as Exchange and sendmail give it, lets a
	// peer check the clocks (mailward diag clock; Kerberos allows 5 min).
	s.send(reply.New(220, "", "%s ESMTP mailward ready at %s", s.l.FQDN, time.Now().UTC().Format(time.RFC1123Z)))
	for !s.quit {
		if r := s.sessionLimits(); !r.IsZero() {
			s.send(r)
			break
		}
		line, err := s.readLine(s.l.MaxLineLength)
		if err == errLineTooLong {
			s.send(reply.New(500, "5.5.2", "Line too long (limit %d octets, RFC 5321 section 4.5.3.1.4)", s.l.MaxLineLength))
			continue
		}
		if err != nil {
			s.readFailed(err)
			return
		}
		s.commands++
		s.send(s.dispatch(line))
	}
	s.flush()
}

// sessionLimits ends a session that has run too long or sent too many
// commands, each with its own 421 and event: a client may not keep a
// connection slot however slowly or busily it talks.
func (s *session) sessionLimits() reply.Reply {
	l := s.l
	switch {
	case s.rd.sessionOver(time.Now()):
		s.srv.ev.Emit(events.SessionTimeLimit, "ip", s.ip, "virtual_server", l.Name, "limit", l.MaxSessionTime)
		return reply.New(421, "4.4.2", "%s Session time limit (%s) exceeded, closing connection", l.FQDN, l.MaxSessionTime)
	case l.MaxCommands > 0 && s.commands >= l.MaxCommands:
		s.srv.ev.Emit(events.CommandLimit, "ip", s.ip, "virtual_server", l.Name, "limit", l.MaxCommands)
		return reply.New(421, "4.4.2", "%s Too many commands (%d) in one session, closing connection", l.FQDN, l.MaxCommands)
	}
	return reply.Reply{}
}

// send queues a reply; it goes out before the next read. It is the one
// place where replies are written and where errors are counted:
//   - every permanent negative reply (5xx) is a client error and counts
//     toward max_errors; past it the session ends with 421 (RFC 5321
//     §4.2.2 permits closing after 421);
//   - a temporary one (4xx) is this server's condition or limit (the
//     directory is down, the disk is full, too many recipients) and does
//     not count: the client did nothing wrong;
//   - a 421 ends the session (RFC 5321 §3.8).
func (s *session) send(r reply.Reply) {
	if r.IsZero() {
		return
	}
	w := r.Wire()
	s.bw.Write(w)
	s.plog.Reply(r.Code, w)
	if r.Code >= 400 && r.Code != 421 && s.opt.Metrics != nil {
		switch s.verb {
		case "MAIL", "RCPT", "DATA", "BDAT":
			// A 421 ends the session rather than refuse a message;
			// the error limit's own 421 comes through here again.
			s.opt.Metrics.Refused(s.l.Name, s.verb, r.EnhancedStatus())
		}
	}
	switch {
	case r.Code == 421:
		s.quit = true
	case r.Permanent():
		s.errors++
		if s.errors >= s.l.MaxErrors {
			s.srv.ev.Emit(events.ErrorLimit, "ip", s.ip, "virtual_server", s.l.Name, "errors", s.errors)
			s.send(reply.New(421, "4.7.0", "%s Too many errors, closing connection", s.l.FQDN))
		}
	}
}

// readFailed closes a session whose read failed, saying why when the
// client is still there to hear it.
func (s *session) readFailed(err error) {
	var ne net.Error
	if err == errShuttingDown || (errors.As(err, &ne) && ne.Timeout() && s.draining()) {
		s.send(s.shutdownReply())
		s.flush()
		return
	}
	if errors.As(err, &ne) && ne.Timeout() {
		if r := s.sessionLimits(); !r.IsZero() {
			s.send(r)
		} else {
			s.srv.ev.Emit(events.IdleTimeout, "ip", s.ip, "virtual_server", s.l.Name, "timeout", s.idle())
			s.send(reply.New(421, "4.4.2", "%s Idle timeout, closing connection", s.l.FQDN))
		}
		s.flush()
	}
	if s.env != nil && s.ctx.Err() == nil && !errors.Is(err, io.EOF) && (ne == nil || !ne.Timeout()) {
		s.log.Debug("smtp: read failed", "ip", s.ip, "err", err)
	}
}

func (s *session) dispatch(line string) reply.Reply {
	if strings.IndexByte(line, 0) >= 0 {
		return reply.New(500, "5.5.2", "Syntax error: NUL byte in command")
	}
	verb, arg, _ := strings.Cut(line, " ")
	verb = strings.ToUpper(verb)
	s.verb = verb
	if r := s.refusedDuringChunks(verb); !r.IsZero() {
		return r
	}
	h, ok := s.srv.verbs[verb]
	if !ok {
		// A browser or proxy talking to the SMTP port: stop at once,
		// as Postfix does, rather than answer every header line.
		if verb == "GET" || verb == "POST" || verb == "CONNECT" || strings.HasSuffix(verb, ":") {
			return reply.New(421, "4.7.0", "%s This is an SMTP server, closing connection", s.l.FQDN)
		}
		return reply.New(500, "5.5.2", "Command unrecognized")
	}
	return h(s, arg)
}

// readLine reads one CRLF- (or LF-) terminated command line of at most
// max octets including the line end. A longer line is consumed to its
// end and reported as errLineTooLong, so the session stays in step.
func (s *session) readLine(max int) (string, error) {
	s.mu.Lock()
	closing := s.closing
	if !closing {
		s.rd.lineDeadline(s.idle())
	}
	s.mu.Unlock()
	if closing {
		return "", errShuttingDown
	}
	if s.br.Buffered() == 0 {
		// PIPELINING (RFC 2920 §3.2): answers are sent when the client
		// has nothing more queued, so a pipelined group costs one write.
		if err := s.flush(); err != nil {
			return "", err
		}
	}
	var buf []byte
	tooLong := false
	for {
		chunk, err := s.br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > max {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		break
	}
	if tooLong {
		s.plog.Note("line too long, not logged")
		return "", errLineTooLong
	}
	buf = buf[:len(buf)-1]
	if n := len(buf); n > 0 && buf[n-1] == '\r' {
		buf = buf[:n-1]
	}
	line := string(buf)
	s.plog.Command(line)
	return line, nil
}

func (s *session) flush() error {
	if s.bw.Buffered() == 0 {
		return nil
	}
	s.conn.SetWriteDeadline(time.Now().Add(s.idle()))
	return s.bw.Flush()
}

// sleep waits (tarpit, auth delay) after sending what is queued, so the
// client sees every earlier answer on time.
func (s *session) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	s.flush()
	s.opt.Sleep(s.ctx, d)
}

// resetTransaction forgets MAIL, RCPT and BDAT's chunks (RSET, after
// DATA, STARTTLS).
func (s *session) resetTransaction() {
	s.abortChunks()
	s.env, s.rcptSeen, s.rcpts, s.utf8, s.drop, s.propsLost = nil, nil, 0, false, "", false
}

// qualify applies the default domain (KB304897).
func (s *session) qualify(a address.Address) address.Address {
	return s.opt.Policy.Qualify(a)
}

// user is who the client authenticated as, for events: a user, or a
// server of the organization.
func (s *session) user() string {
	switch {
	case s.authUser != "":
		return s.authUser
	case s.orgPeer != "":
		return "organization server " + s.orgPeer
	}
	return "(none)"
}

// authenticated reports whether the client authenticated at all (AUTH,
// or X-EXPS as a server of the organization).
func (s *session) authenticated() bool { return s.authUser != "" || s.orgPeer != "" }
