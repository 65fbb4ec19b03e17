package testkit

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"mailward/internal/certs"
)

// wire is a raw client for the fake: it sends lines and reads replies.
type wire struct {
	t    *testing.T
	conn net.Conn
	tp   *textproto.Conn
}

func dialFake(t *testing.T, addr string) *wire {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &wire{t: t, conn: c, tp: textproto.NewConn(c)}
}

// read reads one reply, "250 a\n250 b" for a multi-line one, or "error: ...".
func (w *wire) read() string {
	w.t.Helper()
	var lines []string
	for range 100 {
		l, err := w.tp.ReadLine()
		if err != nil {
			return "error: " + err.Error()
		}
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			break
		}
	}
	return strings.Join(lines, "\n")
}

// cmd sends a line and reads the reply.
func (w *wire) cmd(line string) string {
	w.t.Helper()
	if err := w.tp.PrintfLine("%s", line); err != nil {
		return "error: " + err.Error()
	}
	return w.read()
}

func (w *wire) want(line, reply string) {
	w.t.Helper()
	if got := w.cmd(line); got != reply {
		w.t.Errorf("%s: got %q, want %q", line, got, reply)
	}
}

// The default server is a sink: it greets, announces its extensions,
// checks the order of commands, takes the message dot-unstuffed and
// records it and every command.
func TestSMTPSink(t *testing.T) {
	s := StartSMTP(t, SMTP{Name: "mx.fake.test"})
	w := dialFake(t, s.Addr)
	if g := w.read(); g != "220 mx.fake.test ESMTP fake" {
		t.Fatalf("greeting %q", g)
	}
	w.want("EHLO client.test", "250-mx.fake.test greets client.test\n250-PIPELINING\n250-8BITMIME\n250-ENHANCEDSTATUSCODES\n250-DSN\n250 SIZE 10240000")
	w.want("RCPT TO:<a@b.test>", "503 5.5.1 Error: need MAIL command")
	w.want("MAIL FROM:<x@y.test> RET=HDRS", "250 2.1.0 Ok")
	w.want("DATA", "554 5.5.1 Error: no valid recipients")
	w.want("MAIL FROM:<x@y.test> RET=HDRS", "250 2.1.0 Ok")
	w.want("RCPT TO:<a@b.test>", "250 2.1.5 Ok")
	w.want("DATA", "354 End data with <CR><LF>.<CR><LF>")
	w.want("Subject: hi\r\nMessage-ID: <1@y.test>\r\n\r\n..dot\r\n.", "250 2.0.0 Ok: queued as FAKE")
	w.want("STARTTLS", `502 5.5.2 Error: command "STARTTLS" not recognized`)
	w.want("QUIT", "221 2.0.0 Bye")
	if got := w.read(); !strings.HasPrefix(got, "error: ") {
		t.Errorf("after QUIT: %q, want the connection closed", got)
	}
	m := s.Messages()
	if len(m) != 1 || s.Count() != 1 {
		t.Fatalf("messages %+v", m)
	}
	if m[0].Helo != "client.test" || m[0].MailLine != "MAIL FROM:<x@y.test> RET=HDRS" || len(m[0].RcptLines) != 1 ||
		m[0].Data != "Subject: hi\r\nMessage-ID: <1@y.test>\r\n\r\n.dot\r\n" || m[0].Subject() != "hi" || m[0].MessageID() != "<1@y.test>" {
		t.Errorf("message %+v", m[0])
	}
	if n := s.CountCommands("mail"); n != 2 {
		t.Errorf("%d MAIL commands recorded: %q", n, s.Commands())
	}
	WaitFor(t, 5*time.Second, "the session to end", func() bool { return s.Open() == 0 })
	if s.Total() != 1 {
		t.Errorf("total %d", s.Total())
	}
}

// A handler answers first; the transaction follows the reply sent, and
// "DOT" decides the end of data.
func TestSMTPHandler(t *testing.T) {
	s := StartSMTP(t, SMTP{Extensions: []string{"PIPELINING"}})
	s.SetHandler(func(_ *SMTPSession, verb, line string) Reply {
		switch {
		case verb == "MAIL" && strings.Contains(line, "refused"):
			return Reply{Text: "454 4.7.0 Temporary authentication failure"}
		case verb == "EHLO":
			return Reply{Text: "250 custom\n250 X-ONE"}
		case verb == "DOT":
			return Reply{Text: "451 4.3.0 not now", Delay: 50 * time.Millisecond}
		}
		return Reply{}
	})
	w := dialFake(t, s.Addr)
	w.read()
	w.want("EHLO c", "250-custom\n250 X-ONE")
	w.want("MAIL FROM:<refused@x>", "454 4.7.0 Temporary authentication failure")
	w.want("RCPT TO:<a@b>", "503 5.5.1 Error: need MAIL command")
	w.want("MAIL FROM:<ok@x>", "250 2.1.0 Ok")
	w.want("RCPT TO:<a@b>", "250 2.1.5 Ok")
	w.want("DATA", "354 End data with <CR><LF>.<CR><LF>")
	start := time.Now()
	w.want("x\r\n.", "451 4.3.0 not now")
	if time.Since(start) < 50*time.Millisecond {
		t.Error("no delay before the end-of-data reply")
	}
	if s.Count() != 0 {
		t.Errorf("a refused message was recorded")
	}
	s.SetHandler(nil)
	s.SetExtensions("SIZE 5")
	w.want("EHLO c", "250-fake.test greets c\n250 SIZE 5")
}

