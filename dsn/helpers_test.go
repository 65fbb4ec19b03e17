package dsn

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"
)

// when is a fixed time so dates in the output can be compared.
var when = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)

const (
	origHeader = "From: bob@example.org\r\nTo: alice@example.test\r\nSubject: hello\r\nMessage-ID: <m1@example.org>\r\n"
	origBody   = "This is the secret body line.\r\n"
	original   = origHeader + "\r\n" + origBody
)

// sample is a valid report with one failed recipient and the original.
func sample() Report {
	return Report{
		ReportingMTA: "mail.example.test",
		From:         "postmaster@example.test",
		To:           "bob@example.org",
		QueueID:      "4XyZ12",
		EnvID:        "env-42",
		ArrivalDate:  when.Add(-time.Hour),
		Date:         when,
		Recipients: []Recipient{{
			Final:       "alice@example.test",
			Original:    "rfc822;Alice@Example.test",
			Action:      "failed",
			Status:      "5.1.1",
			Diagnostic:  "550 5.1.1 alice@example.test... User unknown",
			RemoteMTA:   "mx2.example.net",
			LastAttempt: when.Add(-time.Minute),
		}},
		Original: []byte(original),
	}
}

// bodyPart is one parsed body part.
type bodyPart struct {
	header textproto.MIMEHeader
	body   []byte
}

// parsed is a notice read back with net/mail and mime/multipart.
type parsed struct {
	msg    *mail.Message
	params map[string]string // of the top-level Content-Type
	parts  []bodyPart
}

// parse reads a notice the way a receiving MUA would, failing the test
// on anything that does not parse.
func parse(t testing.TB, out []byte) parsed {
	t.Helper()
	p, err := parseNotice(out)
	if err != nil {
		t.Fatalf("%v\n--- notice ---\n%s", err, out)
	}
	return p
}

func parseNotice(out []byte) (parsed, error) {
	var p parsed
	msg, err := mail.ReadMessage(bytes.NewReader(out))
	if err != nil {
		return p, errors.New("net/mail: " + err.Error())
	}
	p.msg = msg
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return p, errors.New("Content-Type: " + err.Error())
	}
	if mt != "multipart/report" {
		return p, errors.New("top-level type is " + mt)
	}
	p.params = params
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		mp, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return p, errors.New("multipart: " + err.Error())
		}
		body, err := io.ReadAll(mp)
		if err != nil {
			return p, errors.New("multipart body: " + err.Error())
		}
		p.parts = append(p.parts, bodyPart{textproto.MIMEHeader(mp.Header), body})
	}
	return p, nil
}

// statusGroups parses a message/delivery-status body into its groups of
// fields: the per-message group first, then one per recipient
// (RFC 3464 §2.1).
func statusGroups(t testing.TB, body []byte) []textproto.MIMEHeader {
	t.Helper()
	var groups []textproto.MIMEHeader
	for _, g := range strings.Split(string(body), "\r\n\r\n") {
		if strings.TrimSpace(g) == "" {
			t.Fatalf("empty group in delivery-status:\n%s", body)
		}
		r := textproto.NewReader(bufio.NewReader(strings.NewReader(strings.TrimSuffix(g, "\r\n") + "\r\n\r\n")))
		h, err := r.ReadMIMEHeader()
		if err != nil {
			t.Fatalf("delivery-status group %q: %v", g, err)
		}
		groups = append(groups, h)
	}
	return groups
}

// build calls Build and fails the test on an error.
func build(t testing.TB, r Report) []byte {
	t.Helper()
	out, err := Build(r)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return out
}

// lineEndingError describes the first line ending that is not CRLF, or
// the first line over 998 characters (RFC 5322 §2.1.1, §2.3).
func lineEndingError(out []byte) string {
	for i, c := range out {
		if c == '\n' && (i == 0 || out[i-1] != '\r') {
			return "bare LF at offset " + strconv.Itoa(i)
		}
		if c == '\r' && (i+1 == len(out) || out[i+1] != '\n') {
			return "bare CR at offset " + strconv.Itoa(i)
		}
	}
	for n, l := range bytes.Split(out, []byte("\r\n")) {
		if len(l) > 998 {
			return "line " + strconv.Itoa(n+1) + " is longer than 998"
		}
	}
	return ""
}
