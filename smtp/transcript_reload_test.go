package smtp_test

import (
	"net"
	"testing"
	"time"

	"mailward/internal/testkit"
	"mailward/policy"
)

// A reload (Server.Update) changes the virtual server's name in the
// greeting, its relay rules and its recipient limit. A session opened
// before it keeps the old settings until QUIT, through a second
// transaction; sessions opened after it get the new ones
// (docs/configuration.md, "Reloading").
func TestTranscriptReloadOldSessionKeepsSettings(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"
relay_networks = ["127.0.0.1"]
max_recipients = 2`)

	before := dialPlayer(t, ts.addr)
	before.play(greeting + ehloPlain + `
C: MAIL FROM:<a@example.test>
S: 250 2.1.0 a@example.test....Sender OK
C: RCPT TO:<x@remote.test>
S: 250 2.1.5 x@remote.test`)

	opt := ts.opt
	opt.Settings.FQDN = "mx2.example.test"
	opt.Settings.Relay = policy.Rules{} // nobody may relay
	opt.Settings.MaxRecipients = 1
	ts.srv.Update(opt)

	// A new session: the new name, no relaying, one recipient.
	play(t, ts.addr, `S~ 220 mx2\.example\.test ESMTP mailward ready at .*
`+ehloHello("C: EHLO client.test\nS: 250-mx2.example.test Hello client.test [127.0.0.1]")+`C: MAIL FROM:<a@example.test>
S: 250 2.1.0 a@example.test....Sender OK
C: RCPT TO:<x@remote.test>
S: 550 5.7.1 Unable to relay for x@remote.test
C: RCPT TO:<alice@example.test>
S: 250 2.1.5 alice@example.test
C: RCPT TO:<bob@example.test>
S: 452 4.5.3 Too many recipients
C: QUIT
S: 221 2.0.0 mx2.example.test closing connection`)

	// The session from before: still relays, still takes two
	// recipients, still answers as mx1, in this transaction and the next.
	before.play(`C: RCPT TO:<y@remote.test>
S: 250 2.1.5 y@remote.test
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
W: Subject: across a reload\r\n\r\nhello\r\n.\r\n
S~ 250 2\.6\.0 [0-9A-F]{19} Queued mail for delivery
` + ehloPlain + `C: MAIL FROM:<a@example.test>
S: 250 2.1.0 a@example.test....Sender OK
C: RCPT TO:<z@remote.test>
S: 250 2.1.5 z@remote.test
C: RCPT TO:<alice@example.test>
S: 250 2.1.5 alice@example.test
C: QUIT
S: 221 2.0.0 mx1.example.test closing connection
CLOSED`)

	// And the next session after it is on the new settings again.
	play(t, ts.addr, `S~ 220 mx2\.example\.test ESMTP .*
C: HELO client.test
S: 250 mx2.example.test
C: MAIL FROM:<a@example.test>
S: 250 2.1.0 a@example.test....Sender OK
C: RCPT TO:<z@remote.test>
S: 550 5.7.1 Unable to relay for z@remote.test`)

	if q := ts.queued(t); len(q) != 1 || len(q[0].Recipients) != 2 {
		t.Fatalf("queued %+v, want the one message of the old session to x and y@remote.test", q)
	}
}

// A reload that removes or moves a virtual server retires it: its
// listening socket closes at once, while a session in progress goes on
// undisturbed to QUIT (no 421), and only then does Serve return.
func TestTranscriptRetireLetsSessionsFinish(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"`)
	p := dialPlayer(t, ts.addr)
	p.play(greeting + ehloPlain + `
C: MAIL FROM:<a@example.test>
S: 250 2.1.0 a@example.test....Sender OK`)

	ts.srv.Retire()
	refused := testkit.Poll(5*time.Second, 10*time.Millisecond, func() bool {
		c, err := net.DialTimeout("tcp", ts.addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if !refused {
		t.Fatal("the retired virtual server still accepts connections")
	}
	select {
	case <-ts.done:
		t.Fatal("Serve returned with a session in progress")
	case <-time.After(100 * time.Millisecond):
	}
	p.play(`C: RCPT TO:<alice@example.test>
S: 250 2.1.5 alice@example.test
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
W: Subject: finishing\r\n\r\nhello\r\n.\r\n
S~ 250 2\.6\.0 [0-9A-F]{19} Queued mail for delivery
C: QUIT
S: 221 2.0.0 mx1.example.test closing connection
CLOSED`)
	select {
	case <-ts.done:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the last session of the retired virtual server ended")
	}
	if q := ts.queued(t); len(q) != 1 {
		t.Fatalf("queued %d messages, want 1", len(q))
	}
}
