package smtp_test

import (
	"net"
	"strings"
	"testing"

	"mailward/events"
	"mailward/internal/testdns"
)

// filterBase is baseConfig with a postmaster, a resolver at dnsAddr and
// the block list "testbl" (zone bl.example.test, answer 127.0.0.2
// counts).
func filterBase(dnsAddr string) string {
	return baseConfig + `
[[mailbox]]
address = "postmaster@example.test"
[dns]
server = "` + dnsAddr + `"
[[dnsbl]]
name = "testbl"
zone = "bl.example.test"
codes = ["127.0.0.2"]
`
}

// blockList is a DNS server on loopback listing 127.0.0.2 (and answering
// 127.0.0.3 with a code that does not count); other names are NXDOMAIN.
func blockList(t *testing.T) *testdns.Server {
	t.Helper()
	d, err := testdns.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	d.SetA("2.0.0.127.bl.example.test", "127.0.0.2")
	d.SetA("3.0.0.127.bl.example.test", "127.0.0.9")
	return d
}

// silentDNS is a UDP port that takes queries and never answers.
func silentDNS(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

var ehloFilter = ehloHello(`C: EHLO client.test
S~ 250-mx1\.example\.test Hello client\.test \[127\.0\.0\.[0-9]\]`)

// A client on the deny list, or off a grant list, gets 554 5.7.1
// instead of the greeting and the connection closes; the accept list
// wins over both, and a client on none is greeted.
func TestTranscriptDenyListAtConnect(t *testing.T) {
	mod, evPath := withEvents(t, events.Minimum)
	ts := startServer(t, `name = "default"
tls = "none"
[virtual_server.connection_filter]
deny = ["127.0.0.2", "127.0.0.3"]
accept = ["127.0.0.3/32"]`, mod)
	playFrom(t, "127.0.0.2", ts.addr, `
S: 554 5.7.1 Connection refused: client [127.0.0.2] may not connect to this server
CLOSED`)
	playFrom(t, "127.0.0.3", ts.addr, greeting+`C: QUIT
S: 221 2.0.0 mx1.example.test closing connection`)
	playFrom(t, "127.0.0.4", ts.addr, greeting+`C: QUIT
S: 221 2.0.0 mx1.example.test closing connection`)
	recs := readEvents(t, evPath, events.ConnectionDenied)
	if len(recs) != 1 || recs[0].Fields["ip"] != "127.0.0.2" || recs[0].Fields["reason"] != "the address is in 127.0.0.2/32 of the deny list" {
		t.Errorf("events 1055: %+v, want one for 127.0.0.2 naming its entry", recs)
	}

	granted := startServer(t, `name = "default"
tls = "none"
[virtual_server.connection_filter]
grant = ["127.0.0.0/30"]
accept = ["127.0.0.5"]`)
	playFrom(t, "127.0.0.4", granted.addr, `
S: 554 5.7.1 Connection refused: client [127.0.0.4] may not connect to this server
CLOSED`)
	for _, from := range []string{"127.0.0.2", "127.0.0.5"} {
		playFrom(t, from, granted.addr, greeting+`C: QUIT
S: 221 2.0.0 mx1.example.test closing connection`)
	}
}

// A listed client is greeted and may say MAIL, but its recipients get
// 550 5.7.1 with the configured text, the exceptions (postmaster) are
// accepted and the message to them is queued. A client the list does
// not name, or names with a code that does not count, is not refused.
func TestTranscriptListedClientAtRCPT(t *testing.T) {
	d := blockList(t)
	mod, evPath := withEvents(t, events.Maximum)
	ts := startServerWith(t, filterBase(d.Addr), `name = "default"
tls = "none"
[virtual_server.connection_filter]
dnsbl = ["testbl"]
message = "Client {ip} listed by {provider} ({zone}) with {code}; write to postmaster"`, mod)
	playFrom(t, "127.0.0.2", ts.addr, greeting+ehloFilter+`
C: MAIL FROM:<someone@remote.test>
S: 250 2.1.0 someone@remote.test....Sender OK
C: RCPT TO:<alice@example.test>
S: 550 5.7.1 Client 127.0.0.2 listed by testbl (bl.example.test) with 127.0.0.2; write to postmaster
C: RCPT TO:<PostMaster@example.test>
S: 250 2.1.5 PostMaster@example.test
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
W: Subject: please delist me\r\n\r\nx\r\n.\r\n
S~ 250 2\.6\.0 [0-9A-F]{19} Queued mail for delivery
C: QUIT
S: 221 2.0.0 mx1.example.test closing connection`)
	q := ts.queued(t)
	if len(q) != 1 || len(q[0].Recipients) != 1 || !strings.EqualFold(q[0].Recipients[0].Addr, "postmaster@example.test") {
		t.Fatalf("queued %+v, want one message to postmaster only", q)
	}
	for _, from := range []string{"127.0.0.1", "127.0.0.3"} {
		playFrom(t, from, ts.addr, greeting+ehloFilter+`
C: MAIL FROM:<someone@remote.test>
S: 250 2.1.0 someone@remote.test....Sender OK
C: RCPT TO:<alice@example.test>
S: 250 2.1.5 alice@example.test`)
	}
	listed := readEvents(t, evPath, events.ClientListed)
	if len(listed) != 1 || listed[0].Fields["ip"] != "127.0.0.2" || listed[0].Fields["rcpt"] != "alice@example.test" ||
		listed[0].Fields["provider"] != "testbl" || listed[0].Fields["code"] != "127.0.0.2" || listed[0].Fields["from"] != "someone@remote.test" {
		t.Errorf("events 1056: %+v", listed)
	}
	exc := readEvents(t, evPath, events.ListedException)
	if len(exc) != 1 || exc[0].Fields["rcpt"] != "PostMaster@example.test" {
		t.Errorf("events 1057: %+v", exc)
	}
}

// A listed client that authenticates is not filtered (as Exchange skips
// connection filtering for authenticated sessions); nor is a client of
// relay_networks, which is not even looked up.
func TestTranscriptListedClientAuthenticated(t *testing.T) {
	d := blockList(t)
	ts := startServerWith(t, filterBase(d.Addr), `name = "default"
tls = "none"
auth = ["PLAIN"]
auth_plaintext = true
[virtual_server.connection_filter]
dnsbl = ["testbl"]`)
	playFrom(t, "127.0.0.2", ts.addr, greeting+`C: EHLO client.test
S~ 250-.*
S~ 250-.*
S~ 250-.*
S~ 250-.*
S~ 250-.*
S~ 250-.*
S~ 250-.*
S~ 250-.*
S: 250-AUTH PLAIN
S: 250 HELP
C: MAIL FROM:<someone@remote.test>
S: 250 2.1.0 someone@remote.test....Sender OK
C: RCPT TO:<bob@example.test>
S: 550 5.7.1 Service unavailable; client [127.0.0.2] blocked using bl.example.test (127.0.0.2)
C: RSET
S: 250 2.0.0 Resetting
C: AUTH PLAIN `+plain("alice@example.test", "alice-secret")+`
S: 235 2.7.0 Authentication successful
C: MAIL FROM:<alice@example.test>
S: 250 2.1.0 alice@example.test....Sender OK
C: RCPT TO:<bob@example.test>
S: 250 2.1.5 bob@example.test`)
	ts2 := startServerWith(t, filterBase(d.Addr), `name = "default"
tls = "none"
relay_networks = ["127.0.0.2"]
[virtual_server.connection_filter]
dnsbl = ["testbl"]`)
	playFrom(t, "127.0.0.2", ts2.addr, greeting+ehloFilter+`
C: MAIL FROM:<someone@remote.test>
S: 250 2.1.0 someone@remote.test....Sender OK
C: RCPT TO:<bob@example.test>
S: 250 2.1.5 bob@example.test`)
}

// A lookup that does not answer within lookup_timeout: fail_open = false
// answers 451 4.7.1 (the exceptions still 250); the default, fail open,
// accepts with one event per session.
func TestTranscriptLookupTimeout(t *testing.T) {
	dns := silentDNS(t)
	mod, evPath := withEvents(t, events.Minimum)
	closed := startServerWith(t, filterBase(dns), `name = "default"
tls = "none"
[virtual_server.connection_filter]
dnsbl = ["testbl"]
lookup_timeout = "200ms"
fail_open = false`, mod)
	play(t, closed.addr, greeting+ehloFilter+`
C: MAIL FROM:<someone@remote.test>
S: 250 2.1.0 someone@remote.test....Sender OK
C: RCPT TO:<alice@example.test>
S: 451 4.7.1 Service temporarily unavailable; block list lookup of [127.0.0.1] failed, try again later
C: RCPT TO:<postmaster@example.test>
S: 250 2.1.5 postmaster@example.test`)
	recs := readEvents(t, evPath, events.DNSBLFailedClosed)
	if len(recs) != 1 || recs[0].Fields["rcpt"] != "alice@example.test" || !strings.Contains(recs[0].Fields["error"], "testbl: ") {
		t.Errorf("events 1059: %+v", recs)
	}

	mod2, evPath2 := withEvents(t, events.Minimum)
	open := startServerWith(t, filterBase(dns), `name = "default"
tls = "none"
[virtual_server.connection_filter]
dnsbl = ["testbl"]
lookup_timeout = "200ms"`, mod2)
	play(t, open.addr, greeting+ehloFilter+`
C: MAIL FROM:<someone@remote.test>
S: 250 2.1.0 someone@remote.test....Sender OK
C: RCPT TO:<alice@example.test>
S: 250 2.1.5 alice@example.test
C: RCPT TO:<bob@example.test>
S: 250 2.1.5 bob@example.test`)
	if recs := readEvents(t, evPath2, events.DNSBLFailedOpen); len(recs) != 1 || recs[0].Fields["ip"] != "127.0.0.1" {
		t.Errorf("events 1058: %+v, want one for the session", recs)
	}
}

// Blocked senders and the empty sender are refused at MAIL with 550
// 5.7.1; the session goes on and other senders are accepted.
func TestTranscriptBlockedSender(t *testing.T) {
	mod, evPath := withEvents(t, events.Maximum)
	ts := startServer(t, `name = "default"
tls = "none"
[virtual_server.sender_filter]
blocked = ["Spammer@Bad.test", "*@junk.test", "*@*.spam.test"]
refuse_null_sender = true`, mod)
	play(t, ts.addr, greeting+ehloPlain+`
C: MAIL FROM:<spammer@bad.TEST>
S: 550 5.7.1 Sender spammer@bad.test refused by the sender filter
C: MAIL FROM:<anyone@junk.test>
S: 550 5.7.1 Sender anyone@junk.test refused by the sender filter
C: MAIL FROM:<x@mx.spam.test>
S: 550 5.7.1 Sender x@mx.spam.test refused by the sender filter
C: MAIL FROM:<>
S: 550 5.7.1 The empty sender <> is not accepted on this virtual server
C: MAIL FROM:<x@spam.test>
S: 250 2.1.0 x@spam.test....Sender OK
C: RCPT TO:<alice@example.test>
S: 250 2.1.5 alice@example.test`)
	recs := readEvents(t, evPath, events.SenderBlocked)
	if len(recs) != 4 || recs[0].Fields["pattern"] != "spammer@bad.test" || recs[3].Fields["from"] != "<>" {
		t.Errorf("events 1060: %+v", recs)
	}
}

// action = "drop": the blocked sender's message is answered as if
// queued, and nothing is stored; event 1061 is its only trace. Relaying
// is refused as ever, so a relay test never sees an open relay.
func TestTranscriptDroppedSender(t *testing.T) {
	mod, evPath := withEvents(t, events.Minimum)
	ts := startServer(t, `name = "default"
tls = "none"
[virtual_server.sender_filter]
blocked = ["*@junk.test"]
refuse_null_sender = true
action = "drop"`, mod)
	play(t, ts.addr, greeting+ehloPlain+`
C: MAIL FROM:<anyone@junk.test>
S: 250 2.1.0 anyone@junk.test....Sender OK
C: RCPT TO:<someone@elsewhere.test>
S: 550 5.7.1 Unable to relay for someone@elsewhere.test
C: RCPT TO:<alice@example.test>
S: 250 2.1.5 alice@example.test
C: RCPT TO:<bob@example.test>
S: 250 2.1.5 bob@example.test
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
W: Subject: junk\r\n\r\nx\r\n.\r\n
S~ 250 2\.6\.0 [0-9A-F]{19} Queued mail for delivery
C: MAIL FROM:<>
S: 550 5.7.1 The empty sender <> is not accepted on this virtual server
C: MAIL FROM:<friend@good.test>
S: 250 2.1.0 friend@good.test....Sender OK
C: RCPT TO:<alice@example.test>
S: 250 2.1.5 alice@example.test
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
W: Subject: fine\r\n\r\nx\r\n.\r\n
S~ 250 2\.6\.0 [0-9A-F]{19} Queued mail for delivery`)
	q := ts.queued(t)
	if len(q) != 1 || q[0].From != "friend@good.test" {
		t.Fatalf("queued %+v, want only friend@good.test's message", q)
	}
	recs := readEvents(t, evPath, events.SenderDropped)
	if len(recs) != 1 || recs[0].Fields["from"] != "anyone@junk.test" || recs[0].Fields["recipients"] != "2" ||
		recs[0].Fields["pattern"] != "*@junk.test" {
		t.Errorf("events 1061: %+v", recs)
	}
}

// The drop applies to a message sent with BDAT as to one sent with DATA:
// the same 250, nothing stored, event 1061.
func TestTranscriptDroppedSenderBDAT(t *testing.T) {
	mod, evPath := withEvents(t, events.Minimum)
	ts := startServer(t, `name = "default"
tls = "none"
[virtual_server.sender_filter]
blocked = ["*@junk.test"]
action = "drop"`, mod)
	play(t, ts.addr, greeting+ehloPlain+raw("MAIL FROM:<anyone@junk.test>\r\nRCPT TO:<alice@example.test>\r\n")+`S: 250 2.1.0 anyone@junk.test....Sender OK
S: 250 2.1.5 alice@example.test
`+raw(bdat("Subject: junk\r\n\r\n", false))+`S: 250 2.0.0 17 octets received
`+raw(bdat("x\r\n", true))+queuedRE)
	if q := ts.queued(t); len(q) != 0 {
		t.Fatalf("queued %+v, want nothing", q)
	}
	if recs := readEvents(t, evPath, events.SenderDropped); len(recs) != 1 || recs[0].Fields["from"] != "anyone@junk.test" {
		t.Errorf("events 1061: %+v", recs)
	}
}
