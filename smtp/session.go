package smtp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"mailward/address"
	"mailward/events"
	"mailward/queue"
)

// session is one SMTP conversation.
type session struct {
	srv  *Server
	ctx  context.Context
	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	ip   netip.Addr

	tls      bool
	helo     string
	esmtp    bool
	authUser string
	orgPeer  string // the organization server authenticated with X-EXPS
	errors   int
	unknown  int // unknown recipients so far (tarpit grows with it)
	quit     bool
	// panics lets a fuzz test see a panic instead of the recovery below.
	panics bool

	// The mail transaction (RFC 5321 §3.3); nil env means none.
	env      *queue.Envelope
	rcptSeen map[string]bool
	utf8     bool
}

var (
	errLineTooLong = errors.New("line too long")
	errClosed      = errors.New("session closed")
)

func newSession(ctx context.Context, srv *Server, c net.Conn, ip netip.Addr) *session {
	return &session{srv: srv, ctx: ctx, conn: c, ip: ip,
		br: bufio.NewReaderSize(deadlineReader{c, srv.l.IdleTimeout.Duration}, 16<<10),
		bw: bufio.NewWriterSize(c, 4<<10)}
}

// verbFunc handles one command; arg is the text after the verb.
type verbFunc func(s *session, arg string)

func (s *session) run() {
	defer s.conn.Close()
	defer func() {
		// No input may crash the server; a bug here ends one session.
		if s.panics {
			return
		}
		if r := recover(); r != nil {
			s.srv.log.Error("smtp: session panic", "ip", s.ip, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	// The date in the greeting, as Exchange and sendmail give it, lets a
	// peer check the clocks (mailward diag clock; Kerberos allows 5 min).
	s.reply("220 %s ESMTP mailward ready at %s", s.srv.l.FQDN, time.Now().UTC().Format(time.RFC1123Z))
	for !s.quit {
		line, err := s.readLine(s.srv.l.MaxLineLength)
		if err == errLineTooLong {
			s.fail("500 5.5.2 Line too long (limit %d octets, RFC 5321 section 4.5.3.1.4)", s.srv.l.MaxLineLength)
			continue
		}
		if err != nil {
			s.readFailed(err)
			return
		}
		s.dispatch(line)
	}
	s.flush()
}

// readFailed closes a session whose read failed, saying why when the
// client is still there to hear it.
func (s *session) readFailed(err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		s.srv.ev.Emit(events.IdleTimeout, "ip", s.ip, "connector", s.srv.l.Name, "timeout", s.srv.l.IdleTimeout.Duration)
		s.reply("421 4.4.2 %s Idle timeout, closing connection", s.srv.l.FQDN)
		s.flush()
	}
	if s.env != nil && s.ctx.Err() == nil && !errors.Is(err, io.EOF) && (ne == nil || !ne.Timeout()) {
		s.srv.log.Debug("smtp: read failed", "ip", s.ip, "err", err)
	}
}

func (s *session) dispatch(line string) {
	if strings.IndexByte(line, 0) >= 0 {
		s.fail("500 5.5.2 Syntax error: NUL byte in command")
		return
	}
	verb, arg, _ := strings.Cut(line, " ")
	verb = strings.ToUpper(verb)
	h, ok := s.srv.verbs[verb]
	if !ok {
		// A browser or proxy talking to the SMTP port: stop at once,
		// as Postfix does, rather than answer every header line.
		if verb == "GET" || verb == "POST" || verb == "CONNECT" || strings.HasSuffix(verb, ":") {
			s.reply("421 4.7.0 %s This is an SMTP server, closing connection", s.srv.l.FQDN)
			s.quit = true
			return
		}
		s.fail("500 5.5.2 Command unrecognized")
		return
	}
	h(s, arg)
}

// readLine reads one CRLF- (or LF-) terminated command line of at most
// max octets including the line end. A longer line is consumed to its
// end and reported as errLineTooLong, so the session stays in step.
func (s *session) readLine(max int) (string, error) {
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
		return "", errLineTooLong
	}
	buf = buf[:len(buf)-1]
	if n := len(buf); n > 0 && buf[n-1] == '\r' {
		buf = buf[:n-1]
	}
	return string(buf), nil
}

// reply queues one reply line; it is sent before the next read. Client
// text echoed in a reply can never break the reply into two lines.
func (s *session) reply(format string, a ...any) {
	s.bw.WriteString(oneLine(fmt.Sprintf(format, a...)))
	s.bw.WriteString("\r\n")
}

func oneLine(v string) string {
	if !strings.ContainsAny(v, "\r\n") {
		return v
	}
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return '?'
		}
		return r
	}, v)
}

// replyLines sends a multi-line reply (RFC 5321 §4.2.1).
func (s *session) replyLines(code int, lines []string) {
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		fmt.Fprintf(s.bw, "%d%s%s\r\n", code, sep, oneLine(l))
	}
}

func (s *session) flush() error {
	if s.bw.Buffered() == 0 {
		return nil
	}
	s.conn.SetWriteDeadline(time.Now().Add(s.srv.l.IdleTimeout.Duration))
	return s.bw.Flush()
}

// fail sends an error reply and counts it; past max_errors the session
// ends with 421 (RFC 5321 §4.2.2 permits closing after 421).
func (s *session) fail(format string, a ...any) {
	s.reply(format, a...)
	s.errors++
	if s.errors >= s.srv.l.MaxErrors {
		s.srv.ev.Emit(events.ErrorLimit, "ip", s.ip, "connector", s.srv.l.Name, "errors", s.errors)
		s.reply("421 4.7.0 %s Too many errors, closing connection", s.srv.l.FQDN)
		s.quit = true
	}
}

// sleep waits (tarpit, auth delay) after sending what is queued, so the
// client sees every earlier answer on time.
func (s *session) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	s.flush()
	s.srv.opt.Sleep(s.ctx, d)
}

// resetTransaction forgets MAIL and RCPT (RSET, after DATA, STARTTLS).
func (s *session) resetTransaction() {
	s.env, s.rcptSeen, s.utf8 = nil, nil, false
}

// qualify applies the default domain (seed 004).
func (s *session) qualify(a address.Address) address.Address {
	return s.srv.opt.Policy.Qualify(a)
}

func (s *session) user() string {
	if s.authUser == "" {
		return "(none)"
	}
	return s.authUser
}
