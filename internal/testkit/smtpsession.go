package testkit

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// SMTPSession is one connection to a fake SMTP server, as a handler or a
// script sees it. It is an io.Reader and io.Writer on the connection
// (after STARTTLS, on the TLS layer), for the raw octets of XEXCH50 or a
// reply no real server would send; reads and writes have deadlines.
//
// Send, Line, Expect, Quiet, Data and StartTLS are for scripts: a
// failure is a test error, since a script asserts what the client does.
// ReadLine, Peek, Ask and XEXCH50 return what happened instead.
type SMTPSession struct {
	// N is the connection's number on its server: 1, 2, ...
	N int

	srv  *SMTPServer
	conn net.Conn
	br   *bufio.Reader
	tls  bool
	helo string
	tx   *SMTPMessage // the transaction after a 2xx to MAIL
}

func newSession(s *SMTPServer, c net.Conn, n int) *SMTPSession {
	return &SMTPSession{N: n, srv: s, conn: c, br: bufio.NewReader(c)}
}

// TLS reports whether the session runs over TLS (after STARTTLS).
func (s *SMTPSession) TLS() bool { return s.tls }

// Read reads from the client, raw.
func (s *SMTPSession) Read(p []byte) (int, error) {
	s.conn.SetReadDeadline(time.Now().Add(s.srv.o.Timeout))
	return s.br.Read(p)
}

// Write writes to the client, raw.
func (s *SMTPSession) Write(p []byte) (int, error) {
	s.conn.SetWriteDeadline(time.Now().Add(s.srv.o.Timeout))
	return s.conn.Write(p)
}

// ReadLine reads one line from the client, without its line end (CRLF,
// or a bare LF, as a lenient server takes it), and records it with the
// server's commands.
func (s *SMTPSession) ReadLine() (string, error) {
	l, err := s.rawLine()
	if err != nil {
		return l, err
	}
	l = strings.TrimRight(l, "\r\n")
	s.srv.record(l)
	return l, nil
}

// rawLine reads one line with its line end.
func (s *SMTPSession) rawLine() (string, error) {
	s.conn.SetReadDeadline(time.Now().Add(s.srv.o.Timeout))
	return s.br.ReadString('\n')
}

// Peek returns the next n octets from the client without reading them.
func (s *SMTPSession) Peek(n int) ([]byte, error) {
	s.conn.SetReadDeadline(time.Now().Add(s.srv.o.Timeout))
	return s.br.Peek(n)
}

// reply sends a reply's text (see [Reply]).
func (s *SMTPSession) reply(text string) error {
	_, err := io.WriteString(s, formatReply(text))
	return err
}

// startTLS makes the server's side of the handshake; on success the
// session goes on over TLS and, as RFC 3207 §4.2 has it, forgets the
// EHLO and the transaction.
func (s *SMTPSession) startTLS(cfg *tls.Config) error {
	tc := tls.Server(s.conn, cfg)
	tc.SetDeadline(time.Now().Add(s.srv.o.Timeout))
	if err := tc.Handshake(); err != nil {
		return err
	}
	s.conn, s.br, s.tls = tc, bufio.NewReader(tc), true
	s.helo, s.tx = "", nil
	return nil
}

// Ask sends challenge as a reply and reads the client's answer line (as
// in an AUTH or X-EXPS LOGIN exchange, RFC 4954 §4); the answer is
// recorded with the commands. It reports false when the client is gone.
func (s *SMTPSession) Ask(challenge string) (string, bool) {
	if s.reply(challenge) != nil {
		return "", false
	}
	l, err := s.ReadLine()
	return l, err == nil
}

