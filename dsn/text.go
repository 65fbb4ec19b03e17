package dsn

import (
	"bytes"
	"strings"
	"time"
)

// textWidth is where the human-readable part is wrapped, well inside the
// 78 characters of RFC 5322 §2.1.1.
const textWidth = 72

// humanText writes the text/plain part, the explanation for people that
// RFC 6522 §3 puts first, worded after Postfix's bounce templates so
// users see what they are used to. Everything inserted is cleaned, so the
// part is pure US-ASCII as its charset says.
func humanText(n *notice, orig returned, haveOrig bool) []byte {
	var t textWriter
	t.para("This is the mail system at host " + n.reportingMTA + ".")

	attached := ""
	switch {
	case haveOrig && orig.contentType == "message/rfc822":
		attached = " It's attached below."
	case haveOrig:
		attached = " Its header is attached below."
	}
	failed := anyAction(n.recipients, "failed")
	delayed := anyAction(n.recipients, "delayed")
	if failed {
		t.para("I'm sorry to have to inform you that your message could not be delivered to one or more recipients." + attached)
	}
	if delayed {
		t.line("####################################################################")
		t.line("# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #")
		t.line("####################################################################")
		t.line("")
		msg := "Your message could not be delivered yet to one or more recipients listed below. The mail system will keep trying"
		if until := latestRetry(n.recipients); !until.IsZero() {
			msg += " until " + date(until)
		}
		t.para(msg + ".")
	}
	if anyAction(n.recipients, "delivered") || anyAction(n.recipients, "relayed") || anyAction(n.recipients, "expanded") {
		t.para("Your message was successfully delivered to the destination(s) listed below. If the message was delivered to a mailbox you will receive no further notifications. Otherwise you may still receive notifications of mail delivery errors from other systems.")
	}
	if orig.cut != "" {
		t.para(orig.cut)
	}
	if failed || delayed {
		t.para("For further assistance, please send mail to postmaster.")
		if haveOrig {
			t.para("If you do so, please include this problem report. You can delete your own text from the attached returned message.")
		} else {
			t.para("If you do so, please include this problem report.")
		}
	}
	t.para("                   The mail system")

	for _, r := range n.recipients {
		t.para(recipientText(r))
	}
	// Drop the empty line after the last paragraph; the CRLF before the
	// next boundary already separates it.
	return bytes.TrimSuffix(t.b.Bytes(), []byte("\r\n"))
}

// recipientText is one recipient's paragraph: address, what happened,
// the status code and who said what (Postfix: "host X said: ...").
func recipientText(r recipient) string {
	s := "<" + r.final + ">"
	if addr := orcptAddress(r.original); addr != "" && addr != r.final {
		s += " (originally <" + addr + ">)"
	}
	s += ": " + actionText[r.action] + " (status " + r.status + ")"
	switch {
	case r.remoteMTA != "" && r.diagnostic != "":
		s += ": host " + r.remoteMTA + " said: " + r.diagnostic
	case r.remoteMTA != "":
		s += " at host " + r.remoteMTA
	case r.diagnostic != "":
		s += ": " + r.diagnostic
	}
	if !r.retryUntil.IsZero() {
		s += ". The message will be retried until " + date(r.retryUntil)
	}
	return s + "."
}

// actionText says in words what each action of RFC 3464 §2.3.3 means.
var actionText = map[string]string{
	"failed":    "delivery failed",
	"delayed":   "delivery delayed",
	"delivered": "delivered",
	"relayed":   "relayed to a system that sends no delivery notifications",
	"expanded":  "delivered and expanded to further recipients",
}

// orcptAddress is the address part of an Original-Recipient value
// ("rfc822;Alice@Example.test" gives "Alice@Example.test").
func orcptAddress(orcpt string) string {
	if i := strings.IndexByte(orcpt, ';'); i >= 0 {
		return strings.TrimSpace(orcpt[i+1:])
	}
	return orcpt
}

// latestRetry is the latest Will-Retry-Until of the delayed recipients.
func latestRetry(rs []recipient) time.Time {
	var t time.Time
	for _, r := range rs {
		if r.retryUntil.After(t) {
			t = r.retryUntil
		}
	}
	return t
}

// textWriter collects CRLF-terminated lines.
type textWriter struct{ b bytes.Buffer }

func (t *textWriter) line(s string) {
	t.b.WriteString(s)
	t.b.WriteString("\r\n")
}

// para writes s wrapped at textWidth, then an empty line. Leading spaces
// are kept (the signature is indented); a word longer than a line is cut
// so that no line can pass the 998 limit whatever a reply holds.
func (t *textWriter) para(s string) {
	indent := len(s) - len(strings.TrimLeft(s, " "))
	cur := s[:indent]
	for _, w := range strings.Fields(s) {
		for len(w) > textWidth {
			if strings.TrimSpace(cur) != "" {
				t.line(cur)
			}
			t.line(w[:textWidth])
			cur, w = "", w[textWidth:]
		}
		switch {
		case len(strings.TrimSpace(cur)) == 0:
			cur += w
		case len(cur)+1+len(w) > textWidth:
			t.line(cur)
			cur = w
		default:
			cur += " " + w
		}
	}
	if cur != "" {
		t.line(cur)
	}
	t.line("")
}
