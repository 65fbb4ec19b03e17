package dsn

import (
	"bytes"
	"fmt"
)

// returned is the third part of the report: the original message or its
// header (RFC 6522 §3, RFC 3464 §4, RFC 3461 §4.3 RET).
type returned struct {
	contentType string // "message/rfc822" or "text/rfc822-headers"
	body        []byte // CRLF line endings, ending in CRLF
	eightBit    bool   // body has bytes outside 7bit (RFC 2045 §2.7)
	// cut says, for the human-readable part, how the returned content
	// was cut to the limit; "" when nothing asked for was left out.
	cut string
}

// returnedPart builds the third part from the original message, or
// reports false when there is nothing to return (no original, an
// original without a header when only the header is wanted, or one whose
// first header field alone is over the limit; cut then says so).
//
// limit bounds what is returned, header included (queue.bounce_size_limit,
// as Postfix's bounce_size_limit): whatever RET says, a notice must not
// carry a megabyte back to a sender address anyone can forge (bounce
// reflection), and a header of thousands of Received: fields is as big as
// a body. 0 is no limit.
//
// RET=FULL of a message over the limit returns its header and as many
// whole lines of its body as fit, as a truncated message/rfc822, which
// is what Postfix sends: the part stays a message (RFC 2046 §5.2.1) that
// a mail reader shows as one, only shorter. When not even the header and
// the empty line after it fit, the part is text/rfc822-headers (RFC 6522
// §4) with as many whole header fields as fit: a message/rfc822 cut inside
// its header would present half a header as a complete message, while
// text/rfc822-headers promises only header fields. Cuts fall at the end of
// a line, and in the header at the end of a field, never inside a folded
// one, so every returned line is one the original had.
func returnedPart(original []byte, full bool, limit int) (returned, bool) {
	if len(original) == 0 {
		return returned{}, false
	}
	msg := crlf(original)
	fits := func(n int) bool { return limit <= 0 || n <= limit }
	header, body := msg, []byte(nil)
	switch i := bytes.Index(msg, []byte("\r\n\r\n")); {
	case bytes.HasPrefix(msg, []byte("\r\n")):
		header, body = nil, msg[2:]
	case i >= 0:
		header, body = msg[:i+2], msg[i+4:]
	}
	var p returned
	switch {
	case full && fits(len(msg)):
		p = returned{contentType: "message/rfc822", body: msg}
	case full && fits(len(header)+2):
		b := append(append(header[:len(header):len(header)], "\r\n"...), cutLines(body, limit-len(header)-2)...)
		p = returned{contentType: "message/rfc822", body: b,
			cut: fmt.Sprintf("The attached copy of your message is incomplete: it holds the header and only the beginning of the body, because this mail system returns at most %d bytes of a message.", limit)}
	default:
		// RET=HDRS (or no RET), or a header too large for anything
		// else: only the header block, everything up to the first empty
		// line (RFC 5322 §2.1). A message that starts with the empty
		// line has no header to return.
		if len(header) == 0 {
			return returned{}, false
		}
		p = returned{contentType: "text/rfc822-headers", body: header}
		switch {
		case !fits(len(header)):
			p.body = cutFields(header, limit)
			p.cut = fmt.Sprintf("The attached header of your message is incomplete: it holds only its first fields, because this mail system returns at most %d bytes of a message.", limit)
		case full:
			p.cut = fmt.Sprintf("Only the header of your message is attached, because this mail system returns at most %d bytes of a message.", limit)
		}
		if len(p.body) == 0 {
			p.cut = fmt.Sprintf("Your message is not attached: even its first header field is larger than the %d bytes of a message this mail system returns.", limit)
			return p, false
		}
	}
	p.eightBit = !sevenBit(p.body)
	return p, true
}

// cutLines returns the longest run of whole lines (CRLF-terminated) at
// the start of b that is at most n bytes.
func cutLines(b []byte, n int) []byte {
	if n <= 0 {
		return nil
	}
	if len(b) <= n {
		return b
	}
	i := bytes.LastIndex(b[:n], []byte("\r\n"))
	if i < 0 {
		return nil
	}
	return b[:i+2]
}

// cutFields returns the longest run of whole header fields at the start
// of header (CRLF-terminated lines, a field's folded continuation lines
// beginning with a space or tab, RFC 5322 §2.2.3) that is at most n
// bytes; nil when the first field alone is longer.
func cutFields(header []byte, n int) []byte {
	end := 0
	for i := 0; i < len(header); {
		j := bytes.Index(header[i:], []byte("\r\n"))
		if j < 0 {
			break
		}
		i += j + 2
		if i > n {
			break
		}
		if i == len(header) || header[i] != ' ' && header[i] != '\t' {
			end = i // the field ends here
		}
	}
	return header[:end]
}

// crlf returns b with every line ending as CRLF and a CRLF at the end.
// The original is supposed to have CRLF already, but a bare LF or CR
// would make the notice itself invalid (RFC 5322 §2.3, RFC 5321 §2.3.8),
// and a part must end with a line ending before the next boundary.
func crlf(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/32+2)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\r':
			out = append(out, '\r', '\n')
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	if !bytes.HasSuffix(out, []byte("\r\n")) {
		out = append(out, '\r', '\n')
	}
	return out
}

// sevenBit reports whether b is 7bit data: no NUL and no byte above 127
// (RFC 2045 §2.7; line lengths are not checked, the original was accepted
// with its lines as they are).
func sevenBit(b []byte) bool {
	for _, c := range b {
		if c == 0 || c > 127 {
			return false
		}
	}
	return true
}
