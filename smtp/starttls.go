package smtp

import (
	"bufio"
	"crypto/tls"
	"strings"
	"time"

	"mailward/reply"
)

// cmdStartTLS implements RFC 3207.
func (s *session) cmdStartTLS(arg string) reply.Reply {
	switch {
	case s.opt.TLS == nil:
		return reply.New(502, "5.5.1", "STARTTLS not available")
	case s.tls:
		return reply.New(503, "5.5.1", "TLS already active")
	case strings.TrimSpace(arg) != "":
		return reply.New(501, "5.5.4", "Syntax: STARTTLS")
	}
	s.send(reply.New(220, "2.0.0", "Ready to start TLS"))
	if err := s.flush(); err != nil {
		s.quit = true
		return reply.Reply{}
	}
	// Anything the client pipelined after STARTTLS arrived in plaintext
	// and could have been injected by a man in the middle
	// (CVE-2011-0411): it is discarded with the old reader below.
	tc := tls.Server(s.conn, s.opt.TLS)
	tc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.HandshakeContext(s.ctx); err != nil {
		s.log.Debug("smtp: TLS handshake failed", "ip", s.ip, "err", err)
		s.quit = true
		return reply.Reply{}
	}
	tc.SetDeadline(time.Time{})
	s.conn = tc
	s.mu.Lock()
	s.rd = &clientReader{c: tc, end: s.rd.end}
	s.mu.Unlock()
	s.br = bufio.NewReaderSize(s.rd, 16<<10)
	s.bw = bufio.NewWriterSize(tc, 4<<10)
	s.tls = true
	s.plog.TLS(tc.ConnectionState())
	// RFC 3207 §4.2: forget everything learnt before TLS; a new EHLO is
	// required, and so is a new AUTH (KB843106: authenticate after TLS).
	s.resetTransaction()
	s.helo, s.esmtp, s.authUser, s.orgPeer = "", false, "", ""
	return reply.Reply{}
}
