package dsn

import (
	"bytes"
	"strings"
	"time"
)

// Line lengths from RFC 5322 §2.1.1: lines SHOULD be at most 78
// characters and MUST be at most 998 (without CRLF).
const (
	foldAt  = 78
	maxLine = 998
	// chunk is the length a single over-long word is cut into. Cutting
	// inserts folding white space, which changes the value, but only for
	// words no valid reply or address can have.
	chunk = 900
)

// writeField writes "name: value" CRLF, folding at spaces so lines stay
// near 78 characters (RFC 5322 §2.2.3). value must already be clean, so
// it holds no CR or LF and only single spaces. The message/delivery-status
// fields may be folded in the same way (RFC 3464 §2.1, "header-style").
func writeField(b *bytes.Buffer, name, value string) {
	b.WriteString(name)
	b.WriteByte(':')
	// line counts the characters on the current line; -1 marks that the
	// line holds only the field name, where folding would gain nothing.
	line := -1
	for _, word := range strings.Fields(value) {
		for len(word) > chunk {
			writeWord(b, &line, word[:chunk], len(name)+1)
			word = word[chunk:]
		}
		writeWord(b, &line, word, len(name)+1)
	}
	b.WriteString("\r\n")
}

// writeWord writes one space and word, after a fold if the line would
// grow past foldAt. A fold never leaves a line of white space only
// (RFC 5322 §3.2.2), since it is always followed by a word.
func writeWord(b *bytes.Buffer, line *int, word string, nameLen int) {
	if *line < 0 {
		*line = nameLen
	} else if *line+1+len(word) > foldAt {
		b.WriteString("\r\n")
		*line = 0
	}
	b.WriteByte(' ')
	b.WriteString(word)
	*line += 1 + len(word)
}

// date formats t as an RFC 5322 §3.3 date-time, the form RFC 3464 §2.1
// also requires ("date-time" of RFC 822, updated by RFC 5322).
func date(t time.Time) string {
	return t.Format(time.RFC1123Z)
}
