package deliver

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Reply is one SMTP reply.
type Reply struct {
	Code     int      // 250
	Enhanced string   // "2.1.5" when the server gave one (RFC 2034), else ""
	Lines    []string // text of each line, without code and separator
}

// String renders the reply as one line, for logs and a queue's last
// error: "250 2.1.5 text", with the text of all lines joined by "; ".
// The zero Reply (no reply was read) renders as "".
func (r Reply) String() string {
	if r.Code == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(strconv.Itoa(r.Code))
	if r.Enhanced != "" {
		b.WriteByte(' ')
		b.WriteString(r.Enhanced)
	}
	text := strings.Join(r.Lines, "; ")
	if text != "" {
		b.WriteByte(' ')
		b.WriteString(text)
	}
	return b.String()
}

// Temporary reports a transient negative reply (4xx, RFC 5321 §4.2.1).
func (r Reply) Temporary() bool { return r.Code >= 400 && r.Code < 500 }

// Permanent reports a permanent negative reply (5xx, RFC 5321 §4.2.1).
func (r Reply) Permanent() bool { return r.Code >= 500 && r.Code < 600 }

// positive reports a 2xx reply.
func (r Reply) positive() bool { return r.Code >= 200 && r.Code < 300 }

// ReplyError is a negative reply at a stage where the session cannot go
// on (greeting, EHLO, STARTTLS, RSET).
type ReplyError struct {
	Stage string
	Reply Reply
}

func (e *ReplyError) Error() string { return e.Stage + ": " + e.Reply.String() }

// Limits on what a server may send us in one reply. RFC 5321 §4.5.3.1.5
// allows 512 octets per line; real servers exceed that in EHLO and
// banner text, so we allow more, but not without bound.
const (
	maxReplyLine  = 2048
	maxReplyLines = 100
)

// errProtocol marks a reply that does not follow RFC 5321 §4.2.
var errProtocol = errors.New("SMTP protocol error")

// readReply reads one reply, single- or multi-line (RFC 5321 §4.2.1:
// "250-" on every line but the last, "250 " on the last, same code
// throughout).
func readReply(br *bufio.Reader) (Reply, error) {
	var r Reply
	for n := 0; ; n++ {
		if n >= maxReplyLines {
			return Reply{}, fmt.Errorf("%w: reply longer than %d lines", errProtocol, maxReplyLines)
		}
		line, err := readReplyLine(br)
		if err != nil {
			return Reply{}, err
		}
		code, more, text, ok := splitReplyLine(line)
		if !ok {
			return Reply{}, fmt.Errorf("%w: malformed reply line %q", errProtocol, clip(line))
		}
		if n == 0 {
			r.Code = code
		} else if code != r.Code {
			return Reply{}, fmt.Errorf("%w: reply code changed from %d to %d within one reply", errProtocol, r.Code, code)
		}
		r.Lines = append(r.Lines, text)
		if !more {
			break
		}
	}
	r.Enhanced = enhancedCode(r.Code, r.Lines[0])
	if r.Enhanced != "" {
		// RFC 2034 §4 puts the code on every line; keep only the text.
		for i, l := range r.Lines {
			if rest, ok := strings.CutPrefix(l, r.Enhanced); ok && (rest == "" || rest[0] == ' ') {
				r.Lines[i] = strings.TrimPrefix(rest, " ")
			}
		}
	}
	return r, nil
}

// readReplyLine reads one line, without its CRLF (a bare LF is
// tolerated: being lenient in what we read costs nothing here).
func readReplyLine(br *bufio.Reader) (string, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > maxReplyLine+2 {
			return "", fmt.Errorf("%w: reply line longer than %d octets", errProtocol, maxReplyLine)
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
	s := strings.TrimSuffix(string(buf[:len(buf)-1]), "\r")
	return s, nil
}

// splitReplyLine parses "250-text", "250 text" or "250". The first digit
// must be 2-5 and the second 0-5 (RFC 5321 §4.2); anything else is not a
// reply we can act on.
func splitReplyLine(line string) (code int, more bool, text string, ok bool) {
	if len(line) < 3 {
		return 0, false, "", false
	}
	d0, d1, d2 := line[0], line[1], line[2]
	if d0 < '2' || d0 > '5' || d1 < '0' || d1 > '5' || d2 < '0' || d2 > '9' {
		return 0, false, "", false
	}
	code = int(d0-'0')*100 + int(d1-'0')*10 + int(d2-'0')
	if len(line) == 3 {
		return code, false, "", true
	}
	switch line[3] {
	case '-':
		return code, true, line[4:], true
	case ' ':
		return code, false, line[4:], true
	}
	return 0, false, "", false
}

// enhancedCode returns the RFC 3463 status code at the start of text if
// there is one and its class agrees with the basic code (RFC 2034 §4).
func enhancedCode(code int, text string) string {
	word, _, _ := strings.Cut(text, " ")
	class, rest, ok := strings.Cut(word, ".")
	if !ok || len(class) != 1 || !strings.Contains("245", class) || int(class[0]-'0') != code/100 {
		return ""
	}
	subject, detail, ok := strings.Cut(rest, ".")
	if !ok || !digits(subject, 1, 3) || !digits(detail, 1, 3) {
		return ""
	}
	return word
}

func digits(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// clip shortens server text quoted in our errors.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// parseEHLO turns the lines after the first of an EHLO reply into
// keyword -> parameters (RFC 5321 §4.1.1.1). Keywords are upper-cased;
// empty lines (smtp-sink ends its reply with "250 ") are skipped.
func parseEHLO(r Reply) map[string]string {
	ext := map[string]string{}
	for _, l := range r.Lines[min(1, len(r.Lines)):] {
		k, v, _ := strings.Cut(strings.TrimSpace(l), " ")
		if k == "" {
			continue
		}
		ext[strings.ToUpper(k)] = strings.TrimSpace(v)
	}
	return ext
}
