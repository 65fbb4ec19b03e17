package smtp_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"mailward/internal/testkit"
	"mailward/smtp"
)

func TestTranscriptLineTooLong(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"`)
	long := strings.Repeat("A", 998) // + CRLF = 1000: the RFC's limit, accepted
	play(t, ts.addr, greeting+`
C: NOOP `+long[:993]+`
S: 250 2.0.0 OK
C: NOOP `+long+`
S: 500 5.5.2 Line too long (limit 1000 octets, RFC 5321 section 4.5.3.1.4)
C: `+strings.Repeat("B", 100000)+`
S: 500 5.5.2 Line too long (limit 1000 octets, RFC 5321 section 4.5.3.1.4)
C: NOOP
S: 250 2.0.0 OK`)
}

func TestTranscriptTooManyRecipients(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"
relay_networks = ["127.0.0.1"]
max_recipients = 2`)
	play(t, ts.addr, greeting+ehloPlain+`
C: MAIL FROM:<a@example.test>
S: 250 2.1.0 a@example.test....Sender OK
C: RCPT TO:<alice@example.test>
S: 250 2.1.5 alice@example.test
C: RCPT TO:<x@remote.test>
S: 250 2.1.5 x@remote.test
C: RCPT TO:<bob@example.test>
S: 452 4.5.3 Too many recipients
# A repeated recipient counts too (issue 7 A6: Postfix's
# smtpd_recipient_limit), though the envelope keeps it once.
C: RCPT TO:<alice@example.test>
S: 452 4.5.3 Too many recipients
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
W: Subject: two\r\n\r\n.\r\n
S~ 250 2\.6\.0 [0-9A-F]{19} Queued mail for delivery`)
}

// 5,000 copies of one recipient: the first max_recipients are accepted
// (the envelope keeps one), every later one is answered 452.
func TestTranscriptDuplicateRecipientsCount(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"`)
	var b strings.Builder
	b.WriteString(greeting + ehloPlain + "C: MAIL FROM:<a@example.test>\nS: 250 2.1.0 a@example.test....Sender OK\n")
	for i := range 5000 {
		b.WriteString("C: RCPT TO:<alice@example.test>\n")
		if i < 100 { // the default max_recipients
			b.WriteString("S: 250 2.1.5 alice@example.test\n")
		} else {
			b.WriteString("S: 452 4.5.3 Too many recipients\n")
		}
	}
	b.WriteString("C: DATA\nS: 354 Start mail input; end with <CRLF>.<CRLF>\nW: Subject: once\\r\\n\\r\\n.\\r\\n\nS~ 250 2\\.6\\.0 [0-9A-F]{19} Queued mail for delivery\n")
	play(t, ts.addr, b.String())
	q := ts.queued(t)
	if len(q) != 1 || len(q[0].Recipients) != 1 || q[0].Recipients[0].Addr != "alice@example.test" {
		t.Fatalf("queued: %+v", q)
	}
}

func TestTranscriptErrorLimit(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"
max_errors = 3`)
	play(t, ts.addr, greeting+`
C: FOO
S: 500 5.5.2 Command unrecognized
C: NOOP
S: 250 2.0.0 OK
C: MAIL FROM:<a@example.test>
S: 503 5.5.1 Send EHLO/HELO first
C: BAR
S: 500 5.5.2 Command unrecognized
S: 421 4.7.0 mx1.example.test Too many errors, closing connection
CLOSED`)
}

func TestTranscriptIdleTimeout(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"
idle_timeout = "200ms"`)
	play(t, ts.addr, greeting+`
S: 421 4.4.2 mx1.example.test Idle timeout, closing connection
CLOSED`)
	// Stalling in the middle of DATA is an idle timeout too.
	play(t, ts.addr, greeting+ehloPlain+mailAlice+`
W: Subject: stall\r\n
S: 421 4.4.2 mx1.example.test Timeout during DATA, closing connection
CLOSED`)
	if q := ts.queued(t); len(q) != 0 {
		t.Fatalf("a stalled message was queued: %+v", q)
	}
}

