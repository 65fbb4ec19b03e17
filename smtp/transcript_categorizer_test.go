package smtp_test

import (
	"testing"

	"mailward/events"
	"mailward/orgauth"
)

// catBase is mx1 of an organization of two servers (mx1, mx2: LOGIN
// secret "mx1-secret") whose directory holds the recipients of
// example.test: alice (password "alice-secret", proxy a.smith) and
// carol (proxy c.jones) on mx1, bob on mx2, and groups with
// restrictions — staff (authenticated senders only), board (only
// alice), announce (not carol), and remote-staff (authenticated only,
// expanded by mx2).
const catBase = `
[server]
fqdn = "mx1.example.test"
default_domain = "local.test"
[[domain]]
name = "local.test"
[organization]
name = "Example"
self = "mx1"
[[organization.server]]
name = "mx1"
fqdn = "mx1.org.test"
auth = "login"
password_hash = "$2a$10$.OVCvNJWJ/Oq8rRK1B5h1.DZaZXalHwFYqtaiBbingugcFgxnT7oG"
[[organization.server]]
name = "mx2"
fqdn = "mx2.org.test"
auth = "login"
password_hash = "$2a$10$.OVCvNJWJ/Oq8rRK1B5h1.DZaZXalHwFYqtaiBbingugcFgxnT7oG"
[[organization.domain]]
name = "example.test"
[[organization.mailbox]]
address = "alice@example.test"
proxy_addresses = ["a.smith@example.test"]
home_server = "mx1"
password_hash = "$2a$10$QzDHNo6UMDilceOCOt2zK.HtCTHGtqHsYzRLrBBhFsqyegkJJeRG2"
[[organization.mailbox]]
address = "carol@example.test"
proxy_addresses = ["c.jones@example.test"]
home_server = "mx1"
[[organization.mailbox]]
address = "bob@example.test"
home_server = "mx2"
[[organization.distribution_group]]
address = "staff@example.test"
members = ["bob@example.test", "carol@example.test"]
accept_only_authenticated = true
[[organization.distribution_group]]
address = "board@example.test"
members = ["bob@example.test"]
accept_from = ["alice@example.test"]
[[organization.distribution_group]]
address = "announce@example.test"
members = ["bob@example.test", "carol@example.test"]
reject_from = ["carol@example.test"]
[[organization.distribution_group]]
address = "remote-staff@example.test"
members = ["bob@example.test"]
accept_only_authenticated = true
expansion_server = "mx2"
`

// catVirtualServer takes AUTH PLAIN in clear (for short transcripts) and
// organization mail (X-EXPS LOGIN).
const catVirtualServer = `name = "org"
tls = "none"
auth = ["PLAIN"]
auth_plaintext = true
org_auth = ["LOGIN"]`

// ehloCat is the EHLO reply of catVirtualServer to name; an
// organization server is offered X-EXPS too.
func ehloCat(name string, orgServer bool) string {
	if orgServer {
		return ehlo(name, "AUTH PLAIN", "X-EXPS LOGIN", "XEXCH50")
	}
	return ehlo(name, "AUTH PLAIN", "XEXCH50")
}

// A restricted group addressed directly on the server that expands it
// is decided at RCPT: an anonymous sender is refused with 550 5.7.1
// naming the group (event 1027), the rest of the transaction goes on;
// after AUTH the same sender is accepted and the message queued.
func TestTranscriptRestrictedGroupAtRCPT(t *testing.T) {
	mod, evPath := withEvents(t, events.Minimum)
	ts := startServerWith(t, catBase, catVirtualServer, mod)
	play(t, ts.addr, greeting+ehloCat("client.test", false)+`
C: MAIL FROM:<friend@remote.test>
S: 250 2.1.0 friend@remote.test....Sender OK
C: RCPT TO:<staff@example.test>
S: 550 5.7.1 staff@example.test accepts mail only from authenticated senders
C: RCPT TO:<Staff@Example.Test>
S: 550 5.7.1 staff@example.test accepts mail only from authenticated senders
C: RCPT TO:<c.jones@example.test>
S: 250 2.1.5 c.jones@example.test
C: RSET
S: 250 2.0.0 Resetting
C: AUTH PLAIN `+plain("a.smith@example.test", "alice-secret")+`
S: 235 2.7.0 Authentication successful
C: MAIL FROM:<alice@example.test>
S: 250 2.1.0 alice@example.test....Sender OK
C: RCPT TO:<staff@example.test>
S: 250 2.1.5 staff@example.test
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
W: Subject: staff\r\n\r\nx\r\n.\r\n
S~ 250 2\.6\.0 [0-9A-F]{19} Queued mail for delivery`)
	q := ts.queued(t)
	if len(q) != 1 || len(q[0].Recipients) != 1 || q[0].Recipients[0].Addr != "staff@example.test" {
		t.Fatalf("queued %+v, want one message to staff@example.test", q)
	}
	recs := readEvents(t, evPath, events.RestrictionAtRCPT)
	if len(recs) != 2 || recs[0].Fields["rcpt"] != "staff@example.test" || recs[0].Fields["from"] != "friend@remote.test" ||
		recs[0].Fields["reason"] != "staff@example.test accepts mail only from authenticated senders" || recs[0].Fields["virtual_server"] != "org" {
		t.Errorf("events 1027: %+v, want one per refused RCPT naming the group, the sender and the reason", recs)
	}
}

