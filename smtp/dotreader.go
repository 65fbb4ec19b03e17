package smtp

import (
	"bufio"
	"bytes"
	"io"
)

// DataResult describes a DATA section once its end was found.
type DataResult struct {
	Size   int64 // octets of content received (after dot-unstuffing), stored or not
	BareLF bool  // a line ended in LF without CR
	BareCR bool  // a CR not followed by LF
	NUL    bool  // a NUL octet
	TooBig bool  // more than the limit; content past it was discarded
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
// At most max octets are written; the rest is read and discarded so the
// session stays in step. The error is an I/O error only.
func ReadData(r *bufio.Reader, w io.Writer, max int64, normalize bool) (DataResult, error) {
	var res DataResult
	atStart := true    // the previous line ended in CRLF
	pendingCR := false // the previous chunk ended in CR (a CRLF may span chunks)
	out := func(p []byte) {
		res.Size += int64(len(p))
		if res.Size > max {
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
				chunk = chunk[1:]
				atStart = true
				if len(chunk) == 0 {
					continue
				}
			} else {
				res.BareCR = true
				if normalize {
					out(crlf)
				} else {
					out(cr)
				}
				atStart = false
			}
		}
		if atStart && complete && len(chunk) == 3 && chunk[0] == '.' && chunk[1] == '\r' {
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
		if ending != nil {
			out(ending)
		}
	}
}

var (
	crlf = []byte("\r\n")
	cr   = []byte("\r")
	lf   = []byte("\n")
)
