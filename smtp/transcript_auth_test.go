package smtp_test

import (
	"fmt"
	"strings"
	"testing"
)

// ehloTLSBefore/After: the submission virtual server before and after STARTTLS.
var ehloBeforeTLS = ehlo("client.test", "STARTTLS")

var ehloAfterTLS = ehlo("client.test", "AUTH PLAIN LOGIN")

const submission = `name = "submission"
tls = "required"
auth = ["PLAIN", "LOGIN"]
relay_authenticated = true`

// RFC 3207 + RFC 4954 on the submission virtual server: TLS first, then AUTH,
// then relay; everything learnt before TLS is forgotten.
func TestTranscriptSubmission(t *testing.T) {
	ts := startServer(t, submission)
	play(t, ts.addr, greeting+ehloBeforeTLS+`
C: AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1zZWNyZXQ=
S: 538 5.7.11 Encryption required for requested authentication mechanism
C: MAIL FROM:<alice@example.test>
S: 530 5.7.0 Must issue a STARTTLS command first
C: STARTTLS now
S: 501 5.5.4 Syntax: STARTTLS
C: STARTTLS
S: 220 2.0.0 Ready to start TLS
TLS
C: MAIL FROM:<alice@example.test>
S: 503 5.5.1 Send EHLO/HELO first
`+ehloAfterTLS+`
C: STARTTLS
S: 503 5.5.1 TLS already active
C: MAIL FROM:<alice@example.test>
S: 250 2.1.0 alice@example.test....Sender OK
C: RCPT TO:<friend@remote.test>
S: 550 5.7.1 Unable to relay for friend@remote.test
C: AUTH LOGIN
S: 503 5.5.1 AUTH not permitted during a mail transaction
C: RSET
S: 250 2.0.0 Resetting
C: AUTH CRAM-MD5
S: 504 5.5.4 Unrecognized authentication type
C: AUTH LOGIN
S: 334 VXNlcm5hbWU6
C: YWxpY2VAZXhhbXBsZS50ZXN0
S: 334 UGFzc3dvcmQ6
C: YWxpY2Utc2VjcmV0
S: 235 2.7.0 Authentication successful
C: AUTH PLAIN
S: 503 5.5.1 Already authenticated
C: MAIL FROM:<alice@example.test>
S: 250 2.1.0 alice@example.test....Sender OK
C: RCPT TO:<friend@remote.test>
S: 250 2.1.5 friend@remote.test
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
W: Subject: submitted\r\n\r\nhi\r\n.\r\n
S~ 250 2\.6\.0 [0-9A-F]{19} Queued mail for delivery`)
	q := ts.queued(t)
	if len(q) != 1 || q[0].Recipients[0].Addr != "friend@remote.test" {
		t.Fatalf("queued: %+v", q)
	}
	// RFC 3848: TLS and AUTH show in the protocol keyword.
	if body := ts.content(t); !strings.Contains(body, "(mailward) with ESMTPSA id ") {
		t.Fatalf("Received header does not say ESMTPSA: %q", body)
	}
}

// Failed AUTH: 535 5.7.8 after a delay that doubles per failure from the
// same address; PLAIN challenge form, cancel, and bad encodings.
func TestTranscriptAuthFailures(t *testing.T) {
	ts := startServer(t, submission)
	play(t, ts.addr, greeting+`C: STARTTLS
S: 220 2.0.0 Ready to start TLS
TLS
`+ehloAfterTLS+`
C: AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAB3cm9uZw==
S: 535 5.7.8 Authentication credentials invalid
C: AUTH PLAIN
S: 334 
C: AG5vYm9keUBleGFtcGxlLnRlc3QAYWxpY2Utc2VjcmV0
S: 535 5.7.8 Authentication credentials invalid
C: AUTH LOGIN
S: 334 VXNlcm5hbWU6
C: *
S: 501 5.0.0 Authentication cancelled
C: AUTH PLAIN !!!notbase64
S: 501 5.5.2 Cannot decode response
C: AUTH PLAIN Ym9i
S: 501 5.5.2 Malformed PLAIN response
C: AUTH PLAIN Ym9iAGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1zZWNyZXQ=
S: 535 5.7.8 Authorization identity not permitted
C: AUTH LOGIN YWxpY2VAZXhhbXBsZS50ZXN0
S: 334 UGFzc3dvcmQ6
C: d3Jvbmc=
S: 535 5.7.8 Authentication credentials invalid
C: AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1zZWNyZXQ=
S: 235 2.7.0 Authentication successful`)
	// Three wrong passwords: 1s, 2s, 4s (auth_failure_delay doubling).
	if got, want := fmt.Sprint(ts.sleeps.all()), "[1s 2s 4s]"; got != want {
		t.Fatalf("auth delays %s, want %s", got, want)
	}
}

// CVE-2011-0411: commands pipelined behind STARTTLS arrived in plaintext
// and are discarded, not executed inside the TLS session.
func TestTranscriptStartTLSInjection(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "starttls"`)
	play(t, ts.addr, greeting+ehloBeforeTLS+`
W: STARTTLS\r\nMAIL FROM:<evil@example.test>\r\n
S: 220 2.0.0 Ready to start TLS
TLS
`+ehloPlain+`C: RCPT TO:<alice@example.test>
S: 503 5.5.1 Need MAIL before RCPT`)
}
