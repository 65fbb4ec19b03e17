package smtp

import (
	"bytes"
	"io"

	"mailward/message"
)

// bodyScanner checks and stores a message that arrives in BDAT chunks
// (RFC 3030). It applies to the octets what ReadData applies to DATA's
// lines, so that a message is judged the same whichever command carried
// it: bare LF and bare CR are recorded (refused, or stored as CRLF with
// bare_lf = "normalize"), NUL octets, the longest line and the trace
// fields of the header are counted. There is no dot-stuffing and no
// terminator: a line "." is content. A line may span chunks; its state
// is kept between Writes.
type bodyScanner struct {
	w         io.Writer
	limit     int64
	normalize bool
	res       DataResult

	pendingCR bool // the last octet was a CR whose LF may start the next chunk
	inHeader  bool // no empty line seen yet (RFC 5322 §2.1)
	lineLen   int64
	// head is the start of the current line, as far as a trace field's
	// name ("Delivered-To:") reaches: enough to tell message.IsHop.
	head    [16]byte
	headLen int
	ids     message.IDScanner
}

func newBodyScanner(w io.Writer, limit int64, normalize bool) *bodyScanner {
	return &bodyScanner{w: w, limit: limit, normalize: normalize, inHeader: true}
}

// Write takes the next octets of the message; it never fails (content
// past the limit is counted and discarded, as in ReadData).
func (b *bodyScanner) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if b.pendingCR {
			b.pendingCR = false
			if p[0] == '\n' {
				b.out(crlf)
				b.endLine(2)
				p = p[1:]
				continue
			}
			b.bareCR()
		}
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			b.text(p)
			break
		}
		b.text(p[:i])
		if p[i] == '\n' {
			b.res.BareLF = true
			if b.normalize {
				b.out(crlf)
				b.endLine(2)
			} else {
				b.out(lf)
				b.endLine(1)
			}
		} else {
			b.pendingCR = true
		}
		p = p[i+1:]
	}
	return n, nil
}

// finish ends the message after BDAT LAST. A last line without its
// CRLF gets one, so that the stored message ends as a DATA one always
// does (docs/smtp.md, "CHUNKING").
func (b *bodyScanner) finish() DataResult {
	if b.pendingCR {
		b.pendingCR = false
		b.bareCR()
	}
	if b.lineLen > 0 {
		b.out(crlf)
		b.endLine(2)
	}
	b.res.MessageID = b.ids.Value()
	return b.res
}

// bareCR handles a CR that no LF followed.
func (b *bodyScanner) bareCR() {
	b.res.BareCR = true
	if b.normalize {
		b.out(crlf)
		b.endLine(2)
		return
	}
	b.text(cr)
}

// text is part of a line, without line-ending octets (a bare CR kept as
// it is counts as text, as in ReadData).
func (b *bodyScanner) text(p []byte) {
	if len(p) == 0 {
		return
	}
	if bytes.IndexByte(p, 0) >= 0 {
		b.res.NUL = true
	}
	if b.inHeader && b.headLen < len(b.head) {
		b.headLen += copy(b.head[b.headLen:], p)
	}
	if b.inHeader {
		b.ids.Feed(p)
	}
	b.lineLen += int64(len(p))
	b.res.LongestLine = max(b.res.LongestLine, b.lineLen)
	b.out(p)
}

// endLine closes the current line, whose ending was n octets.
func (b *bodyScanner) endLine(n int) {
	b.lineLen += int64(n)
	b.res.LongestLine = max(b.res.LongestLine, b.lineLen)
	if b.inHeader {
		if b.lineLen == int64(n) {
			b.inHeader = false
		} else {
			if message.IsHop(b.head[:b.headLen]) {
				b.res.Hops++
			}
			b.ids.EndLine()
		}
	}
	b.lineLen, b.headLen = 0, 0
}

func (b *bodyScanner) out(p []byte) {
	b.res.Size += int64(len(p))
	if b.res.Size > b.limit {
		b.res.TooBig = true
	}
	if !b.res.TooBig {
		b.w.Write(p)
	}
}
