package dsn

import (
	"strings"
	"unicode/utf8"
)

// clean makes s safe as (part of) a header field value.
//
// Runs of white space, CR and LF included, become one space and the ends
// are trimmed: a CR or LF in an untrusted value (a remote reply) would
// otherwise end the field and let the sender of that reply inject fields,
// or even a MIME boundary (RFC 5322 §2.2, §3.5). Other control characters
// and everything that is not ASCII become '?', since header fields and
// the text/plain part are US-ASCII (RFC 5322 §2.2, RFC 3464 §2.1).
func clean(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch {
		case r == ' ' || r == '\t' || r == '\r' || r == '\n':
			space = true
			continue
		case r < 0x20 || r == 0x7f || r >= utf8.RuneSelf:
			// Invalid UTF-8 arrives here as utf8.RuneError, one per byte.
			r = '?'
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// cleanDomain reduces s to a dot-atom made of letters, digits and '-',
// for the right side of a Message-ID (RFC 5322 §3.6.4), which must not
// hold spaces, brackets or empty labels. An address literal such as
// "[192.0.2.1]" becomes "192.0.2.1".
func cleanDomain(s string) string {
	var labels []string
	for _, l := range strings.Split(s, ".") {
		var b strings.Builder
		for i := 0; i < len(l); i++ {
			c := l[i]
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
				b.WriteByte(c)
			}
		}
		if b.Len() > 0 {
			labels = append(labels, b.String())
		}
	}
	if len(labels) == 0 {
		return "localhost"
	}
	return strings.Join(labels, ".")
}
