package smtpclient

import (
	"strings"

	"mailward/reply"
)

// ReplyError is a negative reply at a stage where the session cannot go
// on (greeting, EHLO, STARTTLS, RSET).
type ReplyError struct {
	Stage string
	Reply reply.Reply
}

func (e *ReplyError) Error() string { return e.Stage + ": " + e.Reply.String() }

// parseEHLO turns the lines after the first of an EHLO reply into
// keyword -> parameters (RFC 5321 §4.1.1.1). Keywords are upper-cased;
// empty lines (smtp-sink ends its reply with "250 ") are skipped.
func parseEHLO(r reply.Reply) map[string]string {
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

// firstWord is the first word of a reply's first line: the server's
// name in a greeting or a reply to EHLO/HELO.
func firstWord(r reply.Reply) string {
	if len(r.Lines) == 0 {
		return ""
	}
	w, _, _ := strings.Cut(strings.TrimSpace(r.Lines[0]), " ")
	return w
}
