package smtpclient

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"mailward/internal/certs"
	"mailward/reply"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// The tests in client*_test.go talk to a scripted fake server: each
// test's script plays the server's side of one connection, line by line,
// and checks what the client sent.

type fakeSession struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

// fakeServer accepts one connection on a loopback port and runs script
// on it. The test ends only after the script has.
func fakeServer(t *testing.T, script func(s *fakeSession)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(15 * time.Second))
		script(&fakeSession{t: t, conn: c, br: bufio.NewReader(c)})
	}()
	t.Cleanup(func() {
		ln.Close()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("fake server script did not finish")
		}
	})
	return ln.Addr().String()
}

func (s *fakeSession) send(lines ...string) {
	for _, l := range lines {
		if _, err := io.WriteString(s.conn, l+"\r\n"); err != nil {
			s.t.Errorf("server: write %q: %v", l, err)
			return
		}
	}
}

// line reads one line without its CRLF ("" and a test error on failure).
func (s *fakeSession) line() string {
	l, err := s.br.ReadString('\n')
	if err != nil {
		s.t.Errorf("server: reading a line: %v (got %q)", err, l)
		return ""
	}
	return strings.TrimSuffix(l, "\r\n")
}

// expect reads one line and checks it is want (case-sensitive, exact).
func (s *fakeSession) expect(want string) string {
	s.t.Helper()
	got := s.line()
	if got != want {
		s.t.Errorf("server: got %q, want %q", got, want)
	}
	return got
}

// quiet checks that the client sends nothing for d: it is waiting for
// our reply.
func (s *fakeSession) quiet(d time.Duration) {
	s.t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(d))
	_, err := s.br.Peek(1)
	if err == nil {
		s.t.Errorf("server: client sent %q before our reply", s.peekAll())
	}
	s.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
}

func (s *fakeSession) peekAll() string {
	b, _ := s.br.Peek(s.br.Buffered())
	return string(b)
}

// greet sends a greeting, expects EHLO and answers with ext.
func (s *fakeSession) greet(ext ...string) {
	s.send("220 fake.test ESMTP")
	s.expect("EHLO client.test")
	s.ehlo(ext...)
}

func (s *fakeSession) ehlo(ext ...string) {
	lines := append([]string{"fake.test hello"}, ext...)
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		s.send("250" + sep + l)
	}
}

// data reads the DATA section up to and excluding the final ".", raw
// (still dot-stuffed).
func (s *fakeSession) data() string {
	var b strings.Builder
	for i := 0; i < 10000; i++ {
		l, err := s.br.ReadString('\n')
		if err != nil {
			s.t.Errorf("server: reading data: %v", err)
			return b.String()
		}
		if l == ".\r\n" {
			return b.String()
		}
		b.WriteString(l)
	}
	s.t.Error("server: data too long")
	return b.String()
}

// startTLS upgrades the server side after it has replied 220.
func (s *fakeSession) startTLS(cfg *tls.Config) bool {
	tc := tls.Server(s.conn, cfg)
	if err := tc.Handshake(); err != nil {
		s.t.Errorf("server: TLS handshake: %v", err)
		return false
	}
	s.conn = tc
	s.br = bufio.NewReader(tc)
	return true
}

