package dsn

import "bytes"

// returned is the third part of the report: the original message or its
// header (RFC 6522 §3, RFC 3464 §4, RFC 3461 §4.3 RET).
type returned struct {
	contentType string // "message/rfc822" or "text/rfc822-headers"
	body        []byte // CRLF line endings, ending in CRLF
	eightBit    bool   // body has bytes outside 7bit (RFC 2045 §2.7)
}

// returnedPart builds the third part from the original message, or
// reports false when there is nothing to return (no original, or an
// original without a header when only the header is wanted).
func returnedPart(original []byte, full bool) (returned, bool) {
	if len(original) == 0 {
		return returned{}, false
	}
	msg := crlf(original)
	p := returned{contentType: "message/rfc822", body: msg}
	if !full {
		// RET=HDRS (or no RET): only the header block, everything up to
		// the first empty line (RFC 5322 §2.1), as text/rfc822-headers
		// (RFC 6522 §4). A message that starts with the empty line has
		// no header to return.
		p.contentType = "text/rfc822-headers"
		switch i := bytes.Index(msg, []byte("\r\n\r\n")); {
		case bytes.HasPrefix(msg, []byte("\r\n")):
			return returned{}, false
		case i >= 0:
			p.body = msg[:i+2]
		}
	}
	p.eightBit = !sevenBit(p.body)
	return p, true
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
