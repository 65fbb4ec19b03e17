package smtpclient

import (
	"bytes"
	"io"
)

// stuffer writes message content in SMTP's DATA form (RFC 5321 §4.5.2):
// a "." at the start of a line is doubled, and every line ends in CRLF.
// A bare LF or a bare CR is sent as CRLF: RFC 5321 §2.3.8 allows CR and
// LF only as a pair, and a receiver that treats a lone one as a line end
// could otherwise find a message end we did not send (SMTP smuggling).
//
// For BDAT (noDots) the lines are made the same way but no dot is
// doubled and no "." line is added: a chunk is counted, not terminated
// (RFC 3030 section 2). The CRLF rule stays: without BINARYMIME a chunk
// carries the same 8BITMIME text as DATA (docs/smtp.md).
type stuffer struct {
	w      io.Writer
	noDots bool
	bol    bool // at the beginning of a line
	cr     bool // the last byte seen was a CR, not yet written
	err    error
}

func (s *stuffer) put(p []byte) {
	if s.err == nil {
		_, s.err = s.w.Write(p)
	}
}

var (
	crlfBytes = []byte("\r\n")
	dotBytes  = []byte(".")
	endBytes  = []byte(".\r\n")
)

// write processes one chunk; a CR at its end waits for the next chunk to
// see whether an LF follows.
func (s *stuffer) write(p []byte) error {
	for len(p) > 0 && s.err == nil {
		if s.cr {
			s.cr = false
			s.put(crlfBytes)
			s.bol = true
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
		}
		if s.bol && p[0] == '.' && !s.noDots {
			s.put(dotBytes)
		}
		s.bol = false
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			s.put(p)
			break
		}
		s.put(p[:i])
		if p[i] == '\n' {
			s.put(crlfBytes)
			s.bol = true
		} else {
			s.cr = true
		}
		p = p[i+1:]
	}
	return s.err
}

// end finishes the last line if the content did not, then sends the
// terminating "." line (none for BDAT).
func (s *stuffer) end() error {
	if s.cr {
		s.cr = false
		s.put(crlfBytes)
		s.bol = true
	}
	if !s.bol {
		s.put(crlfBytes)
	}
	if !s.noDots {
		s.put(endBytes)
	}
	return s.err
}
