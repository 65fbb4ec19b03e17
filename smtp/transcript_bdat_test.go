package smtp_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailward/events"
	"mailward/internal/testkit"
)

// CHUNKING (RFC 3030): BDAT's replies, and what each leaves in the queue.

// raw is a W: transcript line sending s exactly.
func raw(s string) string {
	q := strconv.Quote(s)
	return "W: " + q[1:len(q)-1] + "\n"
}

// bdat is the wire form of one chunk: the command and its octets.
func bdat(chunk string, last bool) string {
	if last {
		return fmt.Sprintf("BDAT %d LAST\r\n%s", len(chunk), chunk)
	}
	return fmt.Sprintf("BDAT %d\r\n%s", len(chunk), chunk)
}

const envAlice = "MAIL FROM:<a@example.test>\r\nRCPT TO:<alice@example.test>\r\n"

const envAliceReplies = `S: 250 2.1.0 a@example.test....Sender OK
S: 250 2.1.5 alice@example.test
`

const queuedRE = `S~ 250 2\.6\.0 [0-9A-F]{19} Queued mail for delivery
`

// stored is the only queued message's content after our Received: field.
func (ts *testServer) stored(t *testing.T) string {
	t.Helper()
	body := ts.content(t)
	if !strings.HasPrefix(body, "Received: from client.test ([127.0.0.1])\r\n\tby mx1.example.test (mailward) with ESMTP id ") {
		t.Fatalf("no Received: field of ours: %q", body)
	}
	_, rest, ok := strings.Cut(body, " +0000\r\n")
	if !ok {
		t.Fatalf("Received: field unterminated: %q", body)
	}
	return rest
}

// tmpEmpty waits for the queue's tmp/ to hold no partial message.
func (ts *testServer) tmpEmpty(t *testing.T, what string) {
	t.Helper()
	testkit.WaitFor(t, 5*time.Second, what, func() bool {
		ents, _ := os.ReadDir(filepath.Join(ts.dir, "queue", "tmp"))
		return len(ents) == 0
	})
}

// One chunk: the octets are the message, unchanged: a line "." or ".."
// is content (no dot-stuffing), and "." CRLF does not end anything.
func TestTranscriptBdatSingleChunk(t *testing.T) {
	withEv, evPath := withEvents(t, events.Maximum)
	ts := startServer(t, `name = "default"
tls = "none"`, withEv)
	msg := "Subject: chunk\r\n\r\n.\r\n..two\r\n.\r\nQUIT\r\n"
	play(t, ts.addr, greeting+ehloPlain+raw(envAlice+bdat(msg, true))+envAliceReplies+queuedRE+`
C: NOOP
S: 250 2.0.0 OK`)
	if got := ts.stored(t); got != msg {
		t.Fatalf("stored %q, sent %q", got, msg)
	}
	recs := readEvents(t, evPath, events.BdatReceived)
	if len(recs) != 1 || recs[0].Fields["chunks"] != "1" || recs[0].Fields["octets"] != strconv.Itoa(len(msg)) {
		t.Fatalf("event 1051: %+v", recs)
	}
}

// Several chunks in one write with the envelope (PIPELINING): one reply
// per chunk, in order; a CRLF cut between two chunks is no bare CR; BDAT
// 0 LAST ends the message.
func TestTranscriptBdatPipelinedChunks(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"`)
	parts := []string{"Subject: p\r", "\n\r\nfirst line\r\nsec", "ond line\r\n"}
	play(t, ts.addr, greeting+ehloPlain+
		raw("MAIL FROM:<a@example.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\n"+
			bdat(parts[0], false)+bdat(parts[1], false)+bdat(parts[2], false)+bdat("", true)+"NOOP\r\n")+`
S: 250 2.1.0 a@example.test....Sender OK
S: 250 2.1.5 alice@example.test
S: 250 2.1.5 bob@example.test
S: 250 2.0.0 11 octets received
S: 250 2.0.0 18 octets received
S: 250 2.0.0 10 octets received
`+queuedRE+`S: 250 2.0.0 OK`)
	if got, want := ts.stored(t), strings.Join(parts, ""); got != want {
		t.Fatalf("stored %q, sent %q", got, want)
	}
	if q := ts.queued(t); len(q[0].Recipients) != 2 {
		t.Fatalf("recipients: %+v", q[0].Recipients)
	}
}