func opts() ClientOptions {
	return ClientOptions{
		HeloName: "client.test",
		TLS:      TLSNone,
		Timeouts: Timeouts{Connect: 5 * time.Second, Greeting: 5 * time.Second, Command: 5 * time.Second,
			DataInit: 5 * time.Second, DataBlock: 5 * time.Second, DataTerm: 5 * time.Second},
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustDial(t *testing.T, addr string, o ClientOptions) *Conn {
	t.Helper()
	c, err := Dial(testCtx(t), addr, "mx.example.test", o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	return c
}

func TestGreetingRefused(t *testing.T) {
	addr := fakeServer(t, func(s *fakeSession) {
		s.send("554-5.3.2 fake.test no service", "554 5.3.2 go away")
		s.expect("QUIT") // RFC 5321 §3.1
		s.send("221 2.0.0 bye")
	})
	_, err := Dial(testCtx(t), addr, "mx.example.test", opts())
	var re *ReplyError
	if !errors.As(err, &re) || re.Stage != "greeting" || re.Reply.Code != 554 || re.Reply.Status != "5.3.2" {
		t.Fatalf("err = %v, want a greeting ReplyError 554 5.3.2", err)
	}
	if want := "greeting: 554 5.3.2 fake.test no service; go away"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	if !re.Reply.Permanent() || re.Reply.Temporary() {
		t.Error("554 is permanent")
	}
}

func TestEHLOFallsBackToHELO(t *testing.T) {
	addr := fakeServer(t, func(s *fakeSession) {
		s.send("220 old.test SMTP")
		s.expect("EHLO client.test")
		s.send("502 5.5.1 command not recognized")
		s.expect("HELO client.test")
		s.send("250 old.test")
		s.expect("MAIL FROM:<a@b.test>") // no parameters after HELO
		s.send("250 ok")
		s.expect("RCPT TO:<c@d.test>")
		s.send("250 ok")
		s.expect("DATA")
		s.send("354 go")
		if got := s.data(); got != "hi\r\n" {
			t.Errorf("data %q", got)
		}
		s.send("250 queued")
		s.expect("QUIT")
		s.send("221 bye")
	})
	o := opts()
	o.TLS = TLSOpportunistic
	c := mustDial(t, addr, o)
	defer c.Close()
	if len(c.Extensions()) != 0 || c.TLS() {
		t.Errorf("after HELO: extensions %v, TLS %v", c.Extensions(), c.TLS())
	}
	if c.Greeting().String() != "220 old.test SMTP" || c.RemoteName() != "mx.example.test" {
		t.Errorf("greeting %q, remote %q", c.Greeting(), c.RemoteName())
	}
	if c.GreetingName() != "old.test" || c.HelloName() != "old.test" {
		t.Errorf("names from greeting %q and HELO %q, want old.test (remote delivery's loop check reads them)", c.GreetingName(), c.HelloName())
	}
	res, err := c.Send(testCtx(t), Envelope{From: "a@b.test", Recipients: []Rcpt{{Addr: "c@d.test", Notify: "NEVER"}},
		Size: 4, EightBit: true}, strings.NewReader("hi\r\n"))
	if err != nil || res.Data.Code != 250 {
		t.Fatalf("Send: %+v, %v", res, err)
	}
	c.Quit()
}

func TestEHLOTemporaryFailureIsNotFallback(t *testing.T) {
	addr := fakeServer(t, func(s *fakeSession) {
		s.send("220 busy.test ESMTP")
		s.expect("EHLO client.test")
		s.send("421 4.3.2 shutting down")
		s.expect("QUIT")
	})
	_, err := Dial(testCtx(t), addr, "mx.example.test", opts())
	var re *ReplyError
	if !errors.As(err, &re) || re.Stage != "EHLO" || !re.Reply.Temporary() {
		t.Fatalf("err = %v, want an EHLO ReplyError 421", err)
	}
}

func TestExtensionsParsed(t *testing.T) {
	addr := fakeServer(t, func(s *fakeSession) {
		s.greet("size 10240000", "AUTH PLAIN LOGIN", "PIPELINING", "")
		s.expect("QUIT")
		s.send("221 bye")
	})
	c := mustDial(t, addr, opts())
	ext := c.Extensions()
	if ext["SIZE"] != "10240000" || ext["AUTH"] != "PLAIN LOGIN" || len(ext) != 3 {
		t.Errorf("extensions %q", ext)
	}
	if c.GreetingName() != "fake.test" || c.HelloName() != "fake.test" {
		t.Errorf("names from greeting %q and EHLO %q, want fake.test", c.GreetingName(), c.HelloName())
	}
	if _, ok := ext["PIPELINING"]; !ok {
		t.Error("PIPELINING missing")
	}
	c.Quit()
}

func TestSTARTTLS(t *testing.T) {
	cert, pool, err := certs.NewSelfSigned("mx.example.test")
	if err != nil {
		t.Fatal(err)
	}
	sni := make(chan string, 1)
	srvTLS := &tls.Config{Certificates: []tls.Certificate{cert}, GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		sni <- h.ServerName
		return nil, nil
	}}
	for _, tc := range []struct {
		name   string
		policy TLSPolicy
		cfg    *tls.Config
	}{
		{"opportunistic-unverified", TLSOpportunistic, nil},
		{"required-verified", TLSRequired, &tls.Config{RootCAs: pool}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeServer(t, func(s *fakeSession) {
				s.greet("STARTTLS", "X-BEFORE-TLS")
				s.expect("STARTTLS")
				s.send("220 2.0.0 ready")
				if !s.startTLS(srvTLS) {
					return
				}
				s.expect("EHLO client.test") // RFC 3207 §4.2
				s.ehlo("SIZE 500")
				s.expect("QUIT")
				s.send("221 bye")
			})
			o := opts()
			o.TLS, o.TLSConfig = tc.policy, tc.cfg
			c := mustDial(t, addr, o)
			if !c.TLS() {
				t.Error("TLS() false after STARTTLS")
			}
			if _, ok := c.Extensions()["X-BEFORE-TLS"]; ok || c.Extensions()["SIZE"] != "500" {
				t.Errorf("extensions after TLS %v: want only those of the second EHLO", c.Extensions())
			}
			if got := <-sni; got != "mx.example.test" {
				t.Errorf("SNI %q", got)
			}
			c.Quit()
		})
	}
}

func TestTLSRequiredNotOffered(t *testing.T) {
	addr := fakeServer(t, func(s *fakeSession) {
		s.greet("PIPELINING")
		s.expect("QUIT")
		s.send("221 bye")
	})
	o := opts()
	o.TLS = TLSRequired
	_, err := Dial(testCtx(t), addr, "mx.example.test", o)
	if !errors.Is(err, ErrTLSUnavailable) {
		t.Fatalf("err = %v, want ErrTLSUnavailable", err)
	}
}

func TestSTARTTLSRefused(t *testing.T) {
	for _, policy := range []TLSPolicy{TLSOpportunistic, TLSRequired} {
		addr := fakeServer(t, func(s *fakeSession) {
			s.greet("STARTTLS")
			s.expect("STARTTLS")
			s.send("454 4.7.0 TLS not available")
			if policy == TLSOpportunistic {
				s.expect("RSET") // the session goes on in clear
				s.send("250 ok")
			}
			s.expect("QUIT")
			s.send("221 bye")
		})
		o := opts()
		o.TLS = policy
		c, err := Dial(testCtx(t), addr, "mx.example.test", o)
		if policy == TLSRequired {
			var re *ReplyError
			if !errors.Is(err, ErrTLSUnavailable) || !errors.As(err, &re) || re.Reply.Code != 454 {
				t.Errorf("required: err = %v, want ErrTLSUnavailable with the 454", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("opportunistic: %v", err)
		}
		if err := c.Reset(testCtx(t)); err != nil || c.TLS() {
			t.Errorf("opportunistic in clear: Reset %v, TLS %v", err, c.TLS())
		}
		c.Quit()
	}
}

func TestSTARTTLSHandshakeFails(t *testing.T) {
	addr := fakeServer(t, func(s *fakeSession) {
		s.greet("STARTTLS")
		s.expect("STARTTLS")
		s.send("220 go ahead")
		s.br.Peek(1) // the ClientHello
		s.send("this is not TLS")
	})
	o := opts()
	o.TLS = TLSOpportunistic
	_, err := Dial(testCtx(t), addr, "mx.example.test", o)
	if !errors.Is(err, ErrTLSHandshake) {
		t.Fatalf("err = %v, want ErrTLSHandshake", err)
	}
}

// TestSTARTTLSInjection: text sent with the 220, before the handshake,
// would be read as if it came over TLS (CVE-2011-0411).
func TestSTARTTLSInjection(t *testing.T) {
	addr := fakeServer(t, func(s *fakeSession) {
		s.greet("STARTTLS")
		s.expect("STARTTLS")
		io.WriteString(s.conn, "220 go ahead\r\n250-injected\r\n250 AUTH PLAIN\r\n")
		s.br.ReadString('\n') // whatever follows
	})
	o := opts()
	o.TLS = TLSOpportunistic
	_, err := Dial(testCtx(t), addr, "mx.example.test", o)
	if !errors.Is(err, reply.ErrProtocol) || errors.Is(err, ErrTLSHandshake) {
		t.Fatalf("err = %v, want a protocol error", err)
	}
}

func TestTimeouts(t *testing.T) {
	silentAfterEHLO := func(s *fakeSession) {
		s.send("220 fake.test ESMTP")
		s.line()
		s.br.ReadString('\n') // never answer; returns when the client hangs up
	}
	t.Run("command", func(t *testing.T) {
		addr := fakeServer(t, silentAfterEHLO)
		o := opts()
		o.Timeouts.Command = 300 * time.Millisecond
		start := time.Now()
		_, err := Dial(testCtx(t), addr, "mx.example.test", o)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("err = %v, want a deadline error", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("took %v with a 300ms command timeout", d)
		}
	})
	t.Run("greeting", func(t *testing.T) {
		addr := fakeServer(t, func(s *fakeSession) { s.br.ReadString('\n') })
		o := opts()
		o.Timeouts.Greeting = 300 * time.Millisecond
		start := time.Now()
		_, err := Dial(testCtx(t), addr, "mx.example.test", o)
		if err == nil || !strings.Contains(err.Error(), "greeting") || time.Since(start) > 3*time.Second {
			t.Errorf("err = %v after %v", err, time.Since(start))
		}
	})
	t.Run("context", func(t *testing.T) {
		addr := fakeServer(t, silentAfterEHLO)
		o := opts()
		o.Timeouts.Command = time.Minute
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := Dial(ctx, addr, "mx.example.test", o)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
			t.Errorf("err = %v after %v, want the context's deadline", err, time.Since(start))
		}
	})
	t.Run("data-term", func(t *testing.T) {
		addr := fakeServer(t, func(s *fakeSession) {
			s.greet()
			s.expect("MAIL FROM:<>")
			s.send("250 ok")
			s.expect("RCPT TO:<c@d.test>")
			s.send("250 ok")
			s.expect("DATA")
			s.send("354 go")
			s.data()
			s.br.ReadString('\n') // no reply to the dot
		})
		o := opts()
		o.Timeouts.DataTerm = 300 * time.Millisecond
		c := mustDial(t, addr, o)
		defer c.Close()
		res, err := c.Send(testCtx(t), Envelope{Recipients: []Rcpt{{Addr: "c@d.test"}}}, strings.NewReader("x\r\n"))
		if !errors.Is(err, os.ErrDeadlineExceeded) || res.Data.Code != 0 || res.Rcpts[0].Code != 250 {
			t.Errorf("Send = %+v, %v; want a deadline error and no data reply", res, err)
		}
		if err := c.Reset(testCtx(t)); err == nil {
			t.Error("Reset works on a session that lost step")
		}
	})
}

func TestMalformedReplies(t *testing.T) {
	for _, bad := range []string{
		"hello there",             // no code
		"250-fake.test\r\n550 no", // code changes within a reply
		"2500 too many digits",    // no separator
		"250-" + strings.Repeat("x", 3000),
		"199 not an SMTP reply code",
	} {
		addr := fakeServer(t, func(s *fakeSession) {
			s.send("220 fake.test ESMTP")
			s.expect("EHLO client.test")
			s.send(bad)
			s.br.ReadString('\n')
		})
		_, err := Dial(testCtx(t), addr, "mx.example.test", opts())
		if !errors.Is(err, reply.ErrProtocol) {
			t.Errorf("reply %.30q: err = %v, want a protocol error", bad, err)
		}
	}
}

// TestCmdWriteRaw drives a verb the client does not know, the way
// XEXCH50 will: command, 354, a binary blob, 250.
func TestCmdWriteRaw(t *testing.T) {
	blob := []byte("\x00\x01\r\n.\r\n\xff")
	addr := fakeServer(t, func(s *fakeSession) {
		s.greet("XEXCH50")
		s.expect("XEXCH50 8 2")
		s.send("354 send binary data")
		got := make([]byte, len(blob))
		if _, err := io.ReadFull(s.br, got); err != nil || string(got) != string(blob) {
			t.Errorf("blob %q, %v", got, err)
		}
		s.send("250 2.0.0 XEXCH50 OK")
		s.expect("QUIT")
		s.send("221 bye")
	})
	c := mustDial(t, addr, opts())
	if _, err := c.Cmd(testCtx(t), 0, "RCPT TO:<a@b>\r\nRCPT TO:<%s>", "x@evil"); err == nil {
		t.Error("Cmd sent a line with CRLF in it")
	}
	r, err := c.Cmd(testCtx(t), time.Second, "XEXCH50 %d %d", len(blob), 2)
	if err != nil || r.Code != 354 {
		t.Fatalf("XEXCH50: %v, %v", r, err)
	}
	if err := c.WriteRaw(blob); err != nil {
		t.Fatal(err)
	}
	r, err = c.ReadReply(testCtx(t), 0)
	if err != nil || r.String() != "250 2.0.0 XEXCH50 OK" {
		t.Errorf("reply %q, %v", r, err)
	}
	c.Quit()
}
