package smtp

import (
	"errors"
	"time"

	"mailward/reply"
)

// errShuttingDown ends a session the server is draining.
var errShuttingDown = errors.New("server shutting down")

// drain is the server's stop for one session. A session waiting for a
// command is ended at once with 421 (RFC 5321 §3.8: "Service not
// available, closing transmission channel" on shutdown), as Postfix's
// smtpd does: an idle connection, such as a peer's cached one, must not
// hold the shutdown for the whole grace. A message being received
// (DATA) is let finish within the grace, so that it is accepted or
// refused, never cut half-way without an answer.
func (s *session) drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	if !s.rd.data {
		s.rd.c.SetReadDeadline(time.Now())
	}
}

// draining reports whether the server has asked the session to end.
func (s *session) draining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// shutdownReply is the last word of a drained session.
func (s *session) shutdownReply() reply.Reply {
	return reply.New(421, "4.3.2", "%s Service shutting down, closing connection", s.l.FQDN)
}