// BDAT 0 LAST as the only chunk: an empty message (our Received: field
// only), accepted as an empty DATA is.
func TestTranscriptBdatZeroLast(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"`)
	play(t, ts.addr, greeting+ehloPlain+raw(envAlice+"BDAT 0 LAST\r\n")+envAliceReplies+queuedRE)
	if got := ts.stored(t); got != "" {
		t.Fatalf("stored %q, want nothing after Received:", got)
	}
}

// Past max_message_size: 552 to the chunk that goes over, whose octets
// are still read; the transaction is over, so a chunk already pipelined
// after it gets 503 and is read too; the session goes on in step, and
// nothing is left on disk.
func TestTranscriptBdatSizeExceeded(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"
max_message_size = 100`)
	chunk := strings.Repeat("0123456789", 6)
	play(t, ts.addr, greeting+`C: EHLO client.test
S~ 250-.*
S~ 250-.*
S: 250-SIZE 100
S~ 250-.*
S: 250-CHUNKING
S~ 250-.*
S~ 250-.*
S~ 250-.*
S: 250 HELP
`+raw(envAlice+bdat(chunk, false)+bdat(chunk, false)+bdat("tail\r\n", true)+"NOOP\r\n")+envAliceReplies+`
S: 250 2.0.0 60 octets received
S: 552 5.3.4 Message size exceeds fixed maximum message size (100)
S: 503 5.5.1 Need MAIL command
S: 250 2.0.0 OK
`+raw(envAlice+bdat("Subject: fits\r\n\r\nsmall\r\n", true))+envAliceReplies+queuedRE)
	if q := ts.queued(t); len(q) != 1 {
		t.Fatalf("want only the fitting message queued, have %+v", q)
	}
	ts.tmpEmpty(t, "the refused message's chunks to be removed")
}

// DATA after BDAT in one transaction is refused (RFC 3030 section 2), as
// are RCPT and XEXCH50 once the envelope is on disk; the transaction
// stays, and BDAT goes on.
func TestTranscriptBdatThenData(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"`)
	play(t, ts.addr, greeting+ehloPlain+raw(envAlice+bdat("Subject: d\r\n", false))+envAliceReplies+`
S: 250 2.0.0 12 octets received
C: DATA
S: 503 5.5.1 DATA not permitted after BDAT in the same transaction; use BDAT, or RSET
C: RCPT TO:<bob@example.test>
S: 503 5.5.1 RCPT not permitted after BDAT in the same transaction
C: XEXCH50 10 2
S: 503 5.5.1 XEXCH50 not permitted after BDAT in the same transaction
`+raw(bdat("\r\nbody\r\n", true))+queuedRE)
	if got := ts.stored(t); got != "Subject: d\r\n\r\nbody\r\n" {
		t.Fatalf("stored %q", got)
	}
}

// BDAT out of sequence: before MAIL 503, without an accepted recipient
// 554 (as DATA), after LAST 503 (RFC 3030 section 2); each chunk's
// octets are read, so the next command is understood.
func TestTranscriptBdatOutOfSequence(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"`)
	play(t, ts.addr, greeting+ehloPlain+raw(bdat("RSET\r\n", true))+`
S: 503 5.5.1 Need MAIL command
C: MAIL FROM:<a@example.test>
S: 250 2.1.0 a@example.test....Sender OK
C: RCPT TO:<nobody@example.test>
S: 550 5.1.1 nobody@example.test... User unknown
`+raw(bdat("QUIT\r\n", false))+`S: 554 5.5.1 No valid recipients
C: RCPT TO:<alice@example.test>
S: 250 2.1.5 alice@example.test
`+raw(bdat("x\r\n", true))+queuedRE+raw(bdat("QUIT\r\n", true))+`S: 503 5.5.1 Need MAIL command
C: NOOP
S: 250 2.0.0 OK`)
	if q := ts.queued(t); len(q) != 1 {
		t.Fatalf("queued: %+v", q)
	}
}

