package testkit

import (
	"bufio"
	"crypto/tls"
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
