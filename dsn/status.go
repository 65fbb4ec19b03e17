package dsn

import "strings"

// validStatus reports whether s is an enhanced status code as RFC 3463 §2
// defines it: class "." subject "." detail, where class is 2, 4 or 5 and
// subject and detail are 1 to 3 digits each. RFC 3464 §2.3.4 requires this
// form in the Status field.
func validStatus(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	if parts[0] != "2" && parts[0] != "4" && parts[0] != "5" {
		return false
	}
	return digits(parts[1], 3) && digits(parts[2], 3)
}

// digits reports whether s is 1 to max ASCII digits.
func digits(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// StatusFromReply returns the enhanced status code (RFC 3463) of an SMTP
// reply, for the Status field when only the reply text is known.
//
// "550 5.1.1 user unknown" gives "5.1.1". Only the first line of a
// multi-line reply is read (RFC 2034 §4 repeats the code on every line).
// A reply may also start with the enhanced code itself ("5.1.1 ..."), as
// local diagnostics do. An enhanced code whose class differs from the
// basic reply code is ignored, as RFC 2034 §4 requires them to agree and
// Postfix does the same. Without a usable enhanced code the class of the
// basic code decides: 4xx gives "4.0.0", 5xx and anything else "5.0.0"
// (a notice about an unreadable reply reports a permanent problem).
func StatusFromReply(reply string) string {
	line := reply
	if i := strings.IndexAny(line, "\r\n"); i >= 0 {
		line = line[:i]
	}
	line = strings.TrimLeft(line, " \t")

	basic := byte(0) // class digit of the basic reply code, 0 if none
	rest := line
	if len(line) >= 3 && digits(line[:3], 3) && (len(line) == 3 || line[3] == ' ' || line[3] == '-') {
		basic = line[0]
		rest = strings.TrimLeft(line[3:], " -\t")
	}

	token := rest
	if i := strings.IndexAny(token, " \t"); i >= 0 {
		token = token[:i]
	}
	if validStatus(token) && (basic == 0 || basic == token[0]) {
		return token
	}
	if basic == '4' {
		return "4.0.0"
	}
	return "5.0.0"
}