// RSET between chunks drops the stored ones: the next transaction's
// message holds nothing of them.
func TestTranscriptBdatRsetDiscards(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"`)
	play(t, ts.addr, greeting+ehloPlain+raw(envAlice+bdat("Subject: first\r\n", false))+envAliceReplies+`
S: 250 2.0.0 16 octets received
C: RSET
S: 250 2.0.0 Resetting
`)
	ts.tmpEmpty(t, "RSET to remove the first transaction's chunk")
	play(t, ts.addr, greeting+ehloPlain+raw(envAlice+bdat("Subject: second\r\n", false))+envAliceReplies+`
S: 250 2.0.0 17 octets received
C: RSET
S: 250 2.0.0 Resetting
C: MAIL FROM:<a@example.test>
S: 250 2.1.0 a@example.test....Sender OK
C: RCPT TO:<bob@example.test>
S: 250 2.1.5 bob@example.test
`+raw(bdat("Subject: third\r\n\r\nx\r\n", true))+queuedRE)
	q := ts.queued(t)
	if len(q) != 1 || q[0].Recipients[0].Addr != "bob@example.test" {
		t.Fatalf("queued: %+v", q)
	}
	if got := ts.stored(t); got != "Subject: third\r\n\r\nx\r\n" {
		t.Fatalf("stored %q", got)
	}
}

// bare_lf applies to chunks as to DATA: refused by default (the reply to
// LAST), stored as CRLF with "normalize".
func TestTranscriptBdatBareLF(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"`)
	play(t, ts.addr, greeting+ehloPlain+raw(envAlice+bdat("Subject: lf\n\nbody\r\n", false)+bdat("x\r\n", true))+envAliceReplies+`
S: 250 2.0.0 19 octets received
S: 550 5.6.0 Message refused: bare LF in message text; lines must end with CRLF (RFC 5321 section 2.3.8)
`+raw(envAlice+bdat("a\rb\r\n", true))+envAliceReplies+`
S: 550 5.6.0 Message refused: bare CR in message text; lines must end with CRLF (RFC 5321 section 2.3.8)
`+raw(envAlice+bdat("x\x00y\r\n", true))+envAliceReplies+`
S: 550 5.6.0 Message refused: NUL octet in message text (RFC 5321 section 2.3.8)`)
	if q := ts.queued(t); len(q) != 0 {
		t.Fatalf("queued: %+v", q)
	}
	ts.tmpEmpty(t, "the refused messages to be removed")

	norm := startServer(t, `name = "legacy"
tls = "none"
bare_lf = "normalize"`)
	play(t, norm.addr, greeting+ehloPlain+raw(envAlice+bdat("Subject: lf\n\nbody\n", true))+envAliceReplies+queuedRE)
	if got := norm.stored(t); got != "Subject: lf\r\n\r\nbody\r\n" {
		t.Fatalf("stored %q", got)
	}
}

// Trace fields are counted across chunks, as in DATA: a name cut in two
// still counts.
func TestTranscriptBdatHops(t *testing.T) {
	base := strings.Replace(baseConfig, "[server]\n", "[server]\nmax_hops = 2\n", 1)
	ts := startServerWith(t, base, `name = "default"
tls = "none"`)
	play(t, ts.addr, greeting+ehloPlain+raw(envAlice+bdat("Received: from a\r\nRece", false)+bdat("ived: from b\r\n\r\nx\r\n", true))+envAliceReplies+`
S: 250 2.0.0 22 octets received
S: 554 5.4.6 Too many hops (3, limit 2): mail loop? (RFC 5321 section 6.3)`)
	if q := ts.queued(t); len(q) != 0 {
		t.Fatalf("queued: %+v", q)
	}
}

