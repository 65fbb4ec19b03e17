package smtp

import (
	"errors"
	"strconv"
	"strings"

	"mailward/address"
	"mailward/reply"
)

type param struct{ key, val string }

type pathAndParams struct {
	path string
	list []param
}

// parseParams splits "<path> K=V K2" (RFC 5321 §4.1.2 Mail-parameters).
// The path part may be unbracketed (KB304897's examples are).
func parseParams(s string, esmtp bool) (pathAndParams, reply.Reply) {
	s = strings.TrimLeft(s, " ")
	var out pathAndParams
	rest := ""
	if strings.HasPrefix(s, "<") {
		end := pathEnd(s)
		if end < 0 {
			return out, reply.New(501, "5.5.4", "Syntax error in address: missing '>'")
		}
		out.path, rest = s[:end+1], s[end+1:]
	} else {
		out.path, rest, _ = strings.Cut(s, " ")
		rest = " " + rest
	}
	rest = strings.TrimSpace(rest)
	if rest == "" {
		return out, reply.Reply{}
	}
	if !esmtp {
		return out, reply.New(555, "5.5.4", "Parameters need EHLO, not HELO")
	}
	for _, f := range strings.Fields(rest) {
		k, v, _ := strings.Cut(f, "=")
		if k == "" {
			return out, reply.New(501, "5.5.4", "Syntax error in parameters")
		}
		out.list = append(out.list, param{strings.ToUpper(k), v})
	}
	return out, reply.Reply{}
}

// pathEnd finds the '>' closing a bracketed path, skipping quoted strings.
func pathEnd(s string) int {
	q := false
	for i := 1; i < len(s); i++ {
		switch {
		case q && s[i] == '\\':
			i++
		case s[i] == '"':
			q = !q
		case !q && s[i] == '>':
			return i
		}
	}
	return -1
}

func parseSize(v string) (int64, error) {
	if v == "" || len(v) > 20 {
		return 0, errors.New("bad size")
	}
	return strconv.ParseInt(v, 10, 64)
}

// xtextDecode decodes RFC 3461 §4 xtext ("+2B" is '+').
func xtextDecode(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			if i+2 >= len(s) || !isUpperHex(s[i+1]) || !isUpperHex(s[i+2]) {
				return "", false
			}
			n, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if n < 0x20 || n == 0x7f {
				// CR, LF, NUL... would break the queue file and any
				// header the value is copied into.
				return "", false
			}
			b.WriteByte(byte(n))
			i += 2
		case c < 33 || c > 126 || c == '=':
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// parseNotify validates RFC 3461 §4.1: NEVER alone, or a list of
// SUCCESS, FAILURE, DELAY.
func parseNotify(v string) (string, bool) {
	v = strings.ToUpper(v)
	if v == "NEVER" {
		return v, true
	}
	if v == "" {
		return "", false
	}
	seen := map[string]bool{}
	for _, k := range strings.Split(v, ",") {
		if (k != "SUCCESS" && k != "FAILURE" && k != "DELAY") || seen[k] {
			return "", false
		}
		seen[k] = true
	}
	return v, true
}

// parseORCPT validates RFC 3461 §4.2: addr-type ";" xtext. It is kept
// decoded, as "rfc822;addr", for the DSN's Original-Recipient field.
func parseORCPT(v string) (string, bool) {
	typ, val, ok := strings.Cut(v, ";")
	if !ok || typ == "" {
		return "", false
	}
	dec, ok := xtextDecode(val)
	if !ok || dec == "" || len(dec) > address.MaxPath {
		return "", false
	}
	return typ + ";" + dec, true
}

func isUpperHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }
