package filter

import (
	"strings"

	"mailward/reply"
)

// Sender is one virtual server's sender filter (Exchange's sender
// filtering): blocked addresses and domains, and the empty sender.
type Sender struct {
	// Blocked are patterns, lower-case: "user@domain", "*@domain", or
	// "*@*.domain" (every subdomain, not the domain itself).
	Blocked []string
	// RefuseNull refuses MAIL FROM:<>. RFC 5321 §4.5.5 requires that
	// notifications be accepted, so this is for virtual servers that
	// only take submissions.
	RefuseNull bool
	// Drop accepts a blocked sender's message and discards it, with an
	// event, instead of refusing it at MAIL (Exchange's "accept
	// messages without notifying sender of filtering").
	Drop bool
}

// NullPattern is what Match reports for a refused empty sender.
const NullPattern = "<>"

// Match returns the pattern that blocks sender ("" for <>), if one does.
func (s *Sender) Match(sender string) (string, bool) {
	if sender == "" {
		return NullPattern, s.RefuseNull
	}
	a := strings.ToLower(sender)
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return "", false
	}
	domain := a[at+1:]
	for _, p := range s.Blocked {
		switch {
		case p == a:
		case strings.HasPrefix(p, "*@*."):
			if !strings.HasSuffix(domain, p[3:]) {
				continue
			}
		case strings.HasPrefix(p, "*@"):
			if domain != p[2:] {
				continue
			}
		default:
			continue
		}
		return p, true
	}
	return "", false
}

// Refusal is the answer at MAIL to a blocked sender.
func (s *Sender) Refusal(sender string) reply.Reply {
	if sender == "" {
		return reply.New(550, "5.7.1", "The empty sender <> is not accepted on this virtual server")
	}
	return reply.New(550, "5.7.1", "Sender %s refused by the sender filter", sender)
}

// CheckPattern says what is wrong with a blocked sender pattern, for
// config check.
func CheckPattern(p string) string {
	at := strings.LastIndexByte(p, '@')
	switch {
	case at <= 0 || at == len(p)-1:
		return "want user@domain, *@domain or *@*.domain"
	case strings.Contains(p[:at], "*") && p[:at] != "*":
		return "a * in the local part stands alone (*@domain)"
	case strings.Contains(p[at+1:], "*") && (!strings.HasPrefix(p[at+1:], "*.") || strings.Count(p[at+1:], "*") > 1):
		return "a * in the domain is the first label only (*@*.domain)"
	}
	return ""
}
