package reply

import (
	"bufio"
	"errors"
	"fmt"
	"strings"
)

// Limits on what a peer may send in one reply. RFC 5321 §4.5.3.1.5
// allows 512 octets per line; real servers exceed that in EHLO and
// banner text, so more is accepted, but not without bound.
const (
	MaxLineLength = 2048
	MaxLines      = 100
)

// ErrProtocol marks a reply that does not follow RFC 5321 §4.2.
var ErrProtocol = errors.New("SMTP protocol error")

// Read reads one reply, single- or multi-line ("250-" on every line but
// the last, "250 " on the last, the same code throughout: RFC 5321
// §4.2.1). The enhanced status, when the first line has one, is taken
// off every line that repeats it (RFC 2034 §4). A malformed reply is an
// error wrapping ErrProtocol; an I/O error is returned as it is.
func Read(br *bufio.Reader) (Reply, error) {
	var r Reply
	for n := 0; ; n++ {
		if n >= MaxLines {
			return Reply{}, fmt.Errorf("%w: reply longer than %d lines", ErrProtocol, MaxLines)
		}
		line, err := readLine(br)
		if err != nil {
			return Reply{}, err
		}
		code, more, text, ok := splitLine(line)
		if !ok {
			return Reply{}, fmt.Errorf("%w: malformed reply line %q", ErrProtocol, Clip(line))
		}
		if n == 0 {
			r.Code = code
		} else if code != r.Code {
			return Reply{}, fmt.Errorf("%w: reply code changed from %d to %d within one reply", ErrProtocol, r.Code, code)
		}
		r.Lines = append(r.Lines, text)
		if !more {
			break
		}
	}
	r.Status = leadingStatus(r.Code, r.Lines[0])
	if r.Status != "" {
		for i, l := range r.Lines {
			if rest, ok := strings.CutPrefix(l, r.Status); ok && (rest == "" || rest[0] == ' ') {
				r.Lines[i] = strings.TrimPrefix(rest, " ")
			}
		}
	}
	return r, nil
}

// readLine reads one line without its CRLF; a bare LF is tolerated
// (being lenient in what we read costs nothing here).
func readLine(br *bufio.Reader) (string, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > MaxLineLength+2 {
			return "", fmt.Errorf("%w: reply line longer than %d octets", ErrProtocol, MaxLineLength)
		}
		buf = append(buf, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		break
	}
	return strings.TrimSuffix(string(buf[:len(buf)-1]), "\r"), nil
}

// splitLine parses "250-text", "250 text" or "250".
func splitLine(line string) (code int, more bool, text string, ok bool) {
	if len(line) > 3 && line[3] == '-' {
		code, _, ok = splitCode(line[:3])
		return code, true, line[4:], ok
	}
	code, text, ok = splitCode(line)
	return code, false, text, ok
}

// Clip shortens peer text quoted in our own errors.
func Clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
