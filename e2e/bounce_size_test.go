package e2e

// Bounce reflection: with recipient filtering off, a message to an
// unknown user is accepted and bounced later, to whatever MAIL FROM said.
// With RET=FULL the NDR used to carry the whole payload back — to a
// victim, when the sender address is forged. The NDR now returns at most
// queue.bounce_size_limit (default 50,000) bytes of the original.

import (
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
)

// ndrReturnedPart is an NDR's third part: its Content-Type and content.
func ndrReturnedPart(t *testing.T, raw string) (string, string) {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	_, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	mr := multipart.NewReader(m.Body, params["boundary"])
	var types, bodies []string
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("NDR MIME structure: %v", err)
		}
		b, _ := io.ReadAll(p)
		types = append(types, p.Header.Get("Content-Type"))
		bodies = append(bodies, string(b))
	}
	if len(types) != 3 {
		t.Fatalf("NDR parts %v, want three (text, delivery-status, original)", types)
	}
	return types[2], bodies[2]
}

// TestBounceSizeLimit: the reproduction with a sender that has a
// mailbox here, so that the NDR can be read. A 1 MB message with RET=FULL
// to an unknown user comes back as an NDR of about 50 KB: the whole
// header and the first lines of the body, as a shortened message/rfc822,
// and the text says it is incomplete. A second message whose header alone
// is some 120 KB (2,000 fields) comes back with only its first whole
// fields, as text/rfc822-headers.
func TestBounceSizeLimit(t *testing.T) {
	const limit = 50000
	s := startServer(t, noFilterConfig())
	c := dial(t, s.Addr)
	defer c.Close()
	c.expect("EHLO client.test", 250)

	var body strings.Builder
	for i := 0; body.Len() < 1<<20; i++ {
		fmt.Fprintf(&body, "payload %07d %s\n", i, strings.Repeat("z", 64))
	}
	body.WriteString("END-OF-PAYLOAD\n")
	c.expect("MAIL FROM:<alice@example.test> RET=FULL", 250)
	c.expect("RCPT TO:<unknown@example.test>", 250)
	r, err := c.dataErr(message("alice@example.test", "unknown@example.test", "reflection", body.String()))
	if err != nil {
		t.Fatal(err)
	}
	big := queueID(t, r)

	var hdr strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&hdr, "X-Filler-%04d: %s\n", i, strings.Repeat("h", 40))
	}
	c.expect("MAIL FROM:<alice@example.test> RET=FULL", 250)
	c.expect("RCPT TO:<unknown@example.test>", 250)
	r, err = c.dataErr(hdr.String() + message("alice@example.test", "unknown@example.test", "huge-header", "short body"))
	if err != nil {
		t.Fatal(err)
	}
	huge := queueID(t, r)
	c.cmdErr("QUIT")

	// The notice's own text, headers and delivery status are a few KB.
	const slack = 8 << 10
	n := waitNDR(t, s, "alice@example.test", big)
	if len(n.raw) > limit+slack {
		t.Errorf("NDR of %d bytes for a 1 MB message with RET=FULL; want at most %d + its own text", len(n.raw), limit)
	}
	if rb := n.recipients[0]; rb.Get("Status") != "5.1.1" {
		t.Errorf("NDR Status %q, want 5.1.1", rb.Get("Status"))
	}
	ct, ret := ndrReturnedPart(t, n.raw)
	if ct != "message/rfc822" || len(ret) > limit {
		t.Errorf("returned part %s of %d bytes; want message/rfc822 of at most %d", ct, len(ret), limit)
	}
	if !strings.Contains(ret, "Subject: reflection") || !strings.Contains(ret, "payload 0000000") || strings.Contains(n.raw, "END-OF-PAYLOAD") {
		t.Errorf("returned part: want the header and the start of the body, not the end")
	}
	if text := strings.Join(strings.Fields(n.raw), " "); !strings.Contains(text, "copy of your message is incomplete") {
		t.Errorf("the NDR does not say the returned message is incomplete")
	}

	n = waitNDR(t, s, "alice@example.test", huge)
	if len(n.raw) > limit+slack {
		t.Errorf("NDR of %d bytes for a message with a 120 KB header; want at most %d + its own text", len(n.raw), limit)
	}
	ct, ret = ndrReturnedPart(t, n.raw)
	if ct != "text/rfc822-headers" || len(ret) > limit || !strings.Contains(ret, "X-Filler-0000:") || strings.Contains(ret, "X-Filler-1999:") {
		t.Errorf("returned part %s of %d bytes; want the first fields of the header as text/rfc822-headers, at most %d", ct, len(ret), limit)
	}
	if !strings.HasSuffix(ret, strings.Repeat("h", 40)+"\r\n") {
		t.Errorf("the returned header does not end with a whole field")
	}
	settle(t, s)
}
