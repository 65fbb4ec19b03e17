package smtp

import (
	"bufio"
	"bytes"
	"io"

	"mailward/message"
)

// DataResult describes a DATA section once its end was found.
type DataResult struct {
	Size   int64 // octets of content received (after dot-unstuffing), stored or not
	BareLF bool  // a line ended in LF without CR
	BareCR bool  // a CR not followed by LF
	NUL    bool  // a NUL octet
	TooBig bool  // more than the limit; content past it was discarded
	// LongestLine is the longest line's length in octets, its line
	// ending included (RFC 5321 §4.5.3.1.6 allows 1000).
	LongestLine int64
	// Hops counts the trace fields (Received:, Delivered-To:) in the
	// message's header (RFC 5321 §6.3).
	Hops int
	// MessageID is the header's Message-ID, or message.NoMessageID: the
	// events of the message carry it (docs/tracking.md).
	MessageID string
}

// ReadData copies a DATA section from r to w, undoing dot-stuffing
// (RFC 5321 §4.5.2), until the one sequence that ends it: CRLF "." CRLF,
// where the CRLF before the dot may be the end of the DATA command itself.
//
// SMTP smuggling (CVE-2023-51764 and friends) works because some servers
// also end DATA at LF "." LF, LF "." CRLF, CR "." CR and the like. Here
// none of those ends the message: a line counts as a line start for the
// terminator only if the previous line ended in a real CRLF. Bare LF and
// bare CR are recorded so the caller can refuse the message (the default)
// or, with normalize, stored as CRLF.
//
// At most limit octets are written; the rest is read and discarded so the
// session stays in step. The error is an I/O error only.
func ReadData(r *bufio.Reader, w io.Writer, limit int64, normalize bool) (DataResult, error) {
	var res DataResult
	atStart := true    // the previous line ended in CRLF
	pendingCR := false // the previous chunk ended in CR (a CRLF may span chunks)
	midLine := false   // the previous chunk did not end its line
	inHeader := true   // no empty line seen yet (RFC 5322 §2.1)
	var lineLen int64
	var ids message.IDScanner
	endLine := func(n int) {
		lineLen += int64(n)
		res.LongestLine = max(res.LongestLine, lineLen)
		lineLen, midLine = 0, false
	}
	out := func(p []byte) {
		res.Size += int64(len(p))
		if res.Size > limit {
			res.TooBig = true
		}
		if !res.TooBig {
			w.Write(p)
		}
	}
	for {
		chunk, err := r.ReadSlice('\n')
		complete := err == nil
		if err != nil && err != bufio.ErrBufferFull {
			return res, err
		}
		if pendingCR {
			pendingCR = false
			if len(chunk) > 0 && chunk[0] == '\n' {
				// The CRLF that ended the previous (partial) line.
				out(crlf)
				endLine(2)
				chunk = chunk[1:]
				atStart = true
				if len(chunk) == 0 {
					continue
				}
			} else {
				res.BareCR = true
				if normalize {
					out(crlf)
					endLine(2)
				} else {
					out(cr)
					lineLen++
				}
				atStart = false
			}
		}
		if atStart && complete && len(chunk) == 3 && chunk[0] == '.' && chunk[1] == '\r' {
			res.MessageID = ids.Value()
			return res, nil
		}
		if atStart && len(chunk) > 0 && chunk[0] == '.' {
			chunk = chunk[1:]
		}
		var body []byte
		var ending []byte
		switch {
		case complete && len(chunk) >= 2 && chunk[len(chunk)-2] == '\r':
			body, ending = chunk[:len(chunk)-2], crlf
			atStart = true
		case complete:
			res.BareLF = true
			body, ending = chunk[:len(chunk)-1], lf
			if normalize {
				ending = crlf
			}
			atStart = false
		default:
			body = chunk
			if n := len(body); n > 0 && body[n-1] == '\r' {
				body, pendingCR = body[:n-1], true
			}
			atStart = false
		}
		if !midLine && inHeader {
			if len(body) == 0 && ending != nil {
				inHeader = false
			} else if message.IsHop(body) {
				res.Hops++
			}
		}
		if inHeader {
			ids.Feed(body)
			if ending != nil {
				ids.EndLine()
			}
		}
		if bytes.IndexByte(body, 0) >= 0 {
			res.NUL = true
		}
		if bytes.IndexByte(body, '\r') >= 0 {
			res.BareCR = true
			if normalize {
				body = bytes.ReplaceAll(body, cr, crlf)
			}
		}
		out(body)
		lineLen += int64(len(body))
		if ending != nil {
			out(ending)
			endLine(len(ending))
		} else {
			midLine = true
			res.LongestLine = max(res.LongestLine, lineLen)
		}
	}
}

var (
	crlf = []byte("\r\n")
	cr   = []byte("\r")
	lf   = []byte("\n")
)