func TestTranscriptConnectionLimits(t *testing.T) {
	for _, c := range []struct{ name, toml, reply string }{
		{"total", "max_connections = 2", "421 4.7.0 mx1.example.test Too many connections (total connections), try again later"},
		{"per IP", "max_connections_per_ip = 2", "421 4.7.0 mx1.example.test Too many connections (connections per client address), try again later"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := startServer(t, "name = \"default\"\ntls = \"none\"\n"+c.toml)
			var held []net.Conn
			for i := 0; i < 2; i++ {
				conn, err := net.Dial("tcp", ts.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				if l, err := bufio.NewReader(conn).ReadString('\n'); err != nil || !strings.HasPrefix(l, "220 ") {
					t.Fatalf("connection %d: %q %v", i, l, err)
				}
				held = append(held, conn)
			}
			play(t, ts.addr, "S: "+c.reply+"\nCLOSED")
			// Freeing a slot admits the next client.
			held[0].Close()
			testkit.WaitFor(t, 5*time.Second, "a freed slot to admit the next client", func() bool {
				conn, err := net.Dial("tcp", ts.addr)
				if err != nil {
					return false
				}
				defer conn.Close()
				l, _ := bufio.NewReader(conn).ReadString('\n')
				return strings.HasPrefix(l, "220 ")
			})
		})
	}
}

// Tarpit (KB304897): each unknown recipient in a session waits one more
// tarpit step, up to tarpit_max; known recipients are never delayed.
func TestTranscriptTarpitEscalates(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"`)
	play(t, ts.addr, greeting+ehloPlain+`
C: MAIL FROM:<a@remote.test>
S: 250 2.1.0 a@remote.test....Sender OK
C: RCPT TO:<alice@example.test>
S: 250 2.1.5 alice@example.test
C: RCPT TO:<nobody1@example.test>
S: 550 5.1.1 nobody1@example.test... User unknown
C: RCPT TO:<nobody2@example.test>
S: 550 5.1.1 nobody2@example.test... User unknown
C: RCPT TO:<nobody3@example.test>
S: 550 5.1.1 nobody3@example.test... User unknown
C: RCPT TO:<nobody4@example.test>
S: 550 5.1.1 nobody4@example.test... User unknown
C: RCPT TO:<bob@example.test>
S: 250 2.1.5 bob@example.test`)
	got := fmt.Sprint(ts.sleeps.all())
	if want := "[1s 2s 3s 3s]"; got != want {
		t.Fatalf("tarpit delays %s, want %s", got, want)
	}
}

// A directory that cannot be read answers 4xx: never accept-then-lose,
// never relay (KB304897).
func TestTranscriptDirectoryOutage(t *testing.T) {
	base := baseConfig + "\n[directory]\nfile = \"/nonexistent/recipients.toml\"\n"
	ts := startServerWith(t, base, `name = "default"
tls = "none"`)
	play(t, ts.addr, greeting+ehloPlain+`
C: MAIL FROM:<a@remote.test>
S: 250 2.1.0 a@remote.test....Sender OK
C: RCPT TO:<alice@example.test>
S: 451 4.3.0 Recipient lookup failed (directory unavailable), try again later
C: RCPT TO:<x@remote.test>
S: 550 5.7.1 Unable to relay for x@remote.test
C: DATA
S: 554 5.5.1 No valid recipients`)
}

// A queue that cannot write answers 4xx, so the client keeps the message.
func TestTranscriptSpoolFailure(t *testing.T) {
	for _, c := range []struct {
		name           string
		create, commit error
		reply          string
	}{
		{"create fails", errors.New("read-only file system"), nil, "451 4.3.0 Error writing message to the queue, try again later"},
		{"commit fails", nil, errors.New("input/output error"), "451 4.3.0 Error writing message to the queue, try again later"},
		{"disk full", nil, fmt.Errorf("queue: fsync X: %w", syscall.ENOSPC), "452 4.3.1 Insufficient system storage, try again later"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := startServer(t, "name = \"default\"\ntls = \"none\"", func(o *smtp.Options) {
				o.Spool = failingSpool{createErr: c.create, commitErr: c.commit, inner: o.Spool}
			})
			script := greeting + ehloPlain + `
C: MAIL FROM:<a@example.test>
S: 250 2.1.0 a@example.test....Sender OK
C: RCPT TO:<alice@example.test>
S: 250 2.1.5 alice@example.test
C: DATA
`
			if c.create == nil {
				script += "S: 354 Start mail input; end with <CRLF>.<CRLF>\nW: Subject: x\\r\\n\\r\\nx\\r\\n.\\r\\n\n"
			}
			script += "S: " + c.reply + "\nC: RCPT TO:<alice@example.test>\nS: 503 5.5.1 Need MAIL before RCPT"
			play(t, ts.addr, script)
			if q := ts.queued(t); len(q) != 0 {
				t.Fatalf("failed write left a queued message: %+v", q)
			}
		})
	}
}
