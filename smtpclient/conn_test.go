package smtpclient

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"mailward/internal/certs"
	"mailward/internal/testkit"
	"mailward/reply"
)

// The tests in client*_test.go talk to a scripted fake server: each
// test's script plays the server's side of one connection, line by line,
// and checks what the client sent (testkit's SMTP server with a Script).

// fakeServer runs script on each connection to a loopback port. The test
// ends only after the script has.
func fakeServer(t *testing.T, script func(s *testkit.SMTPSession)) string {
	t.Helper()
	return testkit.StartSMTP(t, testkit.SMTP{Script: script, Timeout: 15 * time.Second}).Addr
}

// greet sends a greeting, expects EHLO and answers with ext.
func greet(s *testkit.SMTPSession, ext ...string) {
	s.Send("220 fake.test ESMTP")
	s.Expect("EHLO client.test")
	ehlo(s, ext...)
}

func ehlo(s *testkit.SMTPSession, ext ...string) {
	lines := append([]string{"fake.test hello"}, ext...)
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		s.Send("250" + sep + l)
	}
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
	addr := fakeServer(t, func(s *testkit.SMTPSession) {
		s.Send("554-5.3.2 fake.test no service", "554 5.3.2 go away")
		s.Expect("QUIT") // RFC 5321 §3.1
		s.Send("221 2.0.0 bye")
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
	addr := fakeServer(t, func(s *testkit.SMTPSession) {
		s.Send("220 old.test SMTP")
		s.Expect("EHLO client.test")
		s.Send("502 5.5.1 command not recognized")
		s.Expect("HELO client.test")
		s.Send("250 old.test")
		s.Expect("MAIL FROM:<a@b.test>") // no parameters after HELO
		s.Send("250 ok")
		s.Expect("RCPT TO:<c@d.test>")
		s.Send("250 ok")
		s.Expect("DATA")
		s.Send("354 go")
		if got := s.Data(); got != "hi\r\n" {
			t.Errorf("data %q", got)
		}
		s.Send("250 queued")
		s.Expect("QUIT")
		s.Send("221 bye")
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
	addr := fakeServer(t, func(s *testkit.SMTPSession) {
		s.Send("220 busy.test ESMTP")
		s.Expect("EHLO client.test")
		s.Send("421 4.3.2 shutting down")
		s.Expect("QUIT")
	})
	_, err := Dial(testCtx(t), addr, "mx.example.test", opts())
	var re *ReplyError
	if !errors.As(err, &re) || re.Stage != "EHLO" || !re.Reply.Temporary() {
		t.Fatalf("err = %v, want an EHLO ReplyError 421", err)
	}
}

func TestExtensionsParsed(t *testing.T) {
	addr := fakeServer(t, func(s *testkit.SMTPSession) {
		greet(s, "size 10240000", "AUTH PLAIN LOGIN", "PIPELINING", "")
		s.Expect("QUIT")
		s.Send("221 bye")
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
			addr := fakeServer(t, func(s *testkit.SMTPSession) {
				greet(s, "STARTTLS", "X-BEFORE-TLS")
				s.Expect("STARTTLS")
				s.Send("220 2.0.0 ready")
				if !s.StartTLS(srvTLS) {
					return
				}
				s.Expect("EHLO client.test") // RFC 3207 §4.2
				ehlo(s, "SIZE 500")
				s.Expect("QUIT")
				s.Send("221 bye")
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
	addr := fakeServer(t, func(s *testkit.SMTPSession) {
		greet(s, "PIPELINING")
		s.Expect("QUIT")
		s.Send("221 bye")
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
		addr := fakeServer(t, func(s *testkit.SMTPSession) {
			greet(s, "STARTTLS")
			s.Expect("STARTTLS")
			s.Send("454 4.7.0 TLS not available")
			if policy == TLSOpportunistic {
				s.Expect("RSET") // the session goes on in clear
				s.Send("250 ok")
			}
			s.Expect("QUIT")
			s.Send("221 bye")
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
	addr := fakeServer(t, func(s *testkit.SMTPSession) {
		greet(s, "STARTTLS")
		s.Expect("STARTTLS")
		s.Send("220 go ahead")
		s.Peek(1) // the ClientHello
		s.Send("this is not TLS")
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
	addr := fakeServer(t, func(s *testkit.SMTPSession) {
		greet(s, "STARTTLS")
		s.Expect("STARTTLS")
		io.WriteString(s, "220 go ahead\r\n250-injected\r\n250 AUTH PLAIN\r\n")
		s.ReadLine() // whatever follows
	})
	o := opts()
	o.TLS = TLSOpportunistic
	_, err := Dial(testCtx(t), addr, "mx.example.test", o)
	if !errors.Is(err, reply.ErrProtocol) || errors.Is(err, ErrTLSHandshake) {
		t.Fatalf("err = %v, want a protocol error", err)
	}
}

func TestTimeouts(t *testing.T) {
	silentAfterEHLO := func(s *testkit.SMTPSession) {
		s.Send("220 fake.test ESMTP")
		s.Line()
		s.ReadLine() // never answer; returns when the client hangs up
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
		addr := fakeServer(t, func(s *testkit.SMTPSession) { s.ReadLine() })
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
		addr := fakeServer(t, func(s *testkit.SMTPSession) {
			greet(s)
			s.Expect("MAIL FROM:<>")
			s.Send("250 ok")
			s.Expect("RCPT TO:<c@d.test>")
			s.Send("250 ok")
			s.Expect("DATA")
			s.Send("354 go")
			s.Data()
			s.ReadLine() // no reply to the dot
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
		addr := fakeServer(t, func(s *testkit.SMTPSession) {
			s.Send("220 fake.test ESMTP")
			s.Expect("EHLO client.test")
			s.Send(bad)
			s.ReadLine()
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
	addr := fakeServer(t, func(s *testkit.SMTPSession) {
		greet(s, "XEXCH50")
		s.Expect("XEXCH50 8 2")
		s.Send("354 send binary data")
		got := make([]byte, len(blob))
		if _, err := io.ReadFull(s, got); err != nil || string(got) != string(blob) {
			t.Errorf("blob %q, %v", got, err)
		}
		s.Send("250 2.0.0 XEXCH50 OK")
		s.Expect("QUIT")
		s.Send("221 bye")
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
