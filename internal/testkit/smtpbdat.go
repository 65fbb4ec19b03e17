package testkit

// BDAT (RFC 3030) in the fake server's command loop: the chunk's octets
// are read before the reply, the handler is asked about "BDAT" (and, for
// LAST, about "DOT", as for DATA's end), and a 2xx to LAST records the
// message, committed before the reply as for DATA.

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// smtpMaxChunk bounds one chunk a fake reads.
const smtpMaxChunk = 64 << 20

// bdatChunk is one chunk read from the client.
type bdatChunk struct {
	data []byte
	last bool
}

// readChunk reads the octets of "BDAT <size> [LAST]". An unreadable size
// ends the connection: the octets cannot be told from the next command.
func (s *SMTPSession) readChunk(line string) (bdatChunk, error) {
	f := strings.Fields(line)
	if len(f) < 2 || len(f) > 3 {
		return bdatChunk{}, errors.New("BDAT: bad arguments")
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 0 || n > smtpMaxChunk {
		return bdatChunk{}, fmt.Errorf("BDAT: bad size %q", f[1])
	}
	c := bdatChunk{data: make([]byte, n), last: len(f) == 3 && strings.EqualFold(f[2], "LAST")}
	s.conn.SetReadDeadline(time.Now().Add(s.srv.o.Timeout))
	if _, err := io.ReadFull(s.br, c.data); err != nil {
		return bdatChunk{}, err
	}
	return c, nil
}

// chunkReply is the reply to a chunk: the handler's (r), else for LAST
// the handler's answer about "DOT"; then the chunk is kept, and the
// message recorded, if the reply about to be sent is a 2xx.
func (s *SMTPSession) chunkReply(r Reply, c bdatChunk) Reply {
	open := s.tx != nil && len(s.tx.RcptLines) > 0
	if r == (Reply{}) && c.last && open {
		r = s.ask("DOT", "")
	}
	if r.Hangup {
		return r
	}
	if r.Text == "" {
		line := fmt.Sprintf("BDAT %d", len(c.data))
		if c.last {
			line += " LAST"
		}
		r.Text = s.chunkDefault(line)
	}
	if !open {
		return r
	}
	if code(r.Text)/100 != 2 {
		s.tx = nil // a refused chunk ends the transaction (RFC 3030 section 2)
		return r
	}
	s.tx.Data += string(c.data)
	s.tx.Chunks++
	if c.last {
		m := *s.tx
		m.At = time.Now()
		s.srv.mu.Lock()
		s.srv.msgs = append(s.srv.msgs, m)
		s.srv.mu.Unlock()
		s.tx = nil
	}
	return r
}

// chunkDefault is the default reply to a chunk, after its octets.
func (s *SMTPSession) chunkDefault(line string) string {
	switch {
	case s.tx == nil:
		return "503 5.5.1 Error: need MAIL command"
	case len(s.tx.RcptLines) == 0:
		return "554 5.5.1 Error: no valid recipients"
	case strings.HasSuffix(strings.ToUpper(line), " LAST"):
		return "250 2.0.0 Ok: queued as FAKE"
	}
	return "250 2.0.0 Ok"
}
