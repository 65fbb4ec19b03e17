// Package reply is the SMTP reply as a value: a code, an enhanced status
// code and lines of text (RFC 5321 §4.2, RFC 3463, RFC 2034).
//
// Every stage speaks it. The receive side's command handlers return a
// Reply and the session loop writes it; the policy decides with one; the
// SMTP client parses the next hop's answers into one; the queue records
// each recipient's last outcome as one; the DSN builder reads the status
// and the diagnostic from one. A reply is never a format string or an
// error whose text happens to start with digits.
package reply

import (
	"fmt"
	"strconv"
	"strings"
)

// Reply is one SMTP reply.
type Reply struct {
	// Code is the three-digit reply code (RFC 5321 §4.2.1); 0 is "no
	// reply" (the zero Reply).
	Code int
	// Status is the enhanced status code, "5.7.1" (RFC 3463); "" when the
	// reply has none (greeting, EHLO, 354, or a server without RFC 2034).
	Status string
	// Lines is the text of each line, without code, separator or status.
	Lines []string
}

// New returns a one-line reply; the text is formatted as by fmt.Sprintf.
func New(code int, status, format string, a ...any) Reply {
	return Reply{Code: code, Status: status, Lines: []string{fmt.Sprintf(format, a...)}}
}

// FromStatus returns a one-line reply for an outcome known only by its
// enhanced status: the code is the class's usual one (250, 451, 550).
// Local delivery outcomes and old queue records are made into replies
// this way.
func FromStatus(status, text string) Reply {
	code := 550
	switch {
	case strings.HasPrefix(status, "2."):
		code = 250
	case strings.HasPrefix(status, "4."):
		code = 451
	}
	return Reply{Code: code, Status: status, Lines: []string{text}}
}

// IsZero reports whether no reply was read or made.
func (r Reply) IsZero() bool { return r.Code == 0 }

// Positive reports a 2xx reply.
func (r Reply) Positive() bool { return r.Code >= 200 && r.Code < 300 }

// Intermediate reports a 3xx reply (354, 334).
func (r Reply) Intermediate() bool { return r.Code >= 300 && r.Code < 400 }

// Temporary reports a transient negative reply (4xx, RFC 5321 §4.2.1).
func (r Reply) Temporary() bool { return r.Code >= 400 && r.Code < 500 }

// Permanent reports a permanent negative reply (5xx, RFC 5321 §4.2.1).
func (r Reply) Permanent() bool { return r.Code >= 500 && r.Code < 600 }

// Text is the reply's text, its lines joined by "; ".
func (r Reply) Text() string { return strings.Join(r.Lines, "; ") }

// EnhancedStatus is Status, or when the reply has none the status its
// class implies ("4.0.0", "5.0.0", "2.0.0"), as RFC 3464 §2.3.4 needs one
// for every recipient of a notice.
func (r Reply) EnhancedStatus() string {
	if r.Status != "" {
		return r.Status
	}
	switch c := r.Code / 100; c {
	case 2, 4, 5:
		return strconv.Itoa(c) + ".0.0"
	}
	return "5.0.0"
}

// String renders the reply as one line, for logs, events, a queue's last
// error and a notice's Diagnostic-Code: "550 5.1.1 text; more text". The
// zero Reply renders as "".
func (r Reply) String() string {
	if r.Code == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(strconv.Itoa(r.Code))
	if r.Status != "" {
		b.WriteByte(' ')
		b.WriteString(r.Status)
	}
	if text := r.Text(); text != "" {
		b.WriteByte(' ')
		b.WriteString(text)
	}
	return b.String()
}

// Wire renders the reply as it goes on the wire: one line per text line,
// "550-5.7.1 first" ... "550 5.7.1 last", each ended by CRLF (RFC 5321
// §4.2.1; RFC 2034 §4 repeats the enhanced code on every line). A CR or
// LF inside the text — client input echoed back — becomes '?', so that
// no reply can ever turn into two.
func (r Reply) Wire() []byte {
	lines := r.Lines
	if len(lines) == 0 {
		lines = []string{""}
	}
	var b []byte
	for i, l := range lines {
		b = strconv.AppendInt(b, int64(r.Code), 10)
		if i < len(lines)-1 {
			b = append(b, '-')
		} else {
			b = append(b, ' ')
		}
		if r.Status != "" {
			b = append(b, r.Status...)
			if l != "" {
				b = append(b, ' ')
			}
		}
		b = appendOneLine(b, l)
		b = append(b, '\r', '\n')
	}
	return b
}

func appendOneLine(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			c = '?'
		}
		b = append(b, c)
	}
	return b
}

// Parse reads the one-line form String writes ("451 4.4.0 text"). It
// reports false when s does not start with a reply code; the text after
// the status is kept as one line.
func Parse(s string) (Reply, bool) {
	code, rest, ok := splitCode(s)
	if !ok {
		return Reply{}, false
	}
	r := Reply{Code: code}
	if st := leadingStatus(code, rest); st != "" {
		r.Status = st
		rest = strings.TrimPrefix(rest[len(st):], " ")
	}
	r.Lines = []string{rest}
	return r, true
}

// splitCode parses "250 text", "250" (RFC 5321 §4.2: first digit 2-5,
// second 0-5).
func splitCode(s string) (int, string, bool) {
	if len(s) < 3 || s[0] < '2' || s[0] > '5' || s[1] < '0' || s[1] > '5' || s[2] < '0' || s[2] > '9' {
		return 0, "", false
	}
	code := int(s[0]-'0')*100 + int(s[1]-'0')*10 + int(s[2]-'0')
	if len(s) == 3 {
		return code, "", true
	}
	if s[3] != ' ' {
		return 0, "", false
	}
	return code, s[4:], true
}

// leadingStatus returns the RFC 3463 code at the start of text if there
// is one and its class agrees with the basic code (RFC 2034 §4); a
// status of another class is ignored, as Postfix does.
func leadingStatus(code int, text string) string {
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

// ValidStatus reports whether s is an enhanced status code as RFC 3463
// §2 defines it: class (2, 4 or 5) "." subject "." detail, 1-3 digits
// each.
func ValidStatus(s string) bool {
	return s != "" && leadingStatus(int(s[0]-'0')*100, s) == s
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
