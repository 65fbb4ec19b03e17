package smtp_test

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailward/events"
)

// plainTLSNone is a virtual server that takes AUTH PLAIN without TLS, so that
// transcripts can show the AUTH limits in clear.
const plainTLSNone = `name = "plain"
tls = "none"
auth = ["PLAIN"]
auth_plaintext = true`

func plain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

func ehloPlainAuth() string {
	return ehlo("client.test", "AUTH PLAIN")
}

// Issue 7 A4: failures are remembered across sessions. Five wrong
// passwords from one address, each in its own session, lock the address
// out: the sixth attempt, with the right password, gets 454 4.7.0
// without its password being checked, and the delays grew each time.
func TestTranscriptAuthLockoutAcrossSessions(t *testing.T) {
	mod, evPath := withEvents(t, events.Minimum)
	ts := startServer(t, plainTLSNone, mod)
	for range 5 {
		play(t, ts.addr, greeting+ehloPlainAuth()+`
C: AUTH PLAIN `+plain("alice@example.test", "guess")+`
S: 535 5.7.8 Authentication credentials invalid`)
	}
	play(t, ts.addr, greeting+ehloPlainAuth()+`
C: AUTH PLAIN `+plain("alice@example.test", "alice-secret")+`
S: 454 4.7.0 Temporary authentication failure (too many failed attempts; try again later)
C: MAIL FROM:<a@example.test>
S: 250 2.1.0 a@example.test....Sender OK
C: RCPT TO:<x@remote.test>
S: 550 5.7.1 Unable to relay for x@remote.test`)
	if got, want := ts.sleeps.all(), []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}; !equalDurations(got, want) {
		t.Errorf("delays %v, want %v", got, want)
	}
	recs := readEvents(t, evPath, events.AuthLockout)
	if len(recs) < 2 || recs[0].Fields["ip"] != "127.0.0.1" || recs[0].Fields["by"] != "client address" ||
		recs[0].Fields["failures"] != "5" || recs[0].Fields["account"] != "alice@example.test" || recs[1].Fields["account"] != "any account" {
		t.Fatalf("lockout events: %+v", recs)
	}
	// Another client address, the same right password: not locked.
	playFrom(t, "127.0.0.2", ts.addr, greeting+strings.ReplaceAll(ehloPlainAuth(), "[127.0.0.1]", "[127.0.0.2]")+`
C: AUTH PLAIN `+plain("alice@example.test", "alice-secret")+`
S: 235 2.7.0 Authentication successful`)
}

