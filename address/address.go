// Package address parses the reverse- and forward-paths of MAIL and RCPT
// (RFC 5321 §4.1.2) into the form every later stage uses.
//
// KB304897 decides the edge cases: an address without a domain is local
// (the caller appends the default domain); '%' and '!' are ordinary
// local-part characters that never route; a quoted local part stays quoted;
// source routes are stripped (RFC 5321 §4.1.1.3 and appendix C).
package address

import (
	"errors"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// Limits from RFC 5321 §4.5.3.1.
const (
	MaxLocalPart = 64
	MaxDomain    = 255
	MaxPath      = 256
)

// Address is a mailbox. Local is kept as written (quoted if it was
// quoted and had to be); Domain is lower-cased, without a trailing dot,
// and empty when the client gave none.
type Address struct {
	Local  string
	Domain string
}

// Null reports whether this is the null reverse-path <>.
func (a Address) Null() bool { return a.Local == "" && a.Domain == "" }

// String renders local@domain, or "" for the null path.
func (a Address) String() string {
	if a.Domain == "" {
		return a.Local
	}
	return a.Local + "@" + a.Domain
}

// Key is the lookup form: lower-cased. Local parts are case-sensitive in
// theory (RFC 5321 §2.4) but every mail system treats them as not.
func (a Address) Key() string { return strings.ToLower(a.String()) }

// IsLiteral reports whether the domain is an address literal [..].
func (a Address) IsLiteral() bool { return strings.HasPrefix(a.Domain, "[") }

// Errors. Each maps to its own SMTP reply in the smtp package.
var (
	ErrSyntax      = errors.New("address: syntax error")
	ErrTooLong     = errors.New("address: too long")
	ErrNullNotHere = errors.New("address: null path not allowed here")
	ErrNonASCII    = errors.New("address: non-ASCII address without SMTPUTF8")
)

// ParsePath parses the argument of "MAIL FROM:" or "RCPT TO:" (the text
// after the colon). It returns the address and the remaining parameter
// text (ESMTP parameters). Angle brackets are optional, as in KB304897's
// own examples ("MAIL FROM:LocalUser"); a path without them ends at the
// first space. allowNull permits "<>" (MAIL only); utf8OK permits
// non-ASCII (SMTPUTF8, RFC 6531).
func ParsePath(arg string, allowNull, utf8OK bool) (Address, string, error) {
	arg = strings.TrimLeft(arg, " ")
	var path, rest string
	if strings.HasPrefix(arg, "<") {
		end := closingBracket(arg)
		if end < 0 {
			return Address{}, "", ErrSyntax
		}
		path, rest = arg[1:end], arg[end+1:]
		if rest != "" && rest[0] != ' ' {
			return Address{}, "", ErrSyntax
		}
	} else {
		if i := strings.IndexByte(arg, ' '); i >= 0 {
			path, rest = arg[:i], arg[i:]
		} else {
			path = arg
		}
		if path == "" {
			return Address{}, "", ErrSyntax
		}
	}
	rest = strings.TrimSpace(rest)
	if len(path) > MaxPath {
		return Address{}, "", ErrTooLong
	}
	if path == "" {
		if !allowNull {
			return Address{}, "", ErrNullNotHere
		}
		return Address{}, rest, nil
	}
	if !utf8OK {
		for i := 0; i < len(path); i++ {
			if path[i] >= 0x80 {
				return Address{}, "", ErrNonASCII
			}
		}
	} else if !utf8.ValidString(path) {
		return Address{}, "", ErrSyntax
	}
	// A source route "@a,@b:mailbox" is accepted and ignored (RFC 5321
	// §4.1.1.3, appendix C): it must never make us route through "a".
	if path[0] == '@' {
		colon := strings.IndexByte(path, ':')
		if colon < 0 {
			return Address{}, "", ErrSyntax
		}
		for _, hop := range strings.Split(path[:colon], ",") {
			if !strings.HasPrefix(hop, "@") || !validDomain(hop[1:]) {
				return Address{}, "", ErrSyntax
			}
		}
		path = path[colon+1:]
	}
	a, err := Parse(path)
	return a, rest, err
}

// closingBracket finds the '>' that closes a path starting with '<',
// skipping quoted strings (a quoted local part may contain '>').
func closingBracket(s string) int {
	inQuote := false
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == '>':
			return i
		}
	}
	return -1
}

// Parse parses a bare mailbox "local@domain" or "local". The domain is
// split at the last '@' outside a quoted string, so
// "\"User@Domain.tld\"" is a local part with no domain (KB304897, test 7).
func Parse(s string) (Address, error) {
	if s == "" {
		return Address{}, ErrSyntax
	}
	local, domain, hasDomain := s, "", false
	if s[0] == '"' {
		end := quotedEnd(s)
		if end < 0 {
			return Address{}, ErrSyntax
		}
		local = s[:end+1]
		switch {
		case end+1 == len(s):
		case s[end+1] == '@':
			domain, hasDomain = s[end+2:], true
		default:
			return Address{}, ErrSyntax
		}
		// "alice"@x is alice@x (RFC 5321 §4.1.2: quoting is only needed
		// where the dot-string form cannot carry the text).
		if inner := unquote(local[1 : len(local)-1]); validDotString(inner) {
			local = inner
		}
	} else {
		if at := strings.LastIndexByte(s, '@'); at >= 0 {
			local, domain, hasDomain = s[:at], s[at+1:], true
		}
		if !validDotString(local) {
			return Address{}, ErrSyntax
		}
	}
	if len(local) > MaxLocalPart {
		return Address{}, ErrTooLong
	}
	if hasDomain {
		domain = strings.ToLower(strings.TrimSuffix(domain, "."))
		if len(domain) > MaxDomain {
			return Address{}, ErrTooLong
		}
		if !validDomain(domain) {
			return Address{}, ErrSyntax
		}
	}
	return Address{Local: local, Domain: domain}, nil
}

// quotedEnd returns the index of the closing quote of a quoted string
// starting at s[0]. Only RFC 5321 qtextSMTP and quoted-pairSMTP (printable
// ASCII and space; UTF-8 is checked by the caller) may appear inside.
func quotedEnd(s string) int {
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c < 32 || c == 127 {
			return -1
		}
		switch c {
		case '\\':
			i++
			if i < len(s) && (s[i] < 32 || s[i] == 127) {
				return -1
			}
		case '"':
			return i
		}
	}
	return -1
}

func unquote(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// atext per RFC 5322 §3.2.3; '%' and '!' included on purpose (KB304897).
func isAtext(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	case c >= 0x80: // UTF-8, allowed only under SMTPUTF8 (checked by the caller)
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func validDotString(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '.' && !isAtext(s[i]) {
			return false
		}
	}
	return true
}

func validDomain(d string) bool {
	if d == "" {
		return false
	}
	if d[0] == '[' {
		return validLiteral(d)
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c >= 0x80) {
				return false
			}
		}
	}
	return true
}

// validLiteral accepts [IPv4] and [IPv6:...] (RFC 5321 §4.1.3).
func validLiteral(d string) bool {
	if len(d) < 3 || d[len(d)-1] != ']' {
		return false
	}
	inner := d[1 : len(d)-1]
	if v6, ok := strings.CutPrefix(strings.ToLower(inner), "ipv6:"); ok {
		a, err := netip.ParseAddr(v6)
		return err == nil && a.Is6()
	}
	a, err := netip.ParseAddr(inner)
	return err == nil && a.Is4()
}
