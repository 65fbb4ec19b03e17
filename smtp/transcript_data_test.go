package smtp_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
	"mailward/smtp"
)

const mailAlice = `C: MAIL FROM:<a@example.test>
S: 250 2.1.0 a@example.test....Sender OK
C: RCPT TO:<alice@example.test>
S: 250 2.1.5 alice@example.test
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
`

// content returns the stored message (after the envelope) of the only
// queued message.
func (ts *testServer) content(t *testing.T) string {
	t.Helper()
	q := ts.queued(t)
	if len(q) != 1 {
		t.Fatalf("want exactly 1 queued message, have %d", len(q))
	}
	_, body, _ := strings.Cut(ts.queueFile(t, q[0].ID), "\n\n")
	return body
}

func TestTranscriptDataStored(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"`)
	play(t, ts.addr, greeting+ehloPlain+mailAlice+`
W: Subject: t\r\n\r\n..leading dot\r\n..\r\nlast\r\n.\r\n
S~ 250 2\.6\.0 [0-9A-F]{19} Queued mail for delivery
C: QUIT
S: 221 2.0.0 mx1.example.test closing connection`)
	body := ts.content(t)
	if !strings.HasPrefix(body, "Received: from client.test ([127.0.0.1])\r\n\tby mx1.example.test (mailward) with ESMTP id ") ||
		!strings.Contains(body, "\r\n\tfor <alice@example.test>; ") {
		t.Fatalf("Received header wrong:\n%q", body)
	}
	_, msg, _ := strings.Cut(body, "\r\nSubject:")
	if want := " t\r\n\r\n.leading dot\r\n.\r\nlast\r\n"; msg != want {
		t.Fatalf("dot-unstuffing: got %q want %q", msg, want)
	}
}

// SMTP smuggling: every "end of data" spelling other than CRLF.CRLF is
// content. With bare_lf = reject (the default) the message carrying it
// is refused as a whole and the smuggled commands never run.
func TestTranscriptSmugglingRejected(t *testing.T) {
	ends := map[string]string{
		"LF.LF":     `\n.\n`,
		"LF.CRLF":   `\n.\r\n`,
		"CRLF.LF":   `\r\n.\n`,
		"CR.CR":     `\r.\r`,
		"CR.CRLF":   `\r.\r\n`,
		"CRLF.CR":   `\r\n.\r`,
		"LF.LF-nul": `\n.\n\x00`,
	}
	for name, end := range ends {
		t.Run(name, func(t *testing.T) {
			ts := startServer(t, `name = "default"
tls = "none"`)
			play(t, ts.addr, greeting+ehloPlain+mailAlice+`
W: Subject: smuggle\r\n\r\nhello`+end+`MAIL FROM:<evil@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n
S~ 550 5\.6\.0 Message refused: (bare LF|bare CR|bare LF and bare CR) in message text; lines must end with CRLF \(RFC 5321 section 2\.3\.8\)
C: NOOP
S: 250 2.0.0 OK
C: RCPT TO:<bob@example.test>
S: 503 5.5.1 Need MAIL before RCPT`)
			if q := ts.queued(t); len(q) != 0 {
				t.Fatalf("smuggling produced queued messages: %+v", q)
			}
		})
	}
}

// With bare_lf = normalize a legacy client's LF lines are stored as CRLF,
// but they still never end the message: one message, smuggled text inside.
func TestTranscriptSmugglingNormalized(t *testing.T) {
	ts := startServer(t, `name = "legacy"
tls = "none"
bare_lf = "normalize"`)
	play(t, ts.addr, greeting+ehloPlain+mailAlice+`
W: Subject: legacy\n\nline one\n.\nMAIL FROM:<evil@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nx\r\n.\r\n
S~ 250 2\.6\.0 [0-9A-F]{19} Queued mail for delivery
C: RCPT TO:<bob@example.test>
S: 503 5.5.1 Need MAIL before RCPT`)
	q := ts.queued(t)
	if len(q) != 1 || len(q[0].Recipients) != 1 || q[0].Recipients[0].Addr != "alice@example.test" {
		t.Fatalf("queued: %+v", q)
	}
	body := ts.content(t)
	if !strings.Contains(body, "Subject: legacy\r\n\r\nline one\r\n.\r\nMAIL FROM:<evil@example.test>\r\n") || strings.Contains(body, "\n\n") {
		t.Fatalf("normalized content wrong: %q", body)
	}
}

func TestTranscriptDataRefusals(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"
max_message_size = 100`)
	play(t, ts.addr, greeting+`C: EHLO client.test
S: 250-mx1.example.test Hello client.test [127.0.0.1]
S: 250-PIPELINING
S: 250-SIZE 100
S: 250-8BITMIME
S: 250-CHUNKING
S: 250-ENHANCEDSTATUSCODES
S: 250-SMTPUTF8
S: 250-DSN
S: 250 HELP
C: MAIL FROM:<a@example.test> SIZE=101
S: 552 5.3.4 Message size exceeds fixed maximum message size (100)
`+mailAlice+`
W: Subject: big\r\n\r\n`+strings.Repeat("0123456789", 12)+`\r\n.\r\n
S: 552 5.3.4 Message size exceeds fixed maximum message size (100)
`+mailAlice+`
W: Subject: nul\r\n\r\nx\x00y\r\n.\r\n
S: 550 5.6.0 Message refused: NUL octet in message text (RFC 5321 section 2.3.8)
`+mailAlice+`
W: Subject: fits\r\n\r\nsmall\r\n.\r\n
S~ 250 2\.6\.0 [0-9A-F]{19} Queued mail for delivery`)
	if q := ts.queued(t); len(q) != 1 {
		t.Fatalf("want only the fitting message queued, have %+v", q)
	}
}

// A client that vanishes in the middle of DATA leaves nothing behind.
func TestTranscriptDataConnectionLost(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"`)
	play(t, ts.addr, greeting+ehloPlain+mailAlice+`W: Subject: cut\r\n\r\nhalf a message`)
	// play closed the connection; wait for the session to notice.
	testkit.WaitFor(t, 5*time.Second, "the session to remove its partial message", func() bool {
		ents, _ := os.ReadDir(filepath.Join(ts.dir, "queue", "tmp"))
		return len(ents) == 0
	})
	if q := ts.queued(t); len(q) != 0 {
		t.Fatalf("a message without end of data was queued: %+v", q)
	}
}

// failingSpool makes the queue fail at a chosen step.
type failingSpool struct {
	createErr, commitErr error
	inner                smtp.Spool
}

func (f failingSpool) Create(env *queueEnvelope) (smtp.MessageWriter, error) {
	if f.createErr != nil {
		return nil, f.createErr
	}
	w, err := f.inner.Create(env)
	if err != nil {
		return nil, err
	}
	return failingWriter{w, f.commitErr}, nil
}

type failingWriter struct {
	smtp.MessageWriter
	err error
}

func (w failingWriter) Commit() error {
	if w.err != nil {
		w.MessageWriter.Abort()
		return w.err
	}
	return w.MessageWriter.Commit()
}

var _ io.Writer = failingWriter{}