// XEXCH50 plays the server's side of "XEXCH50 <size> <flag>" (line is
// the command): 354, then exactly size octets of binary data, which the
// server keeps ([SMTPServer.Blobs]), then the returned 250 reply. A
// malformed command gets 501; a client gone mid-blob, a hang-up.
func (s *SMTPSession) XEXCH50(line string) Reply {
	f := strings.Fields(line)
	n, err := -1, error(nil)
	if len(f) == 3 {
		n, err = strconv.Atoi(f[1])
	}
	if err != nil || n < 0 || n > 1<<20 {
		return Reply{Text: "501 5.5.4 Syntax: XEXCH50 <size> <flag>"}
	}
	if s.reply("354 Send binary data") != nil {
		return Reply{Hangup: true}
	}
	blob := make([]byte, n)
	if _, err := io.ReadFull(s, blob); err != nil {
		return Reply{Hangup: true}
	}
	s.srv.mu.Lock()
	s.srv.blobs = append(s.srv.blobs, blob)
	s.srv.mu.Unlock()
	return Reply{Text: "250 2.0.0 XEXCH50 OK"}
}

// ---- for scripts ---------------------------------------------------------

// Send writes each line with CRLF, exactly as given.
func (s *SMTPSession) Send(lines ...string) {
	for _, l := range lines {
		if _, err := io.WriteString(s, l+"\r\n"); err != nil {
			s.srv.t.Errorf("server: write %q: %v", l, err)
			return
		}
	}
}

// Line reads one line from the client ("" and a test error on failure)
// and removes its CRLF. Only a CRLF: a line that ends otherwise keeps
// its end, so that Expect catches a client sending a bare LF (RFC 5321
// §2.3.8).
func (s *SMTPSession) Line() string {
	l, err := s.rawLine()
	if err != nil {
		s.srv.t.Errorf("server: reading a line: %v (got %q)", err, l)
		return ""
	}
	l = strings.TrimSuffix(l, "\r\n")
	s.srv.record(l)
	return l
}

// Expect reads one line and checks that it is want, exactly.
func (s *SMTPSession) Expect(want string) string {
	s.srv.t.Helper()
	got := s.Line()
	if got != want {
		s.srv.t.Errorf("server: got %q, want %q", got, want)
	}
	return got
}

// Quiet checks that the client sends nothing for d: it is waiting for
// the server's reply.
func (s *SMTPSession) Quiet(d time.Duration) {
	s.srv.t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(d))
	if _, err := s.br.Peek(1); err == nil {
		b, _ := s.br.Peek(s.br.Buffered())
		s.srv.t.Errorf("server: client sent %q before our reply", b)
	}
}

// Data reads a message's content up to the final "." line, which it
// leaves out, raw: still dot-stuffed, with the client's line ends.
func (s *SMTPSession) Data() string {
	var b strings.Builder
	for range smtpMaxLines {
		l, err := s.rawLine()
		if err != nil {
			s.srv.t.Errorf("server: reading data: %v", err)
			return b.String()
		}
		if l == ".\r\n" {
			return b.String()
		}
		b.WriteString(l)
	}
	s.srv.t.Error("server: data too long")
	return b.String()
}

// StartTLS makes the server's side of a TLS handshake (after the script
// has sent its 220) and reports whether it succeeded; a failure is a
// test error.
func (s *SMTPSession) StartTLS(cfg *tls.Config) bool {
	if err := s.startTLS(cfg); err != nil {
		s.srv.t.Errorf("server: TLS handshake: %v", err)
		return false
	}
	return true
}

// ---- the command loop ------------------------------------------------------

// serve greets and answers commands until QUIT, a hang-up or the end of
// the connection.
func (s *SMTPSession) serve() {
	var g Reply
	if s.srv.o.Greeting != nil {
		g = s.srv.o.Greeting(s.N)
	}
	if !s.send(g, "220 "+s.srv.Name+" ESMTP fake") {
		return
	}
	for range smtpMaxCommands {
		line, err := s.ReadLine()
		if err != nil {
			return
		}
		verb := SMTPVerb(line)
		r := s.ask(verb, line)
		if r.Text == "" && !r.Hangup {
			r.Text = s.defaultReply(verb, line)
		}
		if r.StartTLS == nil && verb == "STARTTLS" && s.srv.o.TLS != nil && !s.tls && code(r.Text) == 220 {
			r.StartTLS = s.srv.o.TLS
		}
		if !s.send(r, r.Text) {
			return
		}
		switch c := code(r.Text); verb {
		case "EHLO", "HELO":
			s.helo = strings.TrimSpace(line[4:])
		case "MAIL":
			s.tx = nil
			if c/100 == 2 {
				s.tx = &SMTPMessage{Helo: s.helo, MailLine: line}
			}
		case "RCPT":
			if c/100 == 2 && s.tx != nil {
				s.tx.RcptLines = append(s.tx.RcptLines, line)
			}
		case "DATA":
			if c != 354 {
				s.tx = nil
			} else if !s.content() {
				return
			}
		case "RSET":
			s.tx = nil
		case "QUIT":
			return
		}
		if r.StartTLS != nil {
			if s.startTLS(r.StartTLS) != nil {
				return
			}
		}
	}
}

