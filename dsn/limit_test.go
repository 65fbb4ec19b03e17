package dsn

import (
	"bytes"
	"fmt"
	"net/mail"
	"strings"
	"testing"
)

// The limit of the tests: Postfix's bounce_size_limit default, which is
// queue.bounce_size_limit's.
const limit = 50000

// bigBody is about 1 MB of numbered lines, so that a cut can be checked
// to fall at the end of a line.
func bigBody() string {
	var b strings.Builder
	for i := 0; b.Len() < 1<<20; i++ {
		fmt.Fprintf(&b, "payload line %07d %s\r\n", i, strings.Repeat("x", 60))
	}
	return b.String()
}

// manyReceived is a header of n folded Received: fields, as a looping
// message carries, then the usual fields.
func manyReceived(n int) string {
	var b strings.Builder
	for i := n; i > 0; i-- {
		fmt.Fprintf(&b, "Received: from hop%d.example.net ([192.0.2.%d])\r\n\tby hop%d.example.net with ESMTP id Q%d; Mon, 1 Jan 2024 00:00:00 +0000\r\n", i-1, i%250, i, i)
	}
	return b.String() + origHeader
}

// reflect is the bounce reflection: RET=FULL, a big message,
// and a limit.
func reflectReport(original string, full bool) Report {
	r := sample()
	r.Original = []byte(original)
	r.FullMessage = full
	r.ReturnLimit = limit
	return r
}

// flat is the text part unwrapped, for phrase checks.
func flat(p parsed) string { return strings.Join(strings.Fields(string(p.parts[0].body)), " ") }

// RET=FULL of a 1 MB message: the notice returns a truncated
// message/rfc822 of at most the limit, with the whole header and the
// beginning of the body cut at the end of a line, says so in its text,
// and stays a valid notice whose returned message still parses.
func TestReturnLimitFullMessage(t *testing.T) {
	body := bigBody()
	out := build(t, reflectReport(origHeader+"\r\n"+body, true))
	if e := lineEndingError(out); e != "" {
		t.Fatal(e)
	}
	if len(out) > limit+4096 {
		t.Errorf("notice of %d bytes for a limit of %d", len(out), limit)
	}
	p := parse(t, out)
	if len(p.parts) != 3 || p.parts[2].header.Get("Content-Type") != "message/rfc822" {
		t.Fatalf("parts %d, third %q; want a message/rfc822", len(p.parts), p.parts[len(p.parts)-1].header.Get("Content-Type"))
	}
	ret := string(p.parts[2].body)
	if len(ret) > limit || len(ret) < limit-200 {
		t.Errorf("returned %d bytes, want at most %d and not much less", len(ret), limit)
	}
	if !strings.HasPrefix(ret, origHeader+"\r\n") {
		t.Errorf("the returned message does not start with the whole original header")
	}
	kept := strings.TrimPrefix(ret, origHeader+"\r\n")
	if !strings.HasPrefix(body, kept) || !strings.HasSuffix(kept, "\r\n") || !strings.HasPrefix(body[len(kept):], "payload line ") {
		t.Errorf("the returned body is not the original's first whole lines")
	}
	inner, err := mail.ReadMessage(bytes.NewReader(p.parts[2].body))
	if err != nil || inner.Header.Get("Subject") != "hello" {
		t.Errorf("the truncated message does not parse as the original (%v)", err)
	}
	if f := flat(p); !strings.Contains(f, "incomplete") || !strings.Contains(f, "at most 50000 bytes") {
		t.Errorf("the text does not say the returned message was cut:\n%s", p.parts[0].body)
	}
}

