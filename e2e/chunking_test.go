package e2e

// CHUNKING (RFC 3030) end to end: mailward sends BDAT to Debian's
// Postfix (a real, independent implementation) and to another mailward,
// and takes mail from a Postfix that sees CHUNKING offered; the message
// arrives byte for byte every way.

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"mailward/events"
	"mailward/internal/peers"
	"mailward/internal/testkit"
)

// chunkBody is a body that DATA would have to transform and BDAT must
// not: lines "." and ".." (dot-stuffed for DATA, raw in a chunk), a
// line that looks like a command, 8-bit text, a long-ish run of lines
// (so a chunk boundary may fall anywhere), and no trailing blank line.
func chunkBody() string {
	var b strings.Builder
	b.WriteString(".\r\n..\r\n.leading dot\r\nMAIL FROM:<evil@example.test>\r\nnaïve café ünïcödé\r\n")
	for i := range 3000 {
		b.WriteString("line " + strconv.Itoa(i) + " of the chunking interop body, long enough to fill several TCP segments\r\n")
	}
	b.WriteString("last line\r\n")
	return b.String()
}

// bodyOf is a stored message's body: what follows its header.
func bodyOf(msg string) string {
	_, body, _ := strings.Cut(msg, "\r\n\r\n")
	return body
}

// sendBody sends one message over DATA with BODY=8BITMIME: a CRLF
// header (from and to as in the envelope, subject also the Message-ID),
// then body as given. who names the server at addr in a refusal.
func sendBody(t *testing.T, who, addr, helo, from, to, subject, body string) reply {
	t.Helper()
	c := dial(t, addr)
	defer c.Close()
	c.expect("EHLO "+helo, 250)
	c.expect("MAIL FROM:<"+from+"> BODY=8BITMIME", 250)
	c.expect("RCPT TO:<"+to+">", 250)
	r, err := c.dataErr("From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: " + subject + "\r\n" +
		"Message-ID: <" + subject + "@e2e.test>\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\n\r\n" + body)
	if err != nil || r.Code != 250 {
		t.Fatalf("%s refused the message: %v %v", who, r, err)
	}
	c.cmdErr("QUIT")
	return r
}

// TestPostfixToMailwardOfferingCHUNKING: Postfix relays to mailward,
// which offers CHUNKING. Debian 12's Postfix (3.7) takes BDAT in smtpd
// but its smtp client has no BDAT (no such command in
// /usr/lib/postfix/sbin/smtp) and sends DATA whatever the server offers:
// what this shows is that the offer does not disturb such a client, and
// that the body lands in alice's Maildir exactly as Postfix was given it.
// BDAT received from a client is shown by TestMailwardToMailwardBDAT
// and the smtp package's transcripts.
func TestPostfixToMailwardOfferingCHUNKING(t *testing.T) {
	peers.Require(t)
	cfg := remoteConfig("", 0)
	cfg.Diagnostics = map[string]string{"smtp_receive": "medium"}
	s := startServer(t, cfg)
	_, port, _ := strings.Cut(s.Addr, ":")
	p := startPostfix(t, peers.PostfixOptions{
		MyHostname: "postfix.test",
		MyDomain:   "postfix.test",
		MyNetworks: "127.0.0.0/8",
		RelayHost:  "[127.0.0.1]:" + port,
	})
	body := chunkBody()
	sendBody(t, "Postfix", p.Addr, "client.postfix.test", "carol@postfix.test", "alice@example.test", "chunking-from-postfix", body)

	msg := findMessageWithin(t, 20*time.Second, s, "alice@example.test", "Subject: chunking-from-postfix")
	if got := bodyOf(msg); got != body {
		t.Fatalf("body changed on the way: %d octets arrived, %d sent (first difference at %d)", len(got), len(body), firstDiff(got, body))
	}
	t.Logf("Postfix used BDAT: %v (event 1051 written %d times)", len(s.Events(events.BdatReceived)) > 0, len(s.Events(events.BdatReceived)))
	settle(t, s)
}