// Greetings per connection: the first connection is dropped, the second
// greeted; a hang-up in the middle of a session closes it.
func TestSMTPGreetingAndHangup(t *testing.T) {
	s := StartSMTP(t, SMTP{
		Greeting: func(n int) Reply {
			if n == 1 {
				return Reply{Hangup: true}
			}
			return Reply{Text: fmt.Sprintf("220-second %d\n220 welcome", n)}
		},
		Handle: func(_ *SMTPSession, verb, _ string) Reply {
			if verb == "RCPT" {
				return Reply{Hangup: true}
			}
			return Reply{}
		},
	})
	if got := dialFake(t, s.Addr).read(); !strings.HasPrefix(got, "error: ") {
		t.Errorf("first connection: %q, want a hang-up", got)
	}
	w := dialFake(t, s.Addr)
	if got := w.read(); got != "220-second 2\n220 welcome" {
		t.Errorf("second greeting %q", got)
	}
	w.want("MAIL FROM:<a@b>", "250 2.1.0 Ok")
	if got := w.cmd("RCPT TO:<c@d>"); !strings.HasPrefix(got, "error: ") {
		t.Errorf("RCPT: %q, want a hang-up", got)
	}
}

// STARTTLS with the server's configuration, the LOGIN-style exchange of
// Ask and XEXCH50's binary blob.
func TestSMTPTLSAskXEXCH50(t *testing.T) {
	cert, pool, err := certs.NewSelfSigned("mx.fake.test")
	if err != nil {
		t.Fatal(err)
	}
	s := StartSMTP(t, SMTP{Name: "mx.fake.test", Extensions: []string{"XEXCH50"},
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}},
		Handle: func(s *SMTPSession, verb, line string) Reply {
			switch verb {
			case "X-EXPS":
				if !s.TLS() {
					return Reply{Text: "503 5.5.1 TLS first"}
				}
				if ans, ok := s.Ask("334 UGFzc3dvcmQ6"); !ok || ans != "c2VjcmV0" {
					return Reply{Text: "535 5.7.3 no"}
				}
				return Reply{Text: "235 2.7.0 Authentication successful"}
			case "XEXCH50":
				return s.XEXCH50(line)
			}
			return Reply{}
		}})
	w := dialFake(t, s.Addr)
	w.read()
	w.want("EHLO c", "250-mx.fake.test greets c\n250-XEXCH50\n250 STARTTLS")
	w.want("X-EXPS LOGIN", "503 5.5.1 TLS first")
	w.want("STARTTLS", "220 2.0.0 Ready to start TLS")
	tc := tls.Client(w.conn, &tls.Config{RootCAs: pool, ServerName: "mx.fake.test"})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	w.conn, w.tp = tc, textproto.NewConn(tc)
	w.want("EHLO c", "250-mx.fake.test greets c\n250 XEXCH50")
	w.want("X-EXPS LOGIN", "334 UGFzc3dvcmQ6")
	w.want("c2VjcmV0", "235 2.7.0 Authentication successful")
	w.want("XEXCH50 x 2", "501 5.5.4 Syntax: XEXCH50 <size> <flag>")
	w.want("XEXCH50 4 2", "354 Send binary data")
	io.WriteString(tc, "\x00\r\n.")
	if got := w.read(); got != "250 2.0.0 XEXCH50 OK" {
		t.Errorf("after the blob: %q", got)
	}
	if b := s.Blobs(); len(b) != 1 || string(b[0]) != "\x00\r\n." {
		t.Errorf("blobs %q", b)
	}
	if cmds := strings.Join(s.Commands(), "|"); !strings.Contains(cmds, "X-EXPS LOGIN|c2VjcmV0|") {
		t.Errorf("the answer to Ask is not among the commands: %s", cmds)
	}
}

// A script plays the server's side line by line and checks the client's.
func TestSMTPScript(t *testing.T) {
	got := make(chan string, 1)
	s := StartSMTP(t, SMTP{Script: func(s *SMTPSession) {
		s.Send("220 scripted")
		s.Expect("EHLO c")
		s.Send("250-scripted", "250 PIPELINING")
		s.Expect("DATA")
		s.Send("354 go")
		got <- s.Data()
		s.Send("250 ok")
		s.Quiet(50 * time.Millisecond)
	}})
	w := dialFake(t, s.Addr)
	if g := w.read(); g != "220 scripted" {
		t.Fatalf("greeting %q", g)
	}
	w.want("EHLO c", "250-scripted\n250 PIPELINING")
	w.want("DATA", "354 go")
	w.want("..dot\r\nline\r\n.", "250 ok")
	if d := <-got; d != "..dot\r\nline\r\n" {
		t.Errorf("data %q, want it raw", d)
	}
}

func TestListenSamePort(t *testing.T) {
	lns, port := ListenSamePort(t, "127.0.0.1", "127.0.0.2")
	if len(lns) != 2 || lns[1].Addr().String() != fmt.Sprintf("127.0.0.2:%d", port) {
		t.Fatalf("virtual servers %v, port %d", lns, port)
	}
	a := StartSMTP(t, SMTP{Listener: lns[0], Name: "a.test"})
	b := StartSMTP(t, SMTP{Listener: lns[1], Name: "b.test"})
	if a.Port() != port || b.Port() != port || b.Addr != lns[1].Addr().String() {
		t.Errorf("ports %d, %d, want %d", a.Port(), b.Port(), port)
	}
	if p := FreePort(t, "127.0.0.3"); p <= 0 {
		t.Errorf("free port %d", p)
	}
}