// Bad arguments: with a readable size the octets are read and the
// transaction ends (a chunk missing from the middle must not make a
// message); with an unreadable size nobody knows where the chunk ends,
// so the session closes rather than read message text as commands
// (event 1050).
func TestTranscriptBdatBadArguments(t *testing.T) {
	withEv, evPath := withEvents(t, events.Maximum)
	ts := startServer(t, `name = "default"
tls = "none"`, withEv)
	play(t, ts.addr, greeting+ehloPlain+raw(envAlice+bdat("a\r\n", false)+"BDAT 6 FIRST\r\nRSET\r\n"+bdat("b\r\n", true))+envAliceReplies+`
S: 250 2.0.0 3 octets received
S: 501 5.5.4 Syntax: BDAT <size> [LAST]
S: 503 5.5.1 Need MAIL command
C: NOOP
S: 250 2.0.0 OK
C: BDAT 12x LAST
S: 421 4.5.4 mx1.example.test Syntax: BDAT <size> [LAST]; chunk size unreadable, closing connection
CLOSED`)
	for _, bad := range []string{"BDAT", "BDAT -1", "BDAT 1234567890123456789 LAST", "BDAT LAST"} {
		play(t, ts.addr, greeting+ehloPlain+"C: "+bad+`
S: 421 4.5.4 mx1.example.test Syntax: BDAT <size> [LAST]; chunk size unreadable, closing connection
CLOSED`)
	}
	if q := ts.queued(t); len(q) != 0 {
		t.Fatalf("queued: %+v", q)
	}
	ts.tmpEmpty(t, "the failed transaction's chunk to be removed")
	if recs := readEvents(t, evPath, events.BdatBadSize); len(recs) != 5 {
		t.Fatalf("event 1050 written %d times, want 5: %+v", len(recs), recs)
	}
}

// min_data_rate and idle_timeout bound a chunk as they bound DATA; a
// chunk cut off leaves nothing behind.
func TestTranscriptBdatTimeout(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"
idle_timeout = "300ms"`)
	play(t, ts.addr, greeting+ehloPlain+raw(envAlice+bdat("Subject: slow\r\n", false)+"BDAT 1000 LAST\r\nonly this")+envAliceReplies+`
S: 250 2.0.0 15 octets received
S: 421 4.4.2 mx1.example.test Timeout during BDAT, closing connection
CLOSED`)
	ts.tmpEmpty(t, "the cut message to be removed")
	if q := ts.queued(t); len(q) != 0 {
		t.Fatalf("queued: %+v", q)
	}
}

// chunking = false: CHUNKING is not offered and BDAT is an unknown
// command, as before the extension existed.
func TestTranscriptBdatOff(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"
chunking = false`)
	play(t, ts.addr, greeting+strings.Replace(ehloPlain, "S: 250-CHUNKING\n", "", 1)+`
C: BDAT 0 LAST
S: 500 5.5.2 Command unrecognized`)
}

// A stopping server ends a session waiting between two chunks at once
// (421 4.3.2): the message was never acknowledged, the client keeps it,
// and the chunk already stored is removed.
func TestShutdownBetweenChunks(t *testing.T) {
	ts := startServerGrace(t, baseConfig, "name = \"default\"\ntls = \"none\"", time.Minute)
	cl := dial(t, ts.addr)
	cl.send("EHLO client.test")
	cl.expect("250 ")
	cl.send("MAIL FROM:<a@remote.test>", "RCPT TO:<bob@example.test>", "BDAT 12", "Subject: x")
	cl.expect("250 ")
	cl.expect("250 ")
	cl.expect("250 2.0.0 12 octets received")
	ts.cancel()
	cl.expect(shutdownReply)
	cl.expectClosed()
	<-ts.done
	if q := ts.queued(t); len(q) != 0 {
		t.Fatalf("queued %d messages, want none", len(q))
	}
	ts.tmpEmpty(t, "the stored chunk to be removed")
}

// A chunk being read when the server stops is let finish, as DATA is:
// the message is accepted (on disk), then the session ends.
func TestShutdownLetsChunkFinish(t *testing.T) {
	ts := startServerGrace(t, baseConfig, "name = \"default\"\ntls = \"none\"", time.Minute)
	cl := dial(t, ts.addr)
	cl.send("EHLO client.test")
	cl.expect("250 ")
	rest := "the rest of the body\r\n"
	cl.send("MAIL FROM:<a@remote.test>", "RCPT TO:<bob@example.test>", fmt.Sprintf("BDAT %d LAST", 12+len(rest)), "Subject: x")
	cl.expect("250 ")
	cl.expect("250 ")
	ts.cancel()
	// The stop has reached the session (whose reading goes on) before
	// the rest of the chunk is sent.
	time.Sleep(300 * time.Millisecond)
	cl.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := cl.c.Write([]byte(rest)); err != nil {
		t.Fatal(err)
	}
	cl.expect("250 2.6.0")
	cl.expect(shutdownReply)
	cl.expectClosed()
	<-ts.done
	if q := ts.queued(t); len(q) != 1 {
		t.Fatalf("queued %d messages, want the one received during the stop", len(q))
	}
}