// A header of thousands of Received: fields is over the limit by itself:
// with RET=FULL or without, only whole fields up to the limit come back,
// as text/rfc822-headers, and the text says the header is incomplete.
func TestReturnLimitHugeHeader(t *testing.T) {
	hdr := manyReceived(5000)
	for _, full := range []bool{true, false} {
		out := build(t, reflectReport(hdr+"\r\n"+bigBody(), full))
		if e := lineEndingError(out); e != "" {
			t.Fatal(e)
		}
		p := parse(t, out)
		if len(p.parts) != 3 || p.parts[2].header.Get("Content-Type") != "text/rfc822-headers" {
			t.Fatalf("full=%v: want text/rfc822-headers as the third part", full)
		}
		ret := string(p.parts[2].body)
		if len(ret) > limit || len(ret) < limit-300 || !strings.HasPrefix(hdr, ret) {
			t.Errorf("full=%v: returned %d bytes; want a prefix of the header of at most %d", full, len(ret), limit)
		}
		// Whole fields: every Received: has its continuation line.
		if starts, conts := strings.Count(ret, "\r\nReceived:")+1, strings.Count(ret, "\r\n\tby "); starts != conts {
			t.Errorf("full=%v: %d fields but %d continuation lines: a field was cut", full, starts, conts)
		}
		if strings.Contains(ret, "payload line") {
			t.Errorf("full=%v: body returned", full)
		}
		if f := flat(p); !strings.Contains(f, "header of your message is incomplete") {
			t.Errorf("full=%v: the text does not say the header was cut:\n%s", full, p.parts[0].body)
		}
	}
}

// RET=HDRS of a big message whose header is small: the whole header comes
// back and nothing is said about a cut; the body's size does not matter.
func TestReturnLimitHeadersOnlyUnder(t *testing.T) {
	p := parse(t, build(t, reflectReport(origHeader+"\r\n"+bigBody(), false)))
	if got := string(p.parts[2].body); got != origHeader {
		t.Errorf("headers = %q, want the whole header", got)
	}
	if strings.Contains(flat(p), "incomplete") {
		t.Errorf("a cut announced where there was none")
	}
}

// A message within the limit is returned whole.
func TestReturnLimitUnder(t *testing.T) {
	p := parse(t, build(t, reflectReport(original, true)))
	if got := string(p.parts[2].body); got != original {
		t.Errorf("message/rfc822 = %q, want the whole original", got)
	}
	if strings.Contains(flat(p), "incomplete") {
		t.Errorf("a cut announced where there was none")
	}
}

// RET=FULL where the header fits but the empty line after it does not:
// the header alone, as text/rfc822-headers, and the text says only the
// header is attached.
func TestReturnLimitOnlyHeaderFits(t *testing.T) {
	r := reflectReport(origHeader+"\r\n"+origBody, true)
	r.ReturnLimit = len(origHeader)
	p := parse(t, build(t, r))
	if ct := p.parts[2].header.Get("Content-Type"); ct != "text/rfc822-headers" || string(p.parts[2].body) != origHeader {
		t.Errorf("third part %s %q, want the whole header as text/rfc822-headers", ct, p.parts[2].body)
	}
	if !strings.Contains(flat(p), "Only the header of your message is attached") {
		t.Errorf("text:\n%s", p.parts[0].body)
	}
}

// A first field longer than the limit: nothing of the original is
// returned, and the text says why.
func TestReturnLimitNothingFits(t *testing.T) {
	r := reflectReport("X-Long: "+strings.Repeat("y", 300)+"\r\n"+origHeader+"\r\nbody\r\n", true)
	r.ReturnLimit = 100
	p := parse(t, build(t, r))
	if len(p.parts) != 2 {
		t.Fatalf("%d parts, want 2 (no original)", len(p.parts))
	}
	if f := flat(p); !strings.Contains(f, "Your message is not attached") || strings.Contains(f, "It's attached below") {
		t.Errorf("text:\n%s", p.parts[0].body)
	}
}

// Cuts fall at line ends with bare LFs and CRs in the original too: the
// limit counts the returned (CRLF) bytes.
func TestReturnLimitBareLineEnds(t *testing.T) {
	orig := "Subject: x\nX-A: y\n\n" + strings.Repeat("line of the body\n", 100)
	r := reflectReport(orig, true)
	r.ReturnLimit = 200
	out := build(t, r)
	if e := lineEndingError(out); e != "" {
		t.Fatal(e)
	}
	ret := string(parse(t, out).parts[2].body)
	if len(ret) > 200 || !strings.HasPrefix(ret, "Subject: x\r\nX-A: y\r\n\r\nline of the body\r\n") || !strings.HasSuffix(ret, "body\r\n") {
		t.Errorf("returned %q", ret)
	}
}