// accept_from and reject_from at RCPT: a sender matches by any of its
// mailbox's addresses, in any case; a refused sender is refused even
// when authenticated.
func TestTranscriptAcceptRejectFromAtRCPT(t *testing.T) {
	ts := startServerWith(t, catBase, catVirtualServer)
	play(t, ts.addr, greeting+ehloCat("client.test", false)+`
C: MAIL FROM:<A.Smith@example.test>
S: 250 2.1.0 A.Smith@example.test....Sender OK
C: RCPT TO:<board@example.test>
S: 250 2.1.5 board@example.test
C: RSET
S: 250 2.0.0 Resetting
C: MAIL FROM:<carol@example.test>
S: 250 2.1.0 carol@example.test....Sender OK
C: RCPT TO:<board@example.test>
S: 550 5.7.1 board@example.test accepts mail only from the senders it lists
C: RCPT TO:<announce@example.test>
S: 550 5.7.1 announce@example.test does not accept mail from carol@example.test
C: RSET
S: 250 2.0.0 Resetting
C: MAIL FROM:<friend@remote.test>
S: 250 2.1.0 friend@remote.test....Sender OK
C: RCPT TO:<announce@example.test>
S: 250 2.1.5 announce@example.test
C: RSET
S: 250 2.0.0 Resetting
C: AUTH PLAIN `+plain("alice@example.test", "alice-secret")+`
S: 235 2.7.0 Authentication successful
C: MAIL FROM:<C.Jones@Example.test>
S: 250 2.1.0 C.Jones@example.test....Sender OK
C: RCPT TO:<announce@example.test>
S: 550 5.7.1 announce@example.test does not accept mail from C.Jones@example.test`)
}

// A group expanded by another server is not judged at RCPT here: the
// restriction is decided there, with the properties it will have.
func TestTranscriptExpansionServerNotRefusedAtRCPT(t *testing.T) {
	ts := startServerWith(t, catBase, catVirtualServer)
	play(t, ts.addr, greeting+ehloCat("client.test", false)+`
C: MAIL FROM:<friend@remote.test>
S: 250 2.1.0 friend@remote.test....Sender OK
C: RCPT TO:<remote-staff@example.test>
S: 250 2.1.5 remote-staff@example.test
C: RCPT TO:<ghost@example.test>
S: 550 5.1.1 ghost@example.test... User unknown`)
}

// An authenticated server of the organization is not refused at RCPT:
// its XEXCH50 properties, which come after RCPT, may say the sender
// authenticated on it. The same server without X-EXPS (KB843106: it is
// not trusted, its XEXCH50 refused) is an anonymous client, refused.
func TestTranscriptOrgServerNotRefusedAtRCPT(t *testing.T) {
	b, err := (&orgauth.Props{Envelope: orgauth.EnvelopeProp{AuthSender: "bob@example.test", OriginServer: "mx2"}}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	p := string(b)
	ts := startServerWith(t, catBase, catVirtualServer)
	play(t, ts.addr, greeting+ehloCat("mx2.org.test", true)+`
C: MAIL FROM:<bob@example.test>
S: 250 2.1.0 bob@example.test....Sender OK
C: RCPT TO:<staff@example.test>
S: 550 5.7.1 staff@example.test accepts mail only from authenticated senders
C: RSET
S: 250 2.0.0 Resetting
C: X-EXPS LOGIN `+b64("mx2")+`
S: 334 UGFzc3dvcmQ6
C: `+b64("mx1-secret")+`
S: 235 2.7.0 Authentication successful
C: MAIL FROM:<bob@example.test>
S: 250 2.1.0 bob@example.test....Sender OK
C: RCPT TO:<staff@example.test>
S: 250 2.1.5 staff@example.test
`+xexch50(p)+`C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
W: Subject: staff\r\n\r\nx\r\n.\r\n
S~ 250 2\.6\.0 [0-9A-F]{19} Queued mail for delivery`)
	if q := ts.queued(t); len(q) != 1 || q[0].Recipients[0].Addr != "staff@example.test" {
		t.Fatalf("queued %+v, want the message to staff@example.test", q)
	}
}
