package testkit

// The one fake SMTP server of the tests. It plays a next hop for remote
// delivery, an organization peer, a relay-tester target that misbehaves,
// or, with a script, the server side of one exchange line by line. Every
// read and write has a deadline, the numbers of connections and commands
// are bounded, and Close waits a bounded time.

import (
	"crypto/tls"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// SMTP describes a fake SMTP server for [StartSMTP]. The zero value is a
// sink on 127.0.0.1: it greets, answers EHLO with [DefaultExtensions],
// takes every message and records it.
type SMTP struct {
	// Addr is where to listen ("127.0.0.2:0", "127.0.0.3:2525"); "" is
	// a free port on 127.0.0.1.
	Addr string
	// Listener, when set, is served instead of listening on Addr (one
	// of [ListenSamePort]'s).
	Listener net.Listener
	// Name is the server's name in the default greeting and EHLO reply;
	// "" is "fake.test".
	Name string
	// Extensions are the EHLO keywords; nil is DefaultExtensions.
	Extensions []string
	// Greeting decides the greeting of connection n (1, 2, ...); nil is
	// "220 <Name> ESMTP fake". [Greet] makes one for a fixed text.
	Greeting func(n int) Reply
	// Handle is asked first about every command; see [SMTPHandler].
	Handle SMTPHandler
	// TLS, when set, adds STARTTLS to the extensions (before TLS only)
	// and answers STARTTLS with 220 and a handshake with this
	// configuration (RFC 3207). Without it STARTTLS is not recognized.
	TLS *tls.Config
	// Script, when set, replaces all of the above: it plays the server's
	// side of each connection (greeting included) with [SMTPSession]'s
	// Send, Expect, Data, StartTLS ..., and the connection is closed when
	// it returns. It is for testing a client's exact lines and its
	// handling of replies no real server sends. Close waits for running
	// scripts (they assert) before it drops their connections.
	Script func(s *SMTPSession)
	// Timeout bounds every read and write; 0 is 30 s.
	Timeout time.Duration
}

// SMTPHandler decides the reply to one command before the server's
// default: verb is the command's first word in upper case, up to a space
// or colon ("EHLO", "MAIL", "X-EXPS"), or "DOT" for the end of a
// message's content (line is then ""); line is the command line without
// CRLF. A Reply with Text "" keeps the default reply (after its Delay).
//
// Whichever reply is sent, the server keeps the transaction as a real one
// does: a 2xx to MAIL starts it, a 2xx to RCPT adds the recipient, a 354
// to DATA makes it read the content (then ask about "DOT"), a 2xx to DOT
// records the message, RSET ends the transaction and QUIT the connection.
type SMTPHandler func(s *SMTPSession, verb, line string) Reply

// Reply is a fake server's answer to a command or a greeting.
type Reply struct {
	// Text is the reply; "\n" separates the lines of a multi-line reply,
	// which are sent with "-" after the code on all but the last line
	// ("250 a\n250 b" goes out as "250-a" and "250 b"). "" is the default.
	Text string
	// Delay is waited before the reply (a tarpit) or the hang-up.
	Delay time.Duration
	// Hangup closes the connection instead of replying.
	Hangup bool
	// StartTLS, when set, makes the server's side of a TLS handshake with
	// this configuration right after the reply (RFC 3207 §4).
	StartTLS *tls.Config
}

// Greet is a greeting function for [SMTP]: every connection is greeted
// with text.
func Greet(text string) func(int) Reply {
	return func(int) Reply { return Reply{Text: text} }
}

// DefaultExtensions are the EHLO keywords of a fake by default: those of
// a plain Postfix, without CHUNKING; a fake that should take BDAT lists
// "CHUNKING" among its Extensions (smtpbdat.go).
var DefaultExtensions = []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "DSN", "SIZE 10240000"}

// SMTPMessage is one message a fake accepted (a 2xx to the end of data).
type SMTPMessage struct {
	Helo      string    // the EHLO or HELO argument
	MailLine  string    // "MAIL FROM:<a@b> RET=HDRS ..."
	RcptLines []string  // the accepted RCPT lines
	Data      string    // the content, dot-unstuffed, with CRLF line ends (BDAT: the chunks' octets)
	Chunks    int       // the BDAT chunks it came in (RFC 3030); 0 when it came with DATA
	At        time.Time // when it was accepted
}

// MessageID returns the content's Message-ID field.
func (m SMTPMessage) MessageID() string { return m.header("Message-ID") }

// Subject returns the content's Subject field.
func (m SMTPMessage) Subject() string { return m.header("Subject") }

func (m SMTPMessage) header(name string) string {
	msg, err := mail.ReadMessage(strings.NewReader(m.Data))
	if err != nil {
		return ""
	}
	return msg.Header.Get(name)
}

// Bounds of a fake server.
const (
	smtpTimeout     = 30 * time.Second // one read or write, by default
	smtpMaxConns    = 10000            // connections accepted
	smtpMaxCommands = 10000            // commands in one connection
	smtpMaxLines    = 1_000_000        // lines of one message's content
	smtpCloseWait   = 5 * time.Second  // Close, for sessions to end after their connections are dropped
	smtpScriptWait  = 20 * time.Second // Close, for scripts to finish on their own
)

