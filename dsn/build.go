package dsn

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"strings"
	"time"
)

// Recipient is one per-recipient block of message/delivery-status (RFC 3464 §2.3).
type Recipient struct {
	Final          string    // final recipient address, e.g. "alice@example.test" (written "rfc822;alice@example.test")
	Original       string    // ORCPT value as given by the client (RFC 3461 §4.2), e.g. "rfc822;Alice@Example.test"; "" = omit
	Action         string    // "failed", "delayed", "delivered", "relayed", "expanded"
	Status         string    // enhanced status code, e.g. "5.1.1"
	Diagnostic     string    // remote or local reply, e.g. "550 5.1.1 alice@example.test... User unknown"; written "Diagnostic-Code: smtp; <text>"; "" = omit
	RemoteMTA      string    // e.g. "mx2.example.net"; written "Remote-MTA: dns; <name>"; "" = omit
	LastAttempt    time.Time // zero = omit
	WillRetryUntil time.Time // zero = omit (used with Action "delayed")
}

// Report is everything needed to build one notice.
type Report struct {
	ReportingMTA    string    // our FQDN, "Reporting-MTA: dns; <fqdn>"
	From            string    // header From:, e.g. "postmaster@example.test" (shown as "Mail Delivery System <postmaster@example.test>")
	To              string    // the original envelope sender; the To: header
	QueueID         string    // original queue id, written as "X-Mailward-Queue-ID: <id>" in the per-message fields
	EnvID           string    // RFC 3461 ENVID; "Original-Envelope-Id: <envid>" when not ""
	ArrivalDate     time.Time // "Arrival-Date:" when not zero
	Date            time.Time // Date: header of the notice; zero = time.Now()
	Recipients      []Recipient
	Original        []byte // the original message (header + body, CRLF line endings)
	FullMessage     bool   // RET=FULL: attach the whole original as message/rfc822; otherwise only its header as text/rfc822-headers (RFC 3462/6522)
	ReturnLimit     int    // the most bytes of Original returned, header included (queue.bounce_size_limit); 0: no limit
	MessageIDDomain string // domain for the notice's Message-ID; default ReportingMTA
}

// Subjects, as Postfix words them.
const (
	subjectFailed    = "Undelivered Mail Returned to Sender"
	subjectDelayed   = "Delayed Mail (still being retried)"
	subjectDelivered = "Successful Mail Delivery Report"
)

// Build returns the complete notice as an RFC 5322 message with CRLF line endings,
// ready to be queued from the null sender <>.
func Build(r Report) ([]byte, error) {
	n, err := check(r)
	if err != nil {
		return nil, err
	}
	orig, haveOrig := returnedPart(r.Original, r.FullMessage, r.ReturnLimit)

	text := humanText(n, orig, haveOrig)
	status := deliveryStatus(n)
	boundary, err := pickBoundary(text, status, orig.body)
	if err != nil {
		return nil, err
	}

	when := r.Date
	if when.IsZero() {
		when = time.Now()
	}
	idDomain := r.MessageIDDomain
	if strings.TrimSpace(idDomain) == "" {
		idDomain = n.reportingMTA
	}

	var b bytes.Buffer
	writeField(&b, "From", "Mail Delivery System <"+n.from+">")
	writeField(&b, "To", n.to)
	writeField(&b, "Subject", subject(n.recipients))
	writeField(&b, "Date", date(when))
	writeField(&b, "Message-ID", "<"+rand.Text()+"@"+cleanDomain(idDomain)+">")
	writeField(&b, "MIME-Version", "1.0")
	// RFC 3834 §5: a notice generated in reply to a message is
	// auto-replied, so responders do not answer it in turn.
	writeField(&b, "Auto-Submitted", "auto-replied")
	writeField(&b, "Content-Type", `multipart/report; report-type=delivery-status; boundary="`+boundary+`"`)
	if haveOrig && orig.eightBit {
		// A multipart holding an 8bit part is 8bit itself (RFC 2045 §6.4).
		writeField(&b, "Content-Transfer-Encoding", "8bit")
	}
	b.WriteString("\r\nThis is a MIME-encapsulated message.\r\n")

	// RFC 6522 §3: the human-readable part first, then the
	// machine-readable report, then optionally the original.
	part(&b, boundary, "Notification", "text/plain; charset=us-ascii", "7bit", text)
	part(&b, boundary, "Delivery report", "message/delivery-status", "7bit", status)
	if haveOrig {
		desc, cte := "Message Headers", "7bit"
		if orig.contentType == "message/rfc822" {
			desc = "Message"
		}
		if orig.eightBit {
			cte = "8bit"
		}
		if anyAction(n.recipients, "failed") {
			desc = "Undelivered " + desc
		} else {
			desc = "Original " + desc
		}
		part(&b, boundary, desc, orig.contentType, cte, orig.body)
	}
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return b.Bytes(), nil
}

// part writes one body part. body ends in CRLF; the CRLF written before
// the next delimiter belongs to the delimiter (RFC 2046 §5.1.1), so the
// part's content keeps its own final line ending.
func part(b *bytes.Buffer, boundary, desc, ctype, cte string, body []byte) {
	b.WriteString("\r\n--" + boundary + "\r\n")
	writeField(b, "Content-Description", desc)
	writeField(b, "Content-Type", ctype)
	writeField(b, "Content-Transfer-Encoding", cte)
	b.WriteString("\r\n")
	b.Write(body)
}

// pickBoundary returns a random boundary that occurs in no part
// (RFC 2046 §5.1.1). "=_" cannot occur in quoted-printable text; the
// random part makes a collision with the original practically
// impossible, and the check makes it certain.
func pickBoundary(parts ...[]byte) (string, error) {
	for range 8 {
		bnd := "=_mailward_" + rand.Text()
		ok := true
		for _, p := range parts {
			if bytes.Contains(p, []byte("--"+bnd)) {
				ok = false
				break
			}
		}
		if ok {
			return bnd, nil
		}
	}
	return "", fmt.Errorf("dsn: no MIME boundary found that is absent from the message")
}

// subject chooses the Subject: any failure makes it a bounce; otherwise
// a pending recipient (delayed) makes it a delay warning, even when others
// were delivered, because the sender may still get a bounce later.
func subject(rs []recipient) string {
	switch {
	case anyAction(rs, "failed"):
		return subjectFailed
	case anyAction(rs, "delayed"):
		return subjectDelayed
	default:
		return subjectDelivered
	}
}

func anyAction(rs []recipient, action string) bool {
	for _, r := range rs {
		if r.action == action {
			return true
		}
	}
	return false
}
