package smtp_test

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
	"mailward/protolog"
	"mailward/smtp"
)

// withProtoLog gives the server a protocol log and returns its path.
func withProtoLog(t *testing.T) (func(*smtp.Options), string) {
	path := filepath.Join(t.TempDir(), "protocol.log")
	l, err := protolog.Open(protolog.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return func(o *smtp.Options) { o.ProtocolLog = l }, path
}

var protoLineRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (S[0-9a-f]+-\d+) 127\.0\.0\.1:\d+ ([<>=]) (.*)$`)

// protoLines reads the log as "dir text" lines, checking every line's
// time, session ID (one for the whole file) and peer.
func protoLines(t *testing.T, path string) []string {
	t.Helper()
	sessions := splitSessions(t, path)
	if len(sessions) != 1 {
		t.Fatalf("%d session IDs in the protocol log, want 1", len(sessions))
	}
	return sessions[0]
}

// matchLines compares log lines with expected ones; a "~" line is a
// regular expression.
func matchLines(t *testing.T, got []string, want string) {
	t.Helper()
	w := strings.Split(strings.TrimSpace(want), "\n")
	if len(got) != len(w) {
		t.Fatalf("protocol log has %d lines, want %d:\n%s", len(got), len(w), strings.Join(got, "\n"))
	}
	for i := range w {
		ok := got[i] == w[i]
		if re, isRE := strings.CutPrefix(w[i], "~"); isRE {
			ok = regexp.MustCompile("^" + re + "$").MatchString(got[i])
		}
		if !ok {
			t.Fatalf("protocol log line %d:\n got %q\nwant %q\nwhole log:\n%s", i+1, got[i], w[i], strings.Join(got, "\n"))
		}
	}
}

// noSecrets fails if any of the secrets is in the file, in any form.
func noSecrets(t *testing.T, path string, secrets ...string) {
	t.Helper()
	b, _ := os.ReadFile(path)
	for _, s := range secrets {
		if strings.Contains(string(b), s) {
			t.Fatalf("protocol log contains secret %q:\n%s", s, b)
		}
	}
}

// A user session: AUTH PLAIN with an initial response, AUTH LOGIN's
// continuation lines, a message by DATA and one by BDAT. The log has
// every command and reply, with the secrets masked and no message text.
func TestProtocolLogUserSession(t *testing.T) {
	withLog, path := withProtoLog(t)
	ts := startServer(t, `name = "default"
tls = "none"
auth = ["PLAIN", "LOGIN"]
auth_plaintext = true`, withLog)
	// The EHLO reply's lines are the transcripts' business; here only
	// their count, for the log's.
	anyEHLO := "C: EHLO client.test\n" + strings.Repeat("S~ 250-.*\n", 9) + "S~ 250 .*\n"
	plain := base64.StdEncoding.EncodeToString([]byte("\x00alice@example.test\x00alice-secret"))
	body1 := "Subject: first-body-marker\r\n\r\nconfidential-data-text\r\n"
	body2 := "Subject: second-body-marker\r\n\r\nconfidential-bdat-text\r\n"
	play(t, ts.addr, greeting+anyEHLO+`
C: AUTH PLAIN `+plain+`
S: 235 2.7.0 Authentication successful
C: MAIL FROM:<alice@example.test>
S: 250 2.1.0 alice@example.test....Sender OK
C: RCPT TO:<bob@example.test>
S: 250 2.1.5 bob@example.test
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
W: `+strings.ReplaceAll(body1, "\r\n", `\r\n`)+`.\r\n
`+queuedRE+`C: RSET
S: 250 2.0.0 Resetting
`+raw("MAIL FROM:<a@example.test>\r\nRCPT TO:<alice@example.test>\r\n"+fmt.Sprintf("BDAT %d LAST\r\n", len(body2))+body2)+`S: 250 2.1.0 a@example.test....Sender OK
S: 250 2.1.5 alice@example.test
`+queuedRE+`C: QUIT
S~ 221 .*`)
	// A second connection for AUTH LOGIN, whose secrets are
	// continuation lines.
	play(t, ts.addr, greeting+anyEHLO+`
C: AUTH LOGIN
S: 334 VXNlcm5hbWU6
C: `+b64("alice@example.test")+`
S: 334 UGFzc3dvcmQ6
C: `+b64("alice-secret")+`
S: 235 2.7.0 Authentication successful
C: QUIT
S~ 221 .*`)
	waitClosed(t, path, 2)
	sessions := splitSessions(t, path)
	if len(sessions) != 2 {
		t.Fatalf("%d sessions in the log, want 2", len(sessions))
	}
	ehlo := "~> 250-mx1\\.example\\.test Hello client\\.test \\[127\\.0\\.0\\.1\\]\n" + strings.Repeat("~> 250-.*\n", 8) + "~> 250 .*\n"
	matchLines(t, sessions[0], `
= virtual server default
~> 220 mx1\.example\.test ESMTP mailward ready at .*
< EHLO client.test
`+ehlo+`< AUTH PLAIN ***
> 235 2.7.0 Authentication successful
< MAIL FROM:<alice@example.test>
> 250 2.1.0 alice@example.test....Sender OK
< RCPT TO:<bob@example.test>
> 250 2.1.5 bob@example.test
< DATA
> 354 Start mail input; end with <CRLF>.<CRLF>
< [message data, `+fmt.Sprint(len(body1))+` octets, not logged]
~> 250 2\.6\.0 [0-9A-F]{19} Queued mail for delivery
< RSET
> 250 2.0.0 Resetting
< MAIL FROM:<a@example.test>
> 250 2.1.0 a@example.test....Sender OK
< RCPT TO:<alice@example.test>
> 250 2.1.5 alice@example.test
< BDAT `+fmt.Sprint(len(body2))+` LAST
~> 250 2\.6\.0 [0-9A-F]{19} Queued mail for delivery
< QUIT
~> 221 .*
= closed`)
	matchLines(t, sessions[1], `
= virtual server default
~> 220 .*
< EHLO client.test
`+ehlo+`< AUTH LOGIN
> 334 ***
< ***
> 334 ***
< ***
> 235 2.7.0 Authentication successful
< QUIT
~> 221 .*
= closed`)
	noSecrets(t, path, plain, "alice-secret", b64("alice-secret"), b64("alice@example.test"),
		"first-body-marker", "confidential-data-text", "second-body-marker", "confidential-bdat-text")
}

// waitClosed waits until n sessions have logged their end (after the
// client saw QUIT's reply).
func waitClosed(t *testing.T, path string, n int) {
	testkit.WaitFor(t, 10*time.Second, fmt.Sprintf("%d sessions closed in the protocol log", n), func() bool {
		b, _ := os.ReadFile(path)
		return strings.Count(string(b), " = closed") >= n
	})
}

// splitSessions groups the log's lines by session ID, in order of
// appearance, as "dir text" lines.
func splitSessions(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	by := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		m := protoLineRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("malformed protocol log line %q", l)
		}
		if _, ok := by[m[1]]; !ok {
			order = append(order, m[1])
		}
		by[m[1]] = append(by[m[1]], m[2]+" "+m[3])
	}
	var out [][]string
	for _, id := range order {
		out = append(out, by[id])
	}
	return out
}

// An organization server authenticates with X-EXPS LOGIN (user and
// secret masked) and passes an XEXCH50 blob (only its command and size
// are logged).
func TestProtocolLogXEXPSAndXEXCH50(t *testing.T) {
	withLog, path := withProtoLog(t)
	ts := startServerWith(t, orgBase, orgListener, withOrg(t, orgBase), withLog)
	p := blob(t)
	play(t, ts.addr, greeting+ehloOrg("mx1.org.test", true)+`
`+xexpsMX1+`C: MAIL FROM:<alice@example.test>
S: 250 2.1.0 alice@example.test....Sender OK
C: RCPT TO:<bob@example.test>
S: 250 2.1.5 bob@example.test
`+xexch50(p)+`C: QUIT
S~ 221 .*`)
	waitClosed(t, path, 1)
	lines := protoLines(t, path)
	got := strings.Join(lines, "\n")
	for _, want := range []string{"< X-EXPS LOGIN ***\n> 334 ***\n< ***\n> 235 2.7.0 Authentication successful",
		"< XEXCH50 " + fmt.Sprint(len(p)) + " 2\n> 354 Send binary data\n> 250 2.0.0 XEXCH50 OK\n< QUIT"} {
		if !strings.Contains(got, want) {
			t.Fatalf("protocol log lacks\n%s\nwhole log:\n%s", want, got)
		}
	}
	noSecrets(t, path, "mx1-secret", b64("mx1-secret"), b64("mx1"))
}

// STARTTLS is noted with the protocol version and cipher, and a command
// line over the limit is noted, not written.
func TestProtocolLogTLSAndLongLine(t *testing.T) {
	withLog, path := withProtoLog(t)
	ts := startServer(t, submission, withLog)
	long := "NOOP " + strings.Repeat("long-line-marker", 100)
	play(t, ts.addr, greeting+ehloBeforeTLS+`
C: STARTTLS
S: 220 2.0.0 Ready to start TLS
TLS
`+ehloAfterTLS+`
C: `+long+`
S~ 500 5\.5\.2 Line too long .*
C: QUIT
S~ 221 .*`)
	waitClosed(t, path, 1)
	lines := strings.Join(protoLines(t, path), "\n")
	for _, want := range []string{"< STARTTLS\n> 220 2.0.0 Ready to start TLS\n= TLS started: TLS 1.3 TLS_", "= line too long, not logged\n> 500 5.5.2 Line too long"} {
		if !strings.Contains(lines, want) {
			t.Fatalf("protocol log lacks %q:\n%s", want, lines)
		}
	}
	if strings.Contains(lines, "long-line-marker") {
		t.Fatal("the over-long line was written")
	}
}