// SMTPServer is a running fake SMTP server.
type SMTPServer struct {
	// Addr is the address it listens on (ip:port).
	Addr string
	// Name is its name in the default greeting and EHLO reply.
	Name string

	t   testing.TB
	o   SMTP
	ln  net.Listener
	wg  sync.WaitGroup
	run sync.WaitGroup // running scripts

	mu      sync.Mutex
	handle  SMTPHandler
	ext     []string
	cmds    []string
	msgs    []SMTPMessage
	blobs   [][]byte
	open    int
	total   int
	conns   map[net.Conn]bool
	closing bool
}

// StartSMTP starts a fake SMTP server as o describes; it is closed when
// the test ends.
func StartSMTP(t testing.TB, o SMTP) *SMTPServer {
	t.Helper()
	ln := o.Listener
	if ln == nil {
		addr := o.Addr
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			t.Fatalf("fake SMTP server on %s: %v", addr, err)
		}
	}
	if o.Name == "" {
		o.Name = "fake.test"
	}
	if o.Timeout <= 0 {
		o.Timeout = smtpTimeout
	}
	ext := o.Extensions
	if ext == nil {
		ext = DefaultExtensions
	}
	s := &SMTPServer{Addr: ln.Addr().String(), Name: o.Name, t: t, o: o, ln: ln, handle: o.Handle,
		ext: append([]string(nil), ext...), conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// Port returns the port it listens on.
func (s *SMTPServer) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// SetHandler replaces the handler (nil: the defaults only), for the
// commands from now on.
func (s *SMTPServer) SetHandler(h SMTPHandler) {
	s.mu.Lock()
	s.handle = h
	s.mu.Unlock()
}

// SetExtensions replaces the EHLO keywords.
func (s *SMTPServer) SetExtensions(ext ...string) {
	s.mu.Lock()
	s.ext = append([]string(nil), ext...)
	s.mu.Unlock()
}

// Commands returns every command line received so far, in order (and
// the lines a handler read with [SMTPSession.Ask]).
func (s *SMTPServer) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}

// CountCommands counts the commands that start with verb ("MAIL"),
// without regard to case.
func (s *SMTPServer) CountCommands(verb string) int {
	n := 0
	for _, c := range s.Commands() {
		if strings.HasPrefix(strings.ToUpper(c), strings.ToUpper(verb)) {
			n++
		}
	}
	return n
}

// Messages returns the messages accepted so far.
func (s *SMTPServer) Messages() []SMTPMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SMTPMessage(nil), s.msgs...)
}

// Count returns the number of messages accepted so far.
func (s *SMTPServer) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// Blobs returns the XEXCH50 blobs received by [SMTPSession.XEXCH50].
func (s *SMTPServer) Blobs() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.blobs...)
}

// Open returns the number of connections open now.
func (s *SMTPServer) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open
}

// Total returns the number of connections accepted so far.
func (s *SMTPServer) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// Close stops listening; it lets running scripts finish (a script that
// has not within 20 s fails the test), drops every connection and waits
// at most 5 s for the sessions to end. It runs when the test ends.
func (s *SMTPServer) Close() {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.closing = true
	s.mu.Unlock()
	s.ln.Close()
	if s.o.Script != nil && !WaitGroup(&s.run, smtpScriptWait) {
		s.t.Errorf("fake SMTP server %s: a script did not finish within %v", s.Addr, smtpScriptWait)
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	if !WaitGroup(&s.wg, smtpCloseWait) {
		s.t.Logf("fake SMTP server %s: sessions still running %v after Close", s.Addr, smtpCloseWait)
	}
}

func (s *SMTPServer) accept() {
	defer s.wg.Done()
	for range smtpMaxConns {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.open++
		s.total++
		n := s.total
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		if s.o.Script != nil {
			s.run.Add(1)
		}
		go func() {
			defer s.wg.Done()
			ss := newSession(s, c, n)
			if s.o.Script != nil {
				func() {
					defer s.run.Done()
					s.o.Script(ss)
				}()
			} else {
				ss.serve()
			}
			ss.conn.Close()
			s.mu.Lock()
			s.open--
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

func (s *SMTPServer) record(cmd string) {
	s.mu.Lock()
	s.cmds = append(s.cmds, cmd)
	s.mu.Unlock()
}

func (s *SMTPServer) handler() SMTPHandler {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handle
}

func (s *SMTPServer) extensions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ext...)
}

// formatReply renders a Reply's text for the wire: CRLF line ends, "-"
// after the code on every line but the last.
func formatReply(text string) string {
	lines := strings.Split(text, "\n")
	var b strings.Builder
	for i, l := range lines {
		if i < len(lines)-1 {
			switch {
			case len(l) == 3:
				l += "-"
			case len(l) > 3 && l[3] == ' ':
				l = l[:3] + "-" + l[4:]
			}
		}
		b.WriteString(l + "\r\n")
	}
	return b.String()
}

// SMTPVerb is a command line's verb as a handler gets it: its first
// word in upper case, up to a space or a colon ("MAIL FROM:<a@b>" is
// MAIL).
func SMTPVerb(line string) string {
	v := strings.ToUpper(line)
	if i := strings.IndexAny(v, " :"); i >= 0 {
		v = v[:i]
	}
	return v
}

// code is a reply's code, 0 if it has none.
func code(text string) int {
	if len(text) < 3 {
		return 0
	}
	n, err := strconv.Atoi(text[:3])
	if err != nil {
		return 0
	}
	return n
}
