package e2e

import (
	"bufio"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
)

// noFilterConfig: example.test accepts every local recipient at RCPT
// (recipient_filtering = false) and unknown ones get an NDR later.
// Nobody may relay.
func noFilterConfig() *testkit.Config {
	c := testkit.NewConfig()
	c.Domains[0].RecipientFiltering = testkit.Bool(false)
	c.Mailboxes = testkit.Mailboxes("alice@example.test", "postmaster@example.test")
	return c
}

// ndr is a parsed delivery status notification.
type ndr struct {
	raw        string
	header     mail.Header
	returnPath string
	perMessage textproto.MIMEHeader
	recipients []textproto.MIMEHeader
}

// parseNDR checks the RFC 3464 / RFC 6522 structure and returns the
// delivery-status fields.
func parseNDR(t *testing.T, raw string) ndr {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("NDR is not a message: %v\n%s", err, raw)
	}
	n := ndr{raw: raw, header: m.Header, returnPath: m.Header.Get("Return-Path")}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("NDR Content-Type %q: want multipart/report; report-type=delivery-status", m.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var types []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("NDR MIME structure: %v\n%s", err, raw)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		types = append(types, ct)
		if ct != "message/delivery-status" {
			continue
		}
		// RFC 3464 §2.1: per-message fields, then one block per recipient.
		tr := textproto.NewReader(bufio.NewReader(p))
		for i := 0; ; i++ {
			h, err := tr.ReadMIMEHeader()
			if len(h) > 0 {
				if i == 0 {
					n.perMessage = h
				} else {
					n.recipients = append(n.recipients, h)
				}
			}
			if err != nil {
				break
			}
		}
	}
	if len(types) < 2 || types[0] != "text/plain" || types[1] != "message/delivery-status" {
		t.Errorf("NDR parts %v: want text/plain then message/delivery-status (RFC 6522 §3)", types)
	}
	return n
}

// finalRecipients lists the Final-Recipient addresses of an NDR.
func (n ndr) finalRecipients() []string {
	var out []string
	for _, r := range n.recipients {
		_, addr, _ := strings.Cut(r.Get("Final-Recipient"), ";")
		out = append(out, strings.TrimSpace(addr))
	}
	return out
}

// waitNDR waits for the NDR of queue ID id in addr's Maildir.
func waitNDR(t *testing.T, s *server, addr, id string) ndr {
	t.Helper()
	return parseNDR(t, findMessage(t, s, addr, "X-Mailward-Queue-ID: "+id))
}

// settle waits until the spool is empty (every message final).
func settle(t *testing.T, s *server) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, "an empty queue", func() bool { return len(s.QueueActive()) == 0 })
}

// TestNDRForUnknownRecipient: with filtering off, unknown@example.test is
// accepted at RCPT, then an RFC 3464 NDR from postmaster, sent from <>,
// reaches the sender's Maildir.
func TestNDRForUnknownRecipient(t *testing.T) {
	s := startServer(t, noFilterConfig())
	c := dial(t, s.Addr)
	defer c.Close()
	c.expect("EHLO client.test", 250)
	c.expect("MAIL FROM:<alice@example.test>", 250)
	if r := c.cmd("RCPT TO:<unknown@example.test>"); r.String() != "250 2.1.5 unknown@example.test" {
		t.Fatalf("RCPT unknown with filtering off: got %q, want 250 2.1.5 unknown@example.test", r)
	}
	r, err := c.dataErr(message("alice@example.test", "unknown@example.test", "ndr-original", "hello"))
	if err != nil {
		t.Fatal(err)
	}
	id := queueID(t, r)

	n := waitNDR(t, s, "alice@example.test", id)
	if n.returnPath != "<>" {
		t.Errorf("NDR Return-Path %q, want <> (the null sender)", n.returnPath)
	}
	if from, err := mail.ParseAddress(n.header.Get("From")); err != nil || from.Address != "postmaster@example.test" {
		t.Errorf("NDR From %q, want postmaster@example.test", n.header.Get("From"))
	}
	if got := n.header.Get("Delivered-To"); got != "alice@example.test" {
		t.Errorf("NDR Delivered-To %q", got)
	}
	if got := n.perMessage.Get("Reporting-MTA"); got != "dns; mx1.example.test" {
		t.Errorf("Reporting-MTA %q, want dns; mx1.example.test", got)
	}
	if len(n.recipients) != 1 {
		t.Fatalf("NDR has %d recipient blocks, want 1:\n%s", len(n.recipients), n.raw)
	}
	rb := n.recipients[0]
	if got := n.finalRecipients()[0]; got != "unknown@example.test" {
		t.Errorf("Final-Recipient %q", rb.Get("Final-Recipient"))
	}
	if rb.Get("Action") != "failed" || rb.Get("Status") != "5.1.1" {
		t.Errorf("Action %q, Status %q; want failed, 5.1.1", rb.Get("Action"), rb.Get("Status"))
	}
	if !strings.Contains(n.raw, "Subject: ndr-original") {
		t.Errorf("the NDR does not return the original header")
	}
	// The NDR is queued before event 4000 is written, and may be
	// delivered before it: settle first.
	settle(t, s)
	if len(s.EventsFor(4000, "queue_id", id)) != 1 {
		t.Errorf("want one event 4000 (NDR sent) for %s", id)
	}
	if got := len(s.Maildir("alice@example.test")); got != 1 {
		t.Errorf("alice has %d messages, want just the one NDR", got)
	}
}

