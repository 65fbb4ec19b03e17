package smtp_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"mailward/events"
)

// The content filter's replies (docs/filtering.md, "Content filtering
// and the SCL"). rspamd's place is taken by a stand-in speaking its
// protocol, which scores a message as its X-Test-Score header says (as
// the tests' real rspamd does, internal/testkit StartRspamd), so that
// each reply is exact; the verdicts of a real rspamd are the e2e tests'
// (e2e/content_filter_test.go) and contentfilter's.

// fakeRspamd is the stand-in: it records each scan's headers.
type fakeRspamd struct {
	URL   string
	mu    sync.Mutex
	scans []http.Header
	delay time.Duration
}

func startFakeRspamd(t *testing.T, delay time.Duration) *fakeRspamd {
	t.Helper()
	f := &fakeRspamd{delay: delay}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.scans = append(f.scans, r.Header.Clone())
		f.mu.Unlock()
		if f.delay > 0 {
			select {
			case <-time.After(f.delay):
			case <-r.Context().Done():
				return
			}
		}
		score := 0.0
		for _, l := range strings.Split(string(b), "\r\n") {
			if v, ok := strings.CutPrefix(l, "X-Test-Score: "); ok {
				score, _ = strconv.ParseFloat(v, 64)
			}
		}
		action := "no action"
		if score >= 15 {
			action = "reject"
		}
		fmt.Fprintf(w, `{"is_skipped":false,"score":%g,"required_score":15.0,"action":%q,"symbols":{"MAILWARD_TEST_SCORE":{}}}`, score, action)
	}))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *fakeRspamd) Scans() []http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]http.Header(nil), f.scans...)
}

// contentBase is baseConfig with [content_filter] on url and extra keys.
func contentBase(url, extra string) string {
	return baseConfig + "\n[content_filter]\nrspamd_url = \"" + url + "\"\n" + extra + "\n"
}

// envelopeSCL is the scl line of a queue file's envelope, "" for none.
func envelopeSCL(file string) string {
	head, _, _ := strings.Cut(file, "\n\n")
	for _, l := range strings.Split(head, "\n") {
		if v, ok := strings.CutPrefix(l, "scl "); ok {
			return v
		}
	}
	return ""
}

func message(score string) string {
	return raw("Subject: test\r\nX-Test-Score: " + score + "\r\n\r\nhello\r\n.\r\n")
}

// At or above the gateway threshold: 550 5.7.1 before the 250, nothing
// stored, event 1063; the session goes on, and the next message, below
// it, is queued with its SCL in the envelope (scl 4: 7.5 is past
// rspamd's add_header score, 6, the default SCL 4).
func TestTranscriptContentGatewayAndSCL(t *testing.T) {
	rs := startFakeRspamd(t, 0)
	mod, evPath := withEvents(t, events.Medium)
	ts := startServerWith(t, contentBase(rs.URL, ""), `name = "default"
tls = "none"`, mod)
	play(t, ts.addr, greeting+ehloFilter+`C: MAIL FROM:<erin@partner.test>
S: 250 2.1.0 erin@partner.test....Sender OK
C: RCPT TO:<alice@example.test>
S: 250 2.1.5 alice@example.test
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
`+message("15")+`S: 550 5.7.1 Message refused as spam (SCL 7)
C: MAIL FROM:<erin@partner.test>
S: 250 2.1.0 erin@partner.test....Sender OK
C: RCPT TO:<alice@example.test>
S: 250 2.1.5 alice@example.test
C: RCPT TO:<bob@example.test>
S: 250 2.1.5 bob@example.test
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
`+message("7.5")+queuedRE+`C: QUIT
S: 221 2.0.0 mx1.example.test closing connection
`)
	q := ts.queued(t)
	if len(q) != 1 {
		t.Fatalf("%d messages queued, want the one below the gateway threshold", len(q))
	}
	if scl := envelopeSCL(ts.queueFile(t, q[0].ID)); scl != "4" {
		t.Errorf("envelope scl %q, want 4", scl)
	}
	recs := readEvents(t, evPath, events.ContentRefused)
	if len(recs) != 1 || recs[0].Fields["scl"] != "7" || recs[0].Fields["threshold"] != "7" {
		t.Errorf("event 1063: %+v", recs)
	}
	if recs := readEvents(t, evPath, events.ContentScanned); len(recs) != 1 || recs[0].Fields["queue_id"] != q[0].ID {
		t.Errorf("event 1062: %+v", recs)
	}
	scans := rs.Scans()
	if len(scans) != 2 {
		t.Fatalf("%d scans, want 2", len(scans))
	}
	h := scans[1]
	if h.Get("From") != "erin@partner.test" || strings.Join(h.Values("Rcpt"), ",") != "alice@example.test,bob@example.test" ||
		h.Get("IP") != "127.0.0.1" || h.Get("Helo") != "client.test" || h.Get("Queue-Id") != q[0].ID || h.Get("User") != "" {
		t.Errorf("envelope headers to rspamd: %v", h)
	}
}