// ask asks the handler, if any, about one command.
func (s *SMTPSession) ask(verb, line string) Reply {
	if h := s.srv.handler(); h != nil {
		return h(s, verb, line)
	}
	return Reply{}
}

// send waits r's delay, then hangs up or sends r's text (def when it is
// empty); it reports whether the session goes on.
func (s *SMTPSession) send(r Reply, def string) bool {
	if r.Delay > 0 {
		time.Sleep(r.Delay)
	}
	if r.Hangup {
		return false
	}
	if r.Text == "" {
		r.Text = def
	}
	return s.reply(r.Text) == nil
}

// defaultReply is the answer of a server that takes everything.
func (s *SMTPSession) defaultReply(verb, line string) string {
	switch verb {
	case "EHLO":
		lines := []string{"250 " + s.srv.Name + " greets " + strings.TrimSpace(line[4:])}
		for _, e := range s.srv.extensions() {
			lines = append(lines, "250 "+e)
		}
		if s.srv.o.TLS != nil && !s.tls {
			lines = append(lines, "250 STARTTLS")
		}
		return strings.Join(lines, "\n")
	case "HELO":
		return "250 " + s.srv.Name
	case "MAIL":
		return "250 2.1.0 Ok"
	case "RCPT":
		if s.tx == nil {
			return "503 5.5.1 Error: need MAIL command"
		}
		return "250 2.1.5 Ok"
	case "DATA":
		if s.tx == nil || len(s.tx.RcptLines) == 0 {
			return "554 5.5.1 Error: no valid recipients"
		}
		return "354 End data with <CR><LF>.<CR><LF>"
	case "STARTTLS":
		if s.srv.o.TLS != nil && !s.tls {
			return "220 2.0.0 Ready to start TLS"
		}
	case "RSET", "NOOP":
		return "250 2.0.0 Ok"
	case "QUIT":
		return "221 2.0.0 Bye"
	}
	return fmt.Sprintf("502 5.5.2 Error: command %q not recognized", verb)
}

// content reads a message after 354, asks about "DOT" (after the
// answer's Delay), records the message on a 2xx and replies; it reports
// whether the session goes on.
func (s *SMTPSession) content() bool {
	var data strings.Builder
	for n := 0; ; n++ {
		l, err := s.rawLine()
		if err != nil || n > smtpMaxLines {
			return false
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "." {
			break
		}
		data.WriteString(strings.TrimPrefix(l, ".") + "\r\n")
	}
	r := s.ask("DOT", "")
	if r.Delay > 0 {
		time.Sleep(r.Delay)
	}
	if r.Hangup {
		return false
	}
	if r.Text == "" {
		r.Text = "250 2.0.0 Ok: queued as FAKE"
	}
	// Like a real MTA: committed before the reply is sent, whether or
	// not the client is still there to read it.
	if code(r.Text)/100 == 2 {
		m := SMTPMessage{Helo: s.helo}
		if s.tx != nil {
			m = *s.tx
		}
		m.Data, m.At = data.String(), time.Now()
		s.srv.mu.Lock()
		s.srv.msgs = append(s.srv.msgs, m)
		s.srv.mu.Unlock()
	}
	s.tx = nil
	return s.reply(r.Text) == nil
}
