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

// readReply reads lines "NNN-..." up to the final "NNN ...". Lines and
// line counts are bounded so a hostile server cannot make us buffer
// without end; each reply gets its own deadline, so a tarpit costs at most
// timeout per reply.
func readReply(br *bufio.Reader, conn net.Conn, timeout time.Duration) (int, string, error) {
	if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return 0, "", err
	}
	var lines []string
	code := 0
	for i := 0; i < maxReplyLines; i++ {
		line, err := readLine(br)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("connection closed by server")
			} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
				err = fmt.Errorf("no reply within %v", timeout)
			}
			return code, strings.Join(lines, "\n"), err
		}
		lines = append(lines, line)
		if len(line) < 3 || !isDigits(line[:3]) || len(line) > 3 && line[3] != ' ' && line[3] != '-' {
			return 0, strings.Join(lines, "\n"), fmt.Errorf("malformed reply line %q", truncate(line, 80))
		}
		c := int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
		if code == 0 {
			code = c
		}
		if len(line) == 3 || line[3] == ' ' {
			return code, strings.Join(lines, "\n"), nil
		}
	}
	return code, strings.Join(lines, "\n"), fmt.Errorf("reply longer than %d lines", maxReplyLines)
}

// readLine reads one line without its CRLF (or bare LF); an overlong line
// is cut at maxLineBytes and the rest discarded.
func readLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(b) < maxLineBytes {
			room := maxLineBytes - len(b)
			if len(frag) < room {
				room = len(frag)
			}
			b = append(b, frag[:room]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if len(b) > 0 && errors.Is(err, io.EOF) {
				// A last line without newline before close: still
				// report the close, the reply is incomplete.
				return "", io.EOF
			}
			return "", err
		}
		break
	}
	s := strings.TrimRight(string(b), "\r\n")
	return s, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
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