// TestNoNDRForNullSender: a message from <> to an unknown recipient fails
// without a notice (RFC 5321 §6.1: never bounce a bounce), event 4001.
func TestNoNDRForNullSender(t *testing.T) {
	s := startServer(t, noFilterConfig())
	c := dial(t, s.Addr)
	defer c.Close()
	c.expect("EHLO client.test", 250)
	if r := c.cmd("MAIL FROM:<>"); r.String() != "250 2.1.0 <>....Sender OK" {
		t.Errorf("MAIL FROM:<>: got %q", r)
	}
	c.expect("RCPT TO:<nobody@example.test>", 250)
	r, err := c.dataErr(message("mailer-daemon@elsewhere.test", "nobody@example.test", "bounce-of-bounce", "x"))
	if err != nil {
		t.Fatal(err)
	}
	id := queueID(t, r)
	testkit.WaitFor(t, 10*time.Second, "event 4001 for "+id, func() bool { return len(s.EventsFor(4001, "queue_id", id)) > 0 })
	if ev := s.EventsFor(4001, "queue_id", id)[0]; !strings.Contains(ev.Message, "null sender") {
		t.Errorf("event 4001 says %q, want the null-sender reason", ev.Message)
	}
	if len(s.EventsFor(3002, "queue_id", id)) != 1 {
		t.Errorf("want one event 3002 (delivery failed) for %s", id)
	}
	settle(t, s)
	if n := len(s.EventsFor(4000, "queue_id", id)); n != 0 {
		t.Errorf("%d NDRs queued for a message from <>", n)
	}
	for _, a := range []string{"alice@example.test", "postmaster@example.test"} {
		if n := len(s.Maildir(a)); n != 0 {
			t.Errorf("%s received %d messages; want none", a, n)
		}
	}
}

// TestNoNDRWithNotifyNever: RCPT ... NOTIFY=NEVER suppresses the NDR.
func TestNoNDRWithNotifyNever(t *testing.T) {
	s := startServer(t, noFilterConfig())
	c := dial(t, s.Addr)
	defer c.Close()
	c.expect("EHLO client.test", 250)
	c.expect("MAIL FROM:<alice@example.test>", 250)
	if r := c.cmd("RCPT TO:<ghost@example.test> NOTIFY=NEVER"); r.String() != "250 2.1.5 ghost@example.test" {
		t.Fatalf("RCPT with NOTIFY=NEVER: got %q", r)
	}
	r, err := c.dataErr(message("alice@example.test", "ghost@example.test", "notify-never", "x"))
	if err != nil {
		t.Fatal(err)
	}
	id := queueID(t, r)
	testkit.WaitFor(t, 10*time.Second, "event 4001 for "+id, func() bool { return len(s.EventsFor(4001, "queue_id", id)) > 0 })
	if ev := s.EventsFor(4001, "queue_id", id)[0]; !strings.Contains(ev.Message, "NOTIFY") {
		t.Errorf("event 4001 says %q, want the NOTIFY reason", ev.Message)
	}
	settle(t, s)
	if n := len(s.EventsFor(4000, "queue_id", id)); n != 0 {
		t.Errorf("%d NDRs queued despite NOTIFY=NEVER", n)
	}
	if n := len(s.Maildir("alice@example.test")); n != 0 {
		t.Errorf("alice received %d messages despite NOTIFY=NEVER", n)
	}
}

// TestKB304897RelayTests6And7: "RCPT TO:User%Domain.tld" and
// "RCPT TO:\"User@Domain.tld\"" from a client that may not relay are
// local recipients of the default domain: accepted with that exact
// wording, never relayed, and each comes back as an NDR.
func TestKB304897RelayTests6And7(t *testing.T) {
	s := startServer(t, noFilterConfig())
	cases := []struct {
		rcpt, reply, final string
	}{
		{`User%Domain.tld`, `250 2.1.5 User%Domain.tld@example.test`, `User%Domain.tld@example.test`},
		{`"User@Domain.tld"`, `250 2.1.5 "User@Domain.tld"@example.test`, `"User@Domain.tld"@example.test`},
	}
	c := dial(t, s.Addr)
	defer c.Close()
	c.expect("EHLO client.test", 250)
	for _, tc := range cases {
		if r := c.cmd("RSET"); r.String() != "250 2.0.0 Resetting" {
			t.Errorf("RSET: got %q", r)
		}
		c.expect("MAIL FROM:<alice@example.test>", 250)
		if r := c.cmd("RCPT TO:" + tc.rcpt); r.String() != tc.reply {
			t.Fatalf("RCPT TO:%s: got %q, want %q", tc.rcpt, r, tc.reply)
		}
		r, err := c.dataErr(message("alice@example.test", "someone@domain.tld", "relay-test", "x"))
		if err != nil {
			t.Fatal(err)
		}
		id := queueID(t, r)
		n := waitNDR(t, s, "alice@example.test", id)
		if got := n.finalRecipients(); len(got) != 1 || got[0] != tc.final {
			t.Errorf("RCPT TO:%s: NDR Final-Recipient %v, want %s", tc.rcpt, got, tc.final)
		}
		if rb := n.recipients[0]; rb.Get("Action") != "failed" || rb.Get("Status") != "5.1.1" {
			t.Errorf("RCPT TO:%s: Action %q Status %q", tc.rcpt, rb.Get("Action"), rb.Get("Status"))
		}
		if n := len(s.EventsFor(3000, "queue_id", id)); n != 0 {
			t.Errorf("RCPT TO:%s: %d delivery events, want none (nothing may be relayed)", tc.rcpt, n)
		}
	}
	// A recipient of Domain.tld itself is refused: the client may not relay.
	c.expect("RSET", 250)
	c.expect("MAIL FROM:<alice@example.test>", 250)
	if r := c.cmd("RCPT TO:<User@Domain.tld>"); r.String() != "550 5.7.1 Unable to relay for User@domain.tld" {
		t.Errorf("RCPT TO:<User@Domain.tld>: got %q, want 550 5.7.1 Unable to relay", r)
	}
	settle(t, s)
}