// Guessing one account from many addresses locks the account (from
// every address), but not the addresses' other accounts.
func TestTranscriptAuthLockoutByAccount(t *testing.T) {
	ts := startServer(t, plainTLSNone)
	ehloFrom := func(ip string) string {
		return greeting + strings.ReplaceAll(ehloPlainAuth(), "[127.0.0.1]", "["+ip+"]")
	}
	for i := 2; i < 12; i++ { // ten addresses, one wrong guess each
		ip := fmt.Sprintf("127.0.0.%d", i)
		playFrom(t, ip, ts.addr, ehloFrom(ip)+`
C: AUTH PLAIN `+plain("alice@example.test", "guess")+`
S: 535 5.7.8 Authentication credentials invalid`)
	}
	playFrom(t, "127.0.0.20", ts.addr, ehloFrom("127.0.0.20")+`
C: AUTH PLAIN `+plain("alice@example.test", "alice-secret")+`
S: 454 4.7.0 Temporary authentication failure (too many failed attempts; try again later)`)
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Issue 7 A7: an organization server that authenticated with X-EXPS and
// holds send-as may relay (a bridgehead depends on it), and the trace
// field says it authenticated (ESMTPA, RFC 3848).
func TestTranscriptOrgPeerMayRelay(t *testing.T) {
	mod, evPath := withEvents(t, events.Minimum)
	ts := startServerWith(t, orgBase, orgListener, withOrg(t, orgBase), mod)
	play(t, ts.addr, greeting+ehloOrg("mx1.org.test", true)+`
`+xexpsMX1+`C: MAIL FROM:<alice@example.test>
S: 250 2.1.0 alice@example.test....Sender OK
C: RCPT TO:<someone@external.test>
S: 250 2.1.5 someone@external.test
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
W: Subject: bridgehead\r\n\r\nx\r\n.\r\n
S~ 250 2\.6\.0 [0-9A-F]{19} Queued mail for delivery`)
	q := ts.queued(t)
	if len(q) != 1 {
		t.Fatalf("queued %d messages", len(q))
	}
	b, _ := os.ReadFile(filepath.Join(ts.dir, "queue", "active", q[0].ID))
	if !strings.Contains(string(b), "(mailward) with ESMTPA id "+q[0].ID) {
		t.Errorf("Received: does not say ESMTPA:\n%s", b)
	}

	// Not authenticated: a stranger, and the same server before X-EXPS,
	// may not relay; the event names who was refused.
	play(t, ts.addr, greeting+ehloOrg("mx1.org.test", true)+`
C: MAIL FROM:<alice@example.test>
S: 250 2.1.0 alice@example.test....Sender OK
C: RCPT TO:<someone@external.test>
S: 550 5.7.1 Unable to relay for someone@external.test`)
	if recs := readEvents(t, evPath, events.RelayDenied); len(recs) != 1 || recs[0].Fields["user"] != "(none)" {
		t.Errorf("relay denied events: %+v", recs)
	}
}

// A DENY send-as on the server takes the right to relay away too.
func TestTranscriptOrgPeerDeniedSendAsMayNotRelay(t *testing.T) {
	base := orgBase + "[[organization.permission]]\nright = \"send-as\"\nprincipal = \"mx1\"\ntype = \"deny\"\n"
	mod, evPath := withEvents(t, events.Minimum)
	ts := startServerWith(t, base, orgListener, withOrg(t, base), mod)
	play(t, ts.addr, greeting+ehloOrg("mx1.org.test", true)+`
`+xexpsMX1+`C: MAIL FROM:<alice@example.test>
S: 250 2.1.0 alice@example.test....Sender OK
C: RCPT TO:<someone@external.test>
S: 550 5.7.1 Unable to relay for someone@external.test`)
	if recs := readEvents(t, evPath, events.RelayDenied); len(recs) != 1 || recs[0].Fields["user"] != "organization server mx1" {
		t.Errorf("relay denied events: %+v", recs)
	}
}

// Issue 7 A8: the receiving side writes an event when it refuses
// XEXCH50 — who, under which EHLO name, and why — at level medium.
func TestTranscriptXEXCH50RefusedEvent(t *testing.T) {
	for _, tc := range []struct {
		level events.Level
		want  int
	}{{events.Minimum, 0}, {events.Medium, 1}} {
		mod, evPath := withEvents(t, tc.level)
		ts := startServerWith(t, orgBase, orgListener, withOrg(t, orgBase), mod)
		play(t, ts.addr, greeting+ehloOrg("mail.stranger.test", false)+`
C: MAIL FROM:<x@stranger.test>
S: 250 2.1.0 x@stranger.test....Sender OK
C: RCPT TO:<bob@example.test>
S: 250 2.1.5 bob@example.test
C: XEXCH50 100 2
S: 504 Need to authenticate first`)
		recs := readEvents(t, evPath, events.XEXCH50Refused)
		if len(recs) != tc.want {
			t.Fatalf("level %d: %d events 1713, want %d", tc.level, len(recs), tc.want)
		}
		if tc.want == 1 {
			f := recs[0].Fields
			if f["ip"] != "127.0.0.1" || f["helo"] != "mail.stranger.test" || !strings.Contains(f["reason"], "not a server of the organization") {
				t.Errorf("event fields: %v", f)
			}
		}
	}
}

// Issue 7 A12: a line of message text longer than max_data_line_length
// (998 + CRLF by default) is refused with 552 5.3.4; 998 is fine.
func TestTranscriptDataLineLimit(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"`)
	ok, long := strings.Repeat("a", 998), strings.Repeat("b", 999)
	play(t, ts.addr, greeting+ehloPlain+mailAlice+`W: Subject: fits\r\n\r\n`+ok+`\r\n.\r\n
S~ 250 2\.6\.0 [0-9A-F]{19} Queued mail for delivery
`+mailAlice+`W: Subject: too long\r\n\r\nshort\r\n`+long+`\r\nshort\r\n.\r\n
S: 552 5.3.4 Message refused: a line of 1001 octets is longer than 1000 (RFC 5321 section 4.5.3.1.6); encode long lines
C: RSET
S: 250 2.0.0 Resetting`)
	if n := len(ts.queued(t)); n != 1 {
		t.Fatalf("%d messages queued, want 1", n)
	}
}

// Issue 7 A1, receiving side: a message whose header already carries
// max_hops - 1 trace fields is accepted (ours makes max_hops); one more
// is a loop, refused with 554 5.4.6 (RFC 5321 §6.3).
func TestTranscriptHopLimit(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"`)
	hops := func(n int) string {
		return strings.Repeat(`Received: from a by b; Mon, 23 Nov 2026 04:53:47 +0000\r\n`, n-1) + `Delivered-To: x@example.test\r\n`
	}
	play(t, ts.addr, greeting+ehloPlain+mailAlice+`W: `+hops(29)+`Subject: 29\r\n\r\nReceived: in the body does not count\r\n.\r\n
S~ 250 2\.6\.0 [0-9A-F]{19} Queued mail for delivery
`+mailAlice+`W: `+hops(30)+`Subject: 30\r\n\r\nx\r\n.\r\n
S: 554 5.4.6 Too many hops (31, limit 30): mail loop? (RFC 5321 section 6.3)`)
	if n := len(ts.queued(t)); n != 1 {
		t.Fatalf("%d messages queued, want 1", n)
	}
}

// Issue 7 A2: a session has a command budget and a time budget, each
// ending it with its own 421 4.4.2.
func TestTranscriptSessionLimits(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"
max_commands = 3`)
	play(t, ts.addr, greeting+`C: NOOP
S: 250 2.0.0 OK
C: NOOP
S: 250 2.0.0 OK
C: NOOP
S: 250 2.0.0 OK
S: 421 4.4.2 mx1.example.test Too many commands (3) in one session, closing connection
CLOSED`)
	ts = startServer(t, `name = "default"
tls = "none"
max_session_duration = "1s"`)
	play(t, ts.addr, greeting+`C: NOOP
S: 250 2.0.0 OK
PAUSE 1200ms
C: NOOP
S: 421 4.4.2 mx1.example.test Session time limit (1s) exceeded, closing connection
CLOSED`)
}

// Issue 7 A2, slowloris: idle_timeout bounds a whole command line, so a
// client trickling a byte at a time is cut off when it runs out, not
// kept for as long as it keeps trickling.
func TestTranscriptSlowCommandLine(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"
idle_timeout = "1s"`)
	start := time.Now()
	play(t, ts.addr, greeting+`W: N
PAUSE 400ms
W: O
PAUSE 400ms
W: O
PAUSE 400ms
W: P
S: 421 4.4.2 mx1.example.test Idle timeout, closing connection
CLOSED`)
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("the trickling client was kept %v", el)
	}
}