// BDAT LAST takes the same path as DATA's final dot: refused at the
// gateway with the same reply, and nothing left in the spool.
func TestTranscriptContentGatewayBDAT(t *testing.T) {
	rs := startFakeRspamd(t, 0)
	ts := startServerWith(t, contentBase(rs.URL, ""), `name = "default"
tls = "none"`)
	play(t, ts.addr, greeting+ehloFilter+raw(envAlice+bdat("Subject: t\r\n", false))+envAliceReplies+
		`S: 250 2.0.0 12 octets received
`+raw(bdat("X-Test-Score: 20\r\n\r\nspam\r\n", true))+`S: 550 5.7.1 Message refused as spam (SCL 8)
C: QUIT
S: 221 2.0.0 mx1.example.test closing connection
`)
	if q := ts.queued(t); len(q) != 0 {
		t.Errorf("%d messages queued after the refusal", len(q))
	}
	ts.tmpEmpty(t, "no partial message left by the refused BDAT")
}

// rspamd slower than content_filter.timeout: with on_failure =
// "tempfail" the message gets 451 4.7.1 at the timeout (event 1065) and
// nothing is stored; with the default, "accept", it is queued without an
// SCL (event 1064). Neither waits for rspamd.
func TestTranscriptContentFailure(t *testing.T) {
	rs := startFakeRspamd(t, 30*time.Second)
	mod, evPath := withEvents(t, events.Minimum)
	ts := startServerWith(t, contentBase(rs.URL, "timeout = \"300ms\"\non_failure = \"tempfail\""), `name = "default"
tls = "none"`, mod)
	start := time.Now()
	play(t, ts.addr, greeting+ehloFilter+`C: MAIL FROM:<erin@partner.test>
S: 250 2.1.0 erin@partner.test....Sender OK
C: RCPT TO:<alice@example.test>
S: 250 2.1.5 alice@example.test
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
`+message("1")+`S: 451 4.7.1 Content filter unavailable, try again later
C: QUIT
S: 221 2.0.0 mx1.example.test closing connection
`)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the session took %s: it waited for rspamd past the timeout", d)
	}
	if q := ts.queued(t); len(q) != 0 {
		t.Errorf("%d messages queued after 451", len(q))
	}
	if recs := readEvents(t, evPath, events.ContentFailedClosed); len(recs) != 1 {
		t.Errorf("event 1065: %+v", recs)
	}

	mod2, evPath2 := withEvents(t, events.Minimum)
	ts2 := startServerWith(t, contentBase(rs.URL, "timeout = \"300ms\""), `name = "default"
tls = "none"`, mod2)
	play(t, ts2.addr, greeting+ehloFilter+`C: MAIL FROM:<erin@partner.test>
S: 250 2.1.0 erin@partner.test....Sender OK
C: RCPT TO:<alice@example.test>
S: 250 2.1.5 alice@example.test
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
`+message("1")+queuedRE+`C: QUIT
S: 221 2.0.0 mx1.example.test closing connection
`)
	q := ts2.queued(t)
	if len(q) != 1 {
		t.Fatalf("%d messages queued, want 1 (on_failure accept)", len(q))
	}
	if scl := envelopeSCL(ts2.queueFile(t, q[0].ID)); scl != "" {
		t.Errorf("envelope scl %q, want none (unknown)", scl)
	}
	if recs := readEvents(t, evPath2, events.ContentFailedOpen); len(recs) != 1 || recs[0].Fields["queue_id"] != q[0].ID {
		t.Errorf("event 1064: %+v", recs)
	}
}

// An authenticated submission is not scanned: SCL -1, as Exchange gives
// it, even with a score that would be refused.
func TestTranscriptContentAuthenticatedNotScanned(t *testing.T) {
	rs := startFakeRspamd(t, 0)
	ts := startServerWith(t, contentBase(rs.URL, ""), `name = "default"
tls = "none"
auth = ["PLAIN"]
auth_plaintext = true
relay_authenticated = true`)
	play(t, ts.addr, greeting+ehloPlainAuth()+`C: AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1zZWNyZXQ=
S: 235 2.7.0 Authentication successful
C: MAIL FROM:<alice@example.test>
S: 250 2.1.0 alice@example.test....Sender OK
C: RCPT TO:<bob@example.test>
S: 250 2.1.5 bob@example.test
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
`+message("20")+queuedRE+`C: QUIT
S: 221 2.0.0 mx1.example.test closing connection
`)
	if n := len(rs.Scans()); n != 0 {
		t.Errorf("%d scans of an authenticated submission", n)
	}
	q := ts.queued(t)
	if len(q) != 1 || envelopeSCL(ts.queueFile(t, q[0].ID)) != "-1" {
		t.Errorf("queued %d, scl %q; want 1 with scl -1", len(q), envelopeSCL(ts.queueFile(t, q[0].ID)))
	}
}

