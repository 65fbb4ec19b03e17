package testkit

// The command loop of a fake SMTP server without a script: the handler
// first, then the defaults of a server that takes everything, and the
// transaction kept from the replies actually sent.

import (
	"fmt"
	"strings"
	"time"
)

// serve greets and answers commands until QUIT, a hang-up or the end of
// the connection.
func (s *SMTPSession) serve() {
	var g Reply
	if s.srv.o.Greeting != nil {
		g = s.srv.o.Greeting(s.N)
	}
	if !s.send(g, "220 "+s.srv.Name+" ESMTP fake") {
		return
	}
	for range smtpMaxCommands {
		line, err := s.ReadLine()
		if err != nil {
			return
		}
		verb := SMTPVerb(line)
		var chunk bdatChunk
		if verb == "BDAT" {
			if chunk, err = s.readChunk(line); err != nil {
				return
			}
		}
		r := s.ask(verb, line)
		if verb == "BDAT" {
			r = s.chunkReply(r, chunk)
		}
		if r.Text == "" && !r.Hangup {
			r.Text = s.defaultReply(verb, line)
		}
		if r.StartTLS == nil && verb == "STARTTLS" && s.srv.o.TLS != nil && !s.tls && code(r.Text) == 220 {
			r.StartTLS = s.srv.o.TLS
		}
		if !s.send(r, r.Text) {
			return
		}
		switch c := code(r.Text); verb {
		case "EHLO", "HELO":
			s.helo = strings.TrimSpace(line[4:])
		case "MAIL":
			s.tx = nil
			if c/100 == 2 {
				s.tx = &SMTPMessage{Helo: s.helo, MailLine: line}
			}
		case "RCPT":
			if c/100 == 2 && s.tx != nil {
				s.tx.RcptLines = append(s.tx.RcptLines, line)
			}
		case "DATA":
			switch {
			case c == 354:
				if !s.content() {
					return
				}
			case s.tx != nil && len(s.tx.RcptLines) > 0:
				s.tx = nil // refused: the transaction ends
			default:
				// Refused for want of recipients: MAIL stays in effect.
			}
		case "RSET":
			s.tx = nil
		case "QUIT":
			return
		}
		if r.StartTLS != nil {
			if s.startTLS(r.StartTLS) != nil {
				return
			}
		}
	}
}

// ask asks the handler, if any, about one command.
func (s *SMTPSession) ask(verb, line string) Reply {
	if h := s.srv.handler(); h != nil {
		return h(s, verb, line)
	}
	return Reply{}
}

// send waits r's delay, then hangs up or sends r's text (def when it is
// empty); it reports whether the session goes on.
func (s *SMTPSession) send(r Reply, def string) bool {
	if r.Delay > 0 {
		time.Sleep(r.Delay)
	}
	if r.Hangup {
		return false
	}
	if r.Text == "" {
		r.Text = def
	}
	return s.reply(r.Text) == nil
}

// defaultReply is the answer of a server that takes everything.
func (s *SMTPSession) defaultReply(verb, line string) string {
	switch verb {
	case "EHLO":
		lines := []string{"250 " + s.srv.Name + " greets " + strings.TrimSpace(line[4:])}
		for _, e := range s.srv.extensions() {
			lines = append(lines, "250 "+e)
		}
		if s.srv.o.TLS != nil && !s.tls {
			lines = append(lines, "250 STARTTLS")
		}
		return strings.Join(lines, "\n")
	case "HELO":
		return "250 " + s.srv.Name
	case "MAIL":
		return "250 2.1.0 Ok"
	case "RCPT":
		if s.tx == nil {
			return "503 5.5.1 Error: need MAIL command"
		}
		return "250 2.1.5 Ok"
	case "DATA":
		if s.tx == nil || len(s.tx.RcptLines) == 0 {
			return "554 5.5.1 Error: no valid recipients"
		}
		return "354 End data with <CR><LF>.<CR><LF>"
	case "BDAT":
		return s.chunkDefault(line)
	case "STARTTLS":
		if s.srv.o.TLS != nil && !s.tls {
			return "220 2.0.0 Ready to start TLS"
		}
	case "RSET", "NOOP":
		return "250 2.0.0 Ok"
	case "QUIT":
		return "221 2.0.0 Bye"
	}
	return fmt.Sprintf("502 5.5.2 Error: command %q not recognized", verb)
}

// content reads a message after 354, asks about "DOT" (after the
// answer's Delay), records the message on a 2xx and replies; it reports
// whether the session goes on.
func (s *SMTPSession) content() bool {
	var data strings.Builder
	for n := 0; ; n++ {
		l, err := s.rawLine()
		if err != nil || n > smtpMaxLines {
			return false
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "." {
			break
		}
		data.WriteString(strings.TrimPrefix(l, ".") + "\r\n")
	}
	r := s.ask("DOT", "")
	if r.Delay > 0 {
		time.Sleep(r.Delay)
	}
	if r.Hangup {
		return false
	}
	if r.Text == "" {
		r.Text = "250 2.0.0 Ok: queued as FAKE"
	}
	// Like a real MTA: committed before the reply is sent, whether or
	// not the client is still there to read it.
	if code(r.Text)/100 == 2 {
		m := SMTPMessage{Helo: s.helo}
		if s.tx != nil {
			m = *s.tx
		}
		m.Data, m.At = data.String(), time.Now()
		s.srv.mu.Lock()
		s.srv.msgs = append(s.srv.msgs, m)
		s.srv.mu.Unlock()
	}
	s.tx = nil
	return s.reply(r.Text) == nil
}