// ...and the DATA phase must keep up min_data_rate.
func TestTranscriptSlowData(t *testing.T) {
	mod, evPath := withEvents(t, events.Minimum)
	ts := startServer(t, `name = "default"
tls = "none"
idle_timeout = "1s"
min_data_rate = 500`, mod)
	var drip strings.Builder
	for range 4 { // 1.2 s for 4 octets: the server gives up after about 1 s
		drip.WriteString("W: x\nPAUSE 300ms\n")
	}
	play(t, ts.addr, greeting+ehloPlain+mailAlice+drip.String()+`S: 421 4.4.2 mx1.example.test Timeout during DATA, closing connection
CLOSED`)
	if n := len(ts.queued(t)); n != 0 {
		t.Fatalf("%d messages queued from a timed-out DATA", n)
	}
	if recs := readEvents(t, evPath, events.DataTimeout); len(recs) != 1 || recs[0].Fields["rate"] != "500" {
		t.Fatalf("data timeout events: %+v", recs)
	}
}

// Under stress (80% of max_connections in use) every client gets
// stress_idle_timeout instead of idle_timeout.
func TestTranscriptStressIdleTimeout(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"
idle_timeout = "30s"
stress_idle_timeout = "1s"
max_connections = 5`)
	// Four quiet clients fill 80% of the slots...
	for range 4 {
		c := dialGreeted(t, ts.addr)
		defer c.Close()
	}
	// ...so a fifth that says nothing is let go within about a second.
	start := time.Now()
	play(t, ts.addr, greeting+`S: 421 4.4.2 mx1.example.test Idle timeout, closing connection
CLOSED`)
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("stressed virtual server kept an idle client %v", el)
	}
}
