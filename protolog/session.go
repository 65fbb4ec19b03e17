package protolog

import (
	"crypto/tls"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// Role says which side of the conversation mailward is: it decides the
// direction of each line. "<" is what the peer sent, ">" what mailward
// sent.
type Role int

const (
	// Server: a virtual server; commands come in ("<"), replies go
	// out (">").
	Server Role = iota
	// Client: outbound delivery; commands go out (">"), replies come
	// in ("<").
	Client
)

// Masked replaces every secret in the log.
const Masked = "***"

var sessions atomic.Uint64

// Session writes one SMTP conversation's lines. A nil *Session writes
// nothing, so callers need no test for a log that is off.
type Session struct {
	log  *Log
	role Role
	id   string
	peer string
	// secretNext: the last reply was 334, so the next client line is a
	// SASL response (RFC 4954 §4): a password, a hash or a ticket.
	secretNext bool
}

// Session starts a conversation with peer ("ip:port"); what names it
// for the reader (the virtual server, the next hop) is written on a
// first "=" line.
func (l *Log) Session(role Role, peer, what string) *Session {
	if l == nil {
		return nil
	}
	// The process start time in the ID keeps IDs distinct across
	// restarts that append to the same file.
	side := "S"
	if role == Client {
		side = "C"
	}
	id := fmt.Sprintf("%s%x-%d", side, startID, sessions.Add(1))
	s := &Session{log: l, role: role, id: id, peer: peer}
	s.line("=", what)
	return s
}

var startID = time.Now().Unix()

// ID is the session's ID as written in the log.
func (s *Session) ID() string {
	if s == nil {
		return ""
	}
	return s.id
}

// Command logs a command line (without its CRLF), masking an AUTH or
// X-EXPS initial response and a response to a 334 challenge.
func (s *Session) Command(line string) {
	if s == nil {
		return
	}
	if s.secretNext {
		s.secretNext = false
		// "*" cancels the exchange (RFC 4954 §4) and is no secret.
		if line != "*" {
			line = Masked
		}
	} else {
		line = maskCommand(line)
	}
	s.line(s.dir(true), line)
}

// Reply logs a reply as it went on (or came off) the wire: wire holds
// its lines, each "code-text" or "code text", CRLF-ended. A 334's text
// is masked: a GSSAPI challenge carries Kerberos tokens, and the next
// client line is the secret.
func (s *Session) Reply(code int, wire []byte) {
	if s == nil {
		return
	}
	s.secretNext = code == 334
	if code == 334 {
		s.line(s.dir(false), "334 "+Masked)
		return
	}
	for _, t := range strings.Split(strings.TrimRight(string(wire), "\r\n"), "\n") {
		s.line(s.dir(false), strings.TrimSuffix(t, "\r"))
	}
}

// Data logs that message content (DATA) of n octets passed, without it.
func (s *Session) Data(n int64) {
	if s == nil {
		return
	}
	s.line(s.dir(true), fmt.Sprintf("[message data, %d octets, not logged]", n))
}

// Note logs a fact about the session that is neither a command nor a
// reply (TLS started, a line not logged), as an "=" line.
func (s *Session) Note(text string) {
	if s == nil {
		return
	}
	s.line("=", text)
}

// TLS notes that a TLS handshake (STARTTLS, RFC 3207) succeeded: what
// follows was encrypted on the wire.
func (s *Session) TLS(st tls.ConnectionState) {
	if s == nil {
		return
	}
	s.Note("TLS started: " + tls.VersionName(st.Version) + " " + tls.CipherSuiteName(st.CipherSuite))
}

// Close logs the end of the conversation.
func (s *Session) Close(why string) {
	if s == nil {
		return
	}
	if why != "" {
		why = " " + why
	}
	s.line("=", "closed"+why)
}

// dir is the direction of a command (cmd) or a reply.
func (s *Session) dir(cmd bool) string {
	if cmd == (s.role == Server) {
		return "<"
	}
	return ">"
}

// line writes "time id peer dir text". Control characters are escaped
// so that a peer cannot forge log lines.
func (s *Session) line(dir, text string) {
	now := s.log.opt.Now()
	b := make([]byte, 0, 64+len(text))
	b = now.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, ' ')
	b = append(b, s.id...)
	b = append(b, ' ')
	b = append(b, s.peer...)
	b = append(b, ' ')
	b = append(b, dir...)
	b = append(b, ' ')
	b = appendSafe(b, text)
	b = append(b, '\n')
	s.log.write(b, now)
}

func appendSafe(b []byte, t string) []byte {
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c < 0x20 || c == 0x7f {
			b = fmt.Appendf(b, "\\x%02x", c)
			continue
		}
		b = append(b, c)
	}
	return b
}

// maskCommand hides the initial response of AUTH and X-EXPS (RFC 4954
// §4: "AUTH mechanism [initial-response]"); the mechanism stays, as it
// is what a reader needs.
func maskCommand(line string) string {
	verb, rest, ok := strings.Cut(line, " ")
	if !ok {
		return line
	}
	switch strings.ToUpper(verb) {
	case "AUTH", "X-EXPS":
	default:
		return line
	}
	mech, initial, ok := strings.Cut(strings.TrimLeft(rest, " "), " ")
	if !ok || strings.TrimSpace(initial) == "" {
		return line
	}
	return verb + " " + mech + " " + Masked
}
