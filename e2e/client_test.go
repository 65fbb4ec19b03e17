package e2e

// A raw SMTP client for the end-to-end tests: every command and reply as
// the wire has them, without the smtpclient package under test.

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"
)

// client is a minimal SMTP client that shows every reply exactly.
type client struct {
	t    *testing.T
	conn net.Conn
	tp   *textproto.Conn
}

// reply is one SMTP reply: its code and its lines without the code.
type reply struct {
	Code  int
	Lines []string
}

// String renders the last line as it was on the wire ("250 2.1.5 x").
func (r reply) String() string {
	if len(r.Lines) == 0 {
		return strconv.Itoa(r.Code)
	}
	return fmt.Sprintf("%d %s", r.Code, r.Lines[len(r.Lines)-1])
}

// dial connects and reads the greeting.
func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := dialErr(addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c.t = t
	return c
}

func dialErr(addr string) (*client, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c := &client{conn: conn, tp: textproto.NewConn(conn)}
	r, err := c.read()
	if err != nil {
		conn.Close()
		return nil, err
	}
	if r.Code != 220 {
		conn.Close()
		return nil, fmt.Errorf("greeting %v", r)
	}
	return c, nil
}

func (c *client) Close() { c.conn.Close() }

// read reads one (possibly multi-line) reply.
func (c *client) read() (reply, error) {
	c.conn.SetDeadline(time.Now().Add(ioTimeout))
	var r reply
	for {
		line, err := c.tp.ReadLine()
		if err != nil {
			return r, err
		}
		if len(line) < 4 || (line[3] != ' ' && line[3] != '-') {
			return r, fmt.Errorf("malformed reply line %q", line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil {
			return r, fmt.Errorf("malformed reply line %q", line)
		}
		r.Code = code
		r.Lines = append(r.Lines, line[4:])
		if line[3] == ' ' {
			return r, nil
		}
	}
}

// cmdErr sends one command line and reads the reply.
func (c *client) cmdErr(line string) (reply, error) {
	c.conn.SetDeadline(time.Now().Add(ioTimeout))
	if err := c.tp.PrintfLine("%s", line); err != nil {
		return reply{}, err
	}
	return c.read()
}

// cmd sends a command; a transport error is fatal.
func (c *client) cmd(line string) reply {
	c.t.Helper()
	r, err := c.cmdErr(line)
	if err != nil {
		c.t.Fatalf("%s: %v", line, err)
	}
	return r
}

// expect sends a command and requires the reply code.
func (c *client) expect(line string, code int) reply {
	c.t.Helper()
	r := c.cmd(line)
	if r.Code != code {
		c.t.Fatalf("%s: got %q, want %d", line, r, code)
	}
	return r
}

// starttls upgrades the connection (certificates are self-signed).
func (c *client) starttls() {
	c.t.Helper()
	c.expect("STARTTLS", 220)
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true, ServerName: "mx1.example.test"})
	tc.SetDeadline(time.Now().Add(ioTimeout))
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.conn, c.tp = tc, textproto.NewConn(tc)
}

// servedSerial is the serial of the certificate a new STARTTLS session
// at addr is given.
func servedSerial(t *testing.T, addr string) string {
	t.Helper()
	c := dial(t, addr)
	defer c.Close()
	c.expect("EHLO client.test", 250)
	c.starttls()
	return c.conn.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// dataErr sends DATA, the message (dot-stuffed here) and the final dot;
// it returns the final reply.
func (c *client) dataErr(msg string) (reply, error) {
	r, err := c.cmdErr("DATA")
	if err != nil {
		return r, err
	}
	if r.Code != 354 {
		return r, fmt.Errorf("DATA: %v", r)
	}
	c.conn.SetDeadline(time.Now().Add(ioTimeout))
	w := c.tp.DotWriter()
	if _, err := w.Write([]byte(msg)); err != nil {
		return reply{}, err
	}
	if err := w.Close(); err != nil {
		return reply{}, err
	}
	return c.read()
}

// send runs one whole transaction and requires 250 at the end; it
// returns the queue ID from "250 2.6.0 <id> Queued mail for delivery".
func (c *client) send(from string, rcpts []string, msg string) string {
	c.t.Helper()
	c.expect("MAIL FROM:"+from, 250)
	for _, r := range rcpts {
		c.expect("RCPT TO:"+r, 250)
	}
	r, err := c.dataErr(msg)
	if err != nil {
		c.t.Fatalf("DATA: %v", err)
	}
	return queueID(c.t, r)
}

// queueID extracts the queue ID from a 250 2.6.0 reply.
func queueID(t *testing.T, r reply) string {
	t.Helper()
	f := strings.Fields(r.String())
	if r.Code != 250 || len(f) < 3 || f[1] != "2.6.0" {
		t.Fatalf("end of DATA: got %q, want 250 2.6.0 <id> ...", r)
	}
	return f[2]
}

// message builds a small RFC 5322 message with LF line ends (textproto's
// DotWriter turns them into CRLF).
func message(from, to, subject, body string) string {
	return fmt.Sprintf("From: <%s>\nTo: <%s>\nSubject: %s\nMessage-ID: <%s@e2e.test>\nDate: %s\n\n%s\n",
		from, to, subject, subject, time.Now().Format(time.RFC1123Z), body)
}

// ehloKeywords returns the EHLO keywords (the first word of each line
// after the greeting line).
func ehloKeywords(r reply) map[string]string {
	out := map[string]string{}
	for i, l := range r.Lines {
		if i == 0 {
			continue
		}
		k, v, _ := strings.Cut(l, " ")
		out[strings.ToUpper(k)] = v
	}
	return out
}