// TestMailwardToMailwardBDAT: one mailward relays to another (a
// [[route]] to it as smart host); the whole path, queue to queue, goes
// with BDAT: the receiver writes event 1051 for the message, and the
// body lands in alice's Maildir exactly as the client gave it to the
// first server (with DATA, dot-stuffed: a line "." survives both ways).
func TestMailwardToMailwardBDAT(t *testing.T) {
	dstCfg := remoteConfig("", 0)
	dstCfg.Diagnostics = map[string]string{"smtp_receive": "medium"}
	dst := startServer(t, dstCfg)

	srcCfg := remoteConfig("", 0)
	srcCfg.Server = testkit.Server{FQDN: "mx.relay.test", DefaultDomain: "relay.test", DataDir: "data"}
	srcCfg.Domains = []testkit.Domain{{Name: "relay.test"}}
	srcCfg.Mailboxes = testkit.Mailboxes("postmaster@relay.test")
	srcCfg.Routes = []testkit.Route{{Domain: "example.test", SmartHost: "[" + strings.Replace(dst.Addr, ":", "]:", 1)}}
	src := startServer(t, srcCfg)

	body := chunkBody()
	id := queueID(t, sendBody(t, "the first mailward", src.Addr, "client.test", "carol@relay.test", "alice@example.test", "bdat-between-mailwards", body))

	msg := findMessageWithin(t, 20*time.Second, dst, "alice@example.test", "Subject: bdat-between-mailwards")
	if got := bodyOf(msg); got != body {
		t.Fatalf("body changed on the way: %d octets arrived, %d sent (first difference at %d)", len(got), len(body), firstDiff(got, body))
	}
	recs := dst.Events(events.BdatReceived)
	if len(recs) != 1 || recs[0].Fields["chunks"] != "1" {
		t.Fatalf("the receiver wrote event 1051 %+v, want once, for one chunk", recs)
	}
	waitEvents(t, src, events.Delivered, id, 1, 5*time.Second)
	settle(t, src)
	settle(t, dst)
}

// TestMailwardSendsBDATToPostfix: mailward relays to a Postfix smart
// host, which offers CHUNKING; Postfix's smtpd counts the BDAT commands
// it got in its disconnect line ("bdat=1"), none with DATA, and the body
// lands in bob's Maildir as the client gave it to mailward.
func TestMailwardSendsBDATToPostfix(t *testing.T) {
	p := startPostfix(t, peers.PostfixOptions{
		MyHostname: "postfix.remote.test",
		MyDomain:   "remote.test",
		Mailboxes:  []string{"bob"},
	})
	cfg := remoteConfig("", 0)
	cfg.Routes = []testkit.Route{{Domain: "remote.test", SmartHost: "[127.0.0.1]:" + strconv.Itoa(p.Port)}}
	s := startServer(t, cfg)

	body := chunkBody()
	id := queueID(t, sendBody(t, "mailward", s.Addr, "client.test", "alice@example.test", "bob@remote.test", "bdat-to-postfix", body))

	// Postfix's virtual(8) stores lines with LF; the body is the same
	// text with CRLF made LF.
	got := postfixMessage(t, p, "bob")
	_, gotBody, _ := strings.Cut(got, "\n\n")
	if want := strings.ReplaceAll(body, "\r\n", "\n"); gotBody != want {
		t.Fatalf("body changed on the way: %d octets arrived, %d sent (first difference at %d)", len(gotBody), len(want), firstDiff(gotBody, want))
	}
	waitEvents(t, s, events.Delivered, id, 1, 5*time.Second)
	// smtpd logs the counts at disconnect, which follows our QUIT (or
	// the connection cache's idle close): wait for it.
	testkit.WaitFor(t, 20*time.Second, "Postfix's smtpd to log mailward's session", func() bool {
		return strings.Contains(p.Log(), "bdat=1")
	})
	for _, l := range strings.Split(p.Log(), "\n") {
		if strings.Contains(l, "disconnect from") && strings.Contains(l, "data=") {
			t.Errorf("Postfix got DATA from someone: %s", l)
		}
	}
	settle(t, s)
}

func firstDiff(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
