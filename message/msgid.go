package message

import (
	"bufio"
	"io"
	"strings"
)

// NoMessageID is what events carry as message_id for a message whose
// header has no Message-ID field (RFC 5322 §3.6.4 makes it only
// "SHOULD"), so that a reader of the event log can tell "none" from
// "not recorded" (docs/tracking.md).
const NoMessageID = "(none)"

// maxIDLine bounds the part of one header line an IDScanner keeps: a
// Message-ID is far shorter (RFC 5322 §2.1.1: lines of 998 octets).
const maxIDLine = 998

// IDScanner finds the Message-ID field in a header fed to it line by
// line, a line possibly in several pieces: both receive paths (DATA's
// lines, BDAT's chunks) and the queue's reader of a stored message use
// it, so that every event of one message carries the same value. Its
// zero value is ready; feed it the header only (up to the empty line).
type IDScanner struct {
	line  []byte
	inID  bool // the field being read is Message-ID (a folded line continues it)
	value string
	found bool
}

// Feed takes the next octets of the current header line, without its
// line ending.
func (s *IDScanner) Feed(p []byte) {
	if room := maxIDLine - len(s.line); room > 0 {
		s.line = append(s.line, p[:min(room, len(p))]...)
	}
}

// EndLine ends the current header line.
func (s *IDScanner) EndLine() {
	line := s.line
	s.line = s.line[:0]
	if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
		// Folding (RFC 5322 §2.2.3): the field goes on.
		if s.inID {
			s.value += " " + strings.TrimSpace(string(line))
		}
		return
	}
	s.inID = false
	if !s.found && hasPrefixFold(line, "message-id:") {
		s.inID, s.found = true, true
		s.value = strings.TrimSpace(string(line[len("message-id:"):]))
	}
}

// Value is the Message-ID field's value, whitespace from folding
// collapsed, or NoMessageID when the header has none (or an empty one).
func (s *IDScanner) Value() string {
	v := strings.Join(strings.Fields(s.value), "")
	if v == "" {
		return NoMessageID
	}
	// A client-supplied value goes into logs: no control characters.
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, v)
}

// ReadMessageID returns the Message-ID of the message r holds (header
// and body), or NoMessageID.
func ReadMessageID(r io.Reader) (string, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, maxHeaderScan), 32<<10)
	var s IDScanner
	for {
		line, err := br.ReadSlice('\n')
		body := line
		complete := err == nil
		if complete {
			body = trimEOL(body)
			if len(body) == 0 {
				return s.Value(), nil // the header's end
			}
		}
		s.Feed(body)
		if complete {
			s.EndLine()
			continue
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if len(body) > 0 {
			s.EndLine()
		}
		if err == io.EOF {
			return s.Value(), nil
		}
		return s.Value(), err
	}
}

func trimEOL(b []byte) []byte {
	b = b[:len(b)-1]
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}
