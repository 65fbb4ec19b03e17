package smtp_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// shutdownReply is what a session waiting for a command hears when the
// server stops (RFC 5321 §3.8).
const shutdownReply = "421 4.3.2 mx1.example.test Service shutting down, closing connection"

// client is a line-at-a-time SMTP client for the shutdown tests, which
// must stop the server between two lines of a conversation.
type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, c: c, r: bufio.NewReader(c)}
	cl.expect("220 ")
	return cl
}

func (cl *client) send(lines ...string) {
	cl.t.Helper()
	cl.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(cl.c, strings.Join(lines, "\r\n")+"\r\n"); err != nil {
		cl.t.Fatalf("write: %v", err)
	}
}

// expect reads reply lines up to the last of a reply and checks that it
// starts with prefix.
func (cl *client) expect(prefix string) string {
	cl.t.Helper()
	cl.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		line, err := cl.r.ReadString('\n')
		if err != nil {
			cl.t.Fatalf("waiting for %q: %v (got %q)", prefix, err, line)
		}
		line = strings.TrimSuffix(line, "\r\n")
		if len(line) > 3 && line[3] == '-' {
			continue
		}
		if !strings.HasPrefix(line, prefix) {
			cl.t.Fatalf("got %q, want %q...", line, prefix)
		}
		return line
	}
}

func (cl *client) expectClosed() {
	cl.t.Helper()
	cl.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := cl.r.ReadString('\n'); err != io.EOF {
		cl.t.Fatalf("want the connection closed, got %q, %v", line, err)
	}
}

// A stopping server ends an idle session at once with 421 4.3.2, as
// Postfix does, instead of holding the shutdown for the whole grace: a
// peer's cached connection would otherwise delay every restart.
func TestShutdownEndsIdleSessions(t *testing.T) {
	ts := startServerGrace(t, baseConfig, "name = \"default\"\ntls = \"none\"", time.Minute)
	idle := dial(t, ts.addr)
	idle.send("EHLO client.test")
	idle.expect("250 ")
	inTx := dial(t, ts.addr)
	inTx.send("EHLO client.test")
	inTx.expect("250 ")
	inTx.send("MAIL FROM:<a@remote.test>")
	inTx.expect("250 ")

	ts.cancel()
	idle.expect(shutdownReply)
	idle.expectClosed()
	inTx.expect(shutdownReply)
	inTx.expectClosed()
	select {
	case <-ts.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve still waiting for idle sessions 10s after the stop (grace 1m)")
	}
	if q := ts.queued(t); len(q) != 0 {
		t.Errorf("queued %d messages, want none", len(q))
	}
}

// A message being received when the server stops is let finish: it is
// accepted (on disk) and only then is the session ended.
func TestShutdownLetsDataFinish(t *testing.T) {
	ts := startServerGrace(t, baseConfig, "name = \"default\"\ntls = \"none\"", time.Minute)
	cl := dial(t, ts.addr)
	cl.send("EHLO client.test")
	cl.expect("250 ")
	cl.send("MAIL FROM:<a@remote.test>", "RCPT TO:<bob@example.test>", "DATA")
	cl.expect("250 ")
	cl.expect("250 ")
	cl.expect("354 ")
	cl.send("Subject: half-way", "")

	ts.cancel()
	// The stop has reached the session (whose reading goes on) before
	// the rest of the message is sent.
	time.Sleep(300 * time.Millisecond)
	cl.send("the rest of the body", ".")
	cl.expect("250 2.6.0")
	cl.expect(shutdownReply)
	cl.expectClosed()
	<-ts.done
	if q := ts.queued(t); len(q) != 1 {
		t.Fatalf("queued %d messages, want the one received during the stop", len(q))
	}
}