// A message larger than content_filter.max_size is not scanned: queued
// with its SCL unknown, and event 1068.
func TestTranscriptContentTooLargeNotScanned(t *testing.T) {
	rs := startFakeRspamd(t, 0)
	mod, evPath := withEvents(t, events.Medium)
	ts := startServerWith(t, contentBase(rs.URL, "max_size = 100"), `name = "default"
tls = "none"`, mod)
	play(t, ts.addr, greeting+ehloFilter+`C: MAIL FROM:<erin@partner.test>
S: 250 2.1.0 erin@partner.test....Sender OK
C: RCPT TO:<alice@example.test>
S: 250 2.1.5 alice@example.test
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
`+message("20")+queuedRE+`C: QUIT
S: 221 2.0.0 mx1.example.test closing connection
`)
	if n := len(rs.Scans()); n != 0 {
		t.Errorf("%d scans of a message over max_size", n)
	}
	if recs := readEvents(t, evPath, events.ContentNotScanned); len(recs) != 1 {
		t.Errorf("event 1068: %+v", recs)
	}
}

// Organization mail (KB843106): a peer authenticated with X-EXPS whose
// XEXCH50 properties carry an SCL is not scanned — even with a score
// that would be refused — and the message keeps that SCL (3).
func TestTranscriptContentOrgPeerTrusted(t *testing.T) {
	rs := startFakeRspamd(t, 0)
	base := orgBase + "\n[content_filter]\nrspamd_url = \"" + rs.URL + "\"\n"
	ts := startServerWith(t, base, orgListener, withOrg(t, base))
	p := blob(t) // SCL 3
	play(t, ts.addr, greeting+ehloOrg("mx1.org.test", true)+`C: X-EXPS LOGIN
S: 334 VXNlcm5hbWU6
C: `+b64("mx1")+`
S: 334 UGFzc3dvcmQ6
C: `+b64("mx1-secret")+`
S: 235 2.7.0 Authentication successful
C: MAIL FROM:<erin@partner.test>
S: 250 2.1.0 erin@partner.test....Sender OK
C: RCPT TO:<bob@example.test>
S: 250 2.1.5 bob@example.test
`+xexch50(p)+`C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
`+message("20")+queuedRE)
	if n := len(rs.Scans()); n != 0 {
		t.Errorf("%d scans of organization mail with an SCL", n)
	}
	q := ts.queued(t)
	if len(q) != 1 || envelopeSCL(ts.queueFile(t, q[0].ID)) != "3" {
		t.Fatalf("want one message queued with the peer's scl 3")
	}
}

// KB843106's symptom: a server that is not recognized (its EHLO name is
// not the organization's) gets 504 on XEXCH50 and sends the message
// anyway, without its properties. It is scanned as mail from outside —
// here refused at the gateway — and event 1066 names the lost
// properties.
func TestTranscriptContentRescanAfterXEXCH50Refused(t *testing.T) {
	rs := startFakeRspamd(t, 0)
	base := orgBase + "\n[content_filter]\nrspamd_url = \"" + rs.URL + "\"\n"
	mod, evPath := withEvents(t, events.Minimum)
	ts := startServerWith(t, base, orgListener, withOrg(t, base), mod)
	play(t, ts.addr, greeting+ehloOrg("mx1.org.local", false)+`C: MAIL FROM:<erin@partner.test>
S: 250 2.1.0 erin@partner.test....Sender OK
C: RCPT TO:<bob@example.test>
S: 250 2.1.5 bob@example.test
C: XEXCH50 100 2
S: 504 Need to authenticate first
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
`+message("20")+`S: 550 5.7.1 Message refused as spam (SCL 8)
C: QUIT
S: 221 2.0.0 mx1.example.test closing connection
`)
	if n := len(rs.Scans()); n != 1 {
		t.Errorf("%d scans, want 1", n)
	}
	if recs := readEvents(t, evPath, events.ContentRescanned); len(recs) != 1 || recs[0].Fields["helo"] != "mx1.org.local" {
		t.Errorf("event 1066: %+v", recs)
	}
}
