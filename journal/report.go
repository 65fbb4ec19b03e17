package journal

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// MarkerHeader marks a journal report (docs/journaling.md): a message
// carrying it is a report, never journaled again.
const MarkerHeader = "X-Mailward-Journal-Report"

// Recipient is one envelope recipient as the report lists it: the groups
// it was reached through (outermost first) and the mailboxes it is the
// alternate recipient of (first first).
type Recipient struct {
	Addr      string
	Expanded  []string
	Forwarded []string
}

// Report is what a journal report is built from. Every field comes from
// the queued message or from what was recorded with the journal
// recipient, so that every delivery attempt builds the same bytes.
type Report struct {
	From       string    // the organization's journaling address
	To         string    // the journal recipient
	QueueID    string    // names the report (Message-ID, boundary)
	Date       time.Time // the original's arrival
	Sender     string    // the envelope sender, "" for <>
	Recipients []Recipient
	Original   []byte // the message as queued, CRLF line ends
}

// Build renders the envelope journal report: multipart/mixed, the
// envelope as text/plain first, the original unchanged as message/rfc822
// second (docs/journaling.md#the-report).
func Build(r Report) []byte {
	h := headerOf(r.Original)
	boundary := "=_journal_" + r.QueueID
	for n := 1; bytes.Contains(r.Original, []byte(boundary)); n++ {
		boundary = fmt.Sprintf("=_journal_%s_%d", r.QueueID, n)
	}
	subject := h.get("Subject")
	env := envelopeText(r, h, subject)
	cte := "7bit"
	if !isASCII(env) {
		cte = "8bit"
	}
	var b bytes.Buffer
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...); b.WriteString("\r\n") }
	w("From: %s", r.From)
	w("To: %s", r.To)
	w("Subject: %s", subject)
	w("Date: %s", r.Date.UTC().Format(time.RFC1123Z))
	w("Message-ID: <%s.journal@%s>", r.QueueID, domainOf(r.From))
	w("MIME-Version: 1.0")
	w("%s: envelope", MarkerHeader)
	w("Content-Type: multipart/mixed; boundary=\"%s\"", boundary)
	w("")
	w("This is an envelope journal report (MIME multipart).")
	w("")
	w("--%s", boundary)
	w("Content-Type: text/plain; charset=utf-8")
	w("Content-Transfer-Encoding: %s", cte)
	w("")
	b.WriteString(env)
	w("")
	w("--%s", boundary)
	w("Content-Type: message/rfc822")
	w("Content-Description: the original message")
	w("")
	b.Write(r.Original)
	if !bytes.HasSuffix(r.Original, []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	w("--%s--", boundary)
	return b.Bytes()
}

// envelopeText is the first part: Sender, Subject, Message-Id, then one
// line per recipient, named by the header field the original lists it
// (or the group or mailbox it came through) in, Bcc when none does.
func envelopeText(r Report, h header, subject string) string {
	var b strings.Builder
	sender := r.Sender
	if sender == "" {
		sender = "<>"
	}
	fmt.Fprintf(&b, "Sender: %s\r\n", sender)
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	fmt.Fprintf(&b, "Message-Id: %s\r\n", h.get("Message-Id"))
	to, cc := addrSet(h.get("To")), addrSet(h.get("Cc"))
	for _, rc := range r.Recipients {
		key := strings.ToLower(rc.Addr)
		switch {
		case len(rc.Expanded) > 0:
			key = strings.ToLower(rc.Expanded[0])
		case len(rc.Forwarded) > 0:
			key = strings.ToLower(rc.Forwarded[0])
		}
		field := "Bcc"
		if to[key] {
			field = "To"
		} else if cc[key] {
			field = "Cc"
		}
		b.WriteString(field + ": " + rc.Addr)
		for _, g := range rc.Expanded {
			b.WriteString(", Expanded: " + g)
		}
		for _, f := range rc.Forwarded {
			b.WriteString(", Forwarded: " + f)
		}
		b.WriteString("\r\n")
	}
	return b.String()
}

// header is a message's header fields, unfolded, by lower-cased name
// (the first of each).
type header map[string]string

func (h header) get(name string) string { return h[strings.ToLower(name)] }

// headerOf reads the header of a message (up to the first empty line).
func headerOf(msg []byte) header {
	h := header{}
	sc := bufio.NewScanner(bytes.NewReader(msg))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var name, val string
	flush := func() {
		if name != "" {
			if _, ok := h[name]; !ok {
				h[name] = strings.TrimSpace(val)
			}
		}
		name, val = "", ""
	}
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			val += " " + strings.TrimSpace(line) // RFC 5322 §2.2.3 unfolding
			continue
		}
		flush()
		n, v, ok := strings.Cut(line, ":")
		if ok {
			name, val = strings.ToLower(strings.TrimSpace(n)), v
		}
	}
	flush()
	return h
}

var addrRE = regexp.MustCompile(`[^\s<>,;:"()\[\]]+@[^\s<>,;:"()\[\]]+`)

// addrSet lists the addresses of an address-list field, lower-cased.
// A lenient scan, not a parser: a field no parser accepts still names
// its recipients.
func addrSet(v string) map[string]bool {
	out := map[string]bool{}
	for _, a := range addrRE.FindAllString(v, -1) {
		out[strings.ToLower(a)] = true
	}
	return out
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
