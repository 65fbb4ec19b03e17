package diag

// The relay tester's own SMTP session: bounded reads, raw commands.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"mailward/reply"
)

// session is one SMTP connection with bounded reads.
type session struct {
	conn    net.Conn
	br      *bufio.Reader
	timeout time.Duration
	steps   *[]Step
}

// cmd sends one command and reads its reply.
func (s *session) cmd(c string) (int, string, error) {
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil {
		return 0, "", err
	}
	if _, err := io.WriteString(s.conn, c+"\r\n"); err != nil {
		*s.steps = append(*s.steps, Step{Command: c, Reply: "(write failed: " + err.Error() + ")"})
		return 0, "", fmt.Errorf("sending %q: %w", c, err)
	}
	return s.read(c)
}

// read reads one (possibly multi-line) reply and records it under c.
func (s *session) read(c string) (int, string, error) {
	code, text, err := readReply(s.br, s.conn, s.timeout)
	rec := text
	if err != nil {
		if rec != "" {
			rec += "\n"
		}
		rec += "(" + err.Error() + ")"
	}
	*s.steps = append(*s.steps, Step{Command: c, Reply: rec})
	if err != nil {
		if c == "" {
			return code, text, fmt.Errorf("reading greeting: %w", err)
		}
		return code, text, fmt.Errorf("reply to %q: %w", c, err)
	}
	return code, text, nil
}

// readReply reads one reply with the project's one parser (package
// reply), which bounds line length and line count so a hostile server
// cannot make us buffer without end; each reply gets its own deadline,
// so a tarpit costs at most timeout per reply. The text is the reply as
// it was on the wire, one line per line, for the report.
func readReply(br *bufio.Reader, conn net.Conn, timeout time.Duration) (int, string, error) {
	if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return 0, "", err
	}
	r, err := reply.Read(br)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = errors.New("connection closed by server")
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			err = fmt.Errorf("no reply within %v", timeout)
		}
		return 0, "", err
	}
	return r.Code, strings.TrimSuffix(strings.ReplaceAll(string(r.Wire()), "\r\n", "\n"), "\n"), nil
}

// quit ends the session politely; its reply does not matter (some servers
// have already hung up after a refusal).
func (s *session) quit() {
	t := s.timeout
	if t > 5*time.Second {
		t = 5 * time.Second
	}
	saved := s.timeout
	s.timeout = t
	_, _, _ = s.cmd("QUIT")
	s.timeout = saved
}

// offers reports whether an EHLO reply lists keyword.
func offers(ehlo, keyword string) bool {
	for i, l := range strings.Split(ehlo, "\n") {
		if i == 0 || len(l) < 4 {
			continue
		}
		f := strings.Fields(l[4:])
		if len(f) > 0 && strings.EqualFold(f[0], keyword) {
			return true
		}
	}
	return false
}
