package e2e

// A tiny scriptable SMTP server that plays a next hop for remote
// delivery: it listens on a given loopback ip:port, greets with 220,
// answers EHLO with a fixed keyword list (PIPELINING, DSN, ...), and
// answers MAIL, RCPT, DATA and the end of data as a replaceable function
// says. It records every message it accepts. Everything is bounded: each
// read has a deadline, and Close waits at most a few seconds.

import (
	"bufio"
	"fmt"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeReplyFunc decides the reply to one command. verb is "MAIL", "RCPT",
// "DATA" (the 354 stage) or "DOT" (the end of the content); line is the
// whole command line ("" for DOT). It returns the reply line(s) to send
// (without CRLF; "\n" separates the lines of a multi-line reply) or ""
// for the default (250, or 354 to DATA).
type fakeReplyFunc func(verb, line string) string

// acceptAll is the default behaviour: every command succeeds.
func acceptAll(string, string) string { return "" }

// refuseAt answers reply to verb and takes everything else.
func refuseAt(verb, reply string) fakeReplyFunc {
	return func(v, _ string) string {
		if v == verb {
			return reply
		}
		return ""
	}
}

// fakeMsg is one message the fake accepted (250 to the final dot).
type fakeMsg struct {
	Helo      string
	MailLine  string   // "MAIL FROM:<a@b> RET=HDRS ..."
	RcptLines []string // accepted RCPT lines
	Data      string   // content, dot-unstuffed, CRLF line ends
	At        time.Time
}

// MessageID returns the Message-ID header of the content.
func (m fakeMsg) MessageID() string {
	msg, err := mail.ReadMessage(strings.NewReader(m.Data))
	if err != nil {
		return ""
	}
	return msg.Header.Get("Message-ID")
}

// Subject returns the Subject header of the content.
func (m fakeMsg) Subject() string {
	msg, err := mail.ReadMessage(strings.NewReader(m.Data))
	if err != nil {
		return ""
	}
	return msg.Header.Get("Subject")
}

type fakeSMTP struct {
	t    *testing.T
	Addr string // ip:port it listens on
	Name string // name in the greeting and the EHLO reply

	ln net.Listener

	mu        sync.Mutex
	reply     fakeReplyFunc
	ext       []string
	dataDelay time.Duration // wait before answering the final dot
	msgs      []fakeMsg
	cmds      []string // every command line received, in order
	open      int      // connections open now
	total     int      // connections accepted
	conns     map[net.Conn]bool
	closed    bool

	wg sync.WaitGroup
}

// defaultFakeExt is what the fake announces after EHLO.
var defaultFakeExt = []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "DSN", "SIZE 10240000"}

// startFakeSMTP listens on addr ("127.0.0.2:2525"). The fake is closed
// when the test ends.
func startFakeSMTP(t *testing.T, addr, name string) *fakeSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("fake SMTP %s: %v", addr, err)
	}
	return serveFakeSMTP(t, ln, name)
}

// serveFakeSMTP runs the fake on a listener that is already open.
func serveFakeSMTP(t *testing.T, ln net.Listener, name string) *fakeSMTP {
	f := &fakeSMTP{t: t, Addr: ln.Addr().String(), Name: name, ln: ln, reply: acceptAll,
		ext: append([]string(nil), defaultFakeExt...), conns: map[net.Conn]bool{}}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.Close)
	return f
}

// listenSamePort opens one listener per IP, all on the same port (MX
// hosts share delivery.remote_port), and returns them with the port.
func listenSamePort(t *testing.T, ips ...string) ([]net.Listener, int) {
	t.Helper()
	for try := 0; try < 50; try++ {
		first, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
		if err != nil {
			t.Fatalf("listen on %s: %v", ips[0], err)
		}
		port := first.Addr().(*net.TCPAddr).Port
		lns := []net.Listener{first}
		ok := true
		for _, ip := range ips[1:] {
			ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			lns = append(lns, ln)
		}
		if ok {
			return lns, port
		}
		for _, ln := range lns {
			ln.Close()
		}
	}
	t.Fatalf("no port free on all of %v", ips)
	return nil, 0
}

// freePortOn returns a port that was free on every one of ips a moment
// ago (nothing listens on it afterwards).
func freePortOn(t *testing.T, ips ...string) int {
	t.Helper()
	lns, port := listenSamePort(t, ips...)
	for _, ln := range lns {
		ln.Close()
	}
	return port
}

// SetReply replaces the reply function (nil: accept everything).
func (f *fakeSMTP) SetReply(fn fakeReplyFunc) {
	if fn == nil {
		fn = acceptAll
	}
	f.mu.Lock()
	f.reply = fn
	f.mu.Unlock()
}

// SetDataDelay makes the fake wait d before answering the final dot.
func (f *fakeSMTP) SetDataDelay(d time.Duration) {
	f.mu.Lock()
	f.dataDelay = d
	f.mu.Unlock()
}

// SetExtensions replaces the EHLO keyword list.
func (f *fakeSMTP) SetExtensions(ext ...string) {
	f.mu.Lock()
	f.ext = append([]string(nil), ext...)
	f.mu.Unlock()
}

// Messages returns a copy of the messages accepted so far.
func (f *fakeSMTP) Messages() []fakeMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeMsg(nil), f.msgs...)
}

// Count returns how many messages were accepted.
func (f *fakeSMTP) Count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.msgs)
}

// Commands returns every command line received so far.
func (f *fakeSMTP) Commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.cmds...)
}

// CountCommands counts the commands starting with verb ("MAIL").
func (f *fakeSMTP) CountCommands(verb string) int {
	n := 0
	for _, c := range f.Commands() {
		if strings.HasPrefix(strings.ToUpper(c), verb) {
			n++
		}
	}
	return n
}

// Open returns the number of connections open now; Total those accepted.
func (f *fakeSMTP) Open() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.open
}

func (f *fakeSMTP) Total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.total
}

// Close stops listening, drops every connection and waits (bounded) for
// the session goroutines.
func (f *fakeSMTP) Close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.ln.Close()
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		f.t.Logf("fake SMTP %s: sessions still running 5 s after Close", f.Addr)
	}
}

func (f *fakeSMTP) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			c.Close()
			return
		}
		f.open++
		f.total++
		f.conns[c] = true
		f.mu.Unlock()
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.session(c)
			c.Close()
			f.mu.Lock()
			f.open--
			delete(f.conns, c)
			f.mu.Unlock()
		}()
	}
}

// fakeIdle bounds every read of a session.
const fakeIdle = 30 * time.Second

func (f *fakeSMTP) session(c net.Conn) {
	br := bufio.NewReader(c)
	write := func(reply string) bool {
		lines := strings.Split(reply, "\n")
		var b strings.Builder
		for i, l := range lines {
			if i < len(lines)-1 && len(l) >= 3 {
				// "250 x" -> "250-x" on all but the last line.
				l = l[:3] + "-" + strings.TrimPrefix(l[3:], " ")
			}
			b.WriteString(l + "\r\n")
		}
		c.SetWriteDeadline(time.Now().Add(fakeIdle))
		_, err := c.Write([]byte(b.String()))
		return err == nil
	}
	readLine := func() (string, bool) {
		c.SetReadDeadline(time.Now().Add(fakeIdle))
		l, err := br.ReadString('\n')
		if err != nil {
			return "", false
		}
		return strings.TrimRight(l, "\r\n"), true
	}
	if !write("220 " + f.Name + " ESMTP fake") {
		return
	}
	var (
		helo  string
		cur   *fakeMsg
		rcpts int
	)
	decide := func(verb, line, def string) string {
		f.mu.Lock()
		fn := f.reply
		f.mu.Unlock()
		if r := fn(verb, line); r != "" {
			return r
		}
		return def
	}
	for i := 0; i < 10000; i++ {
		line, ok := readLine()
		if !ok {
			return
		}
		f.mu.Lock()
		f.cmds = append(f.cmds, line)
		f.mu.Unlock()
		verb := strings.ToUpper(line)
		if sp := strings.IndexAny(verb, " :"); sp >= 0 {
			verb = verb[:sp]
		}
		switch verb {
		case "EHLO":
			helo = strings.TrimSpace(line[4:])
			f.mu.Lock()
			lines := append([]string{"250 " + f.Name + " greets " + helo}, f.ext...)
			f.mu.Unlock()
			for k := 1; k < len(lines); k++ {
				lines[k] = "250 " + lines[k]
			}
			ok = write(strings.Join(lines, "\n"))
		case "HELO":
			helo = strings.TrimSpace(line[4:])
			ok = write("250 " + f.Name)
		case "MAIL":
			r := decide("MAIL", line, "250 2.1.0 Ok")
			if strings.HasPrefix(r, "2") {
				cur, rcpts = &fakeMsg{Helo: helo, MailLine: line}, 0
			} else {
				cur = nil
			}
			ok = write(r)
		case "RCPT":
			if cur == nil {
				ok = write("503 5.5.1 Error: need MAIL command")
				break
			}
			r := decide("RCPT", line, "250 2.1.5 Ok")
			if strings.HasPrefix(r, "2") {
				cur.RcptLines = append(cur.RcptLines, line)
				rcpts++
			}
			ok = write(r)
		case "DATA":
			if cur == nil || rcpts == 0 {
				ok = write("554 5.5.1 Error: no valid recipients")
				break
			}
			r := decide("DATA", line, "354 End data with <CR><LF>.<CR><LF>")
			if !strings.HasPrefix(r, "354") {
				cur = nil
				ok = write(r)
				break
			}
			if !write(r) {
				return
			}
			var data strings.Builder
			for n := 0; ; n++ {
				l, ok := readLine()
				if !ok || n > 1_000_000 {
					return
				}
				if l == "." {
					break
				}
				data.WriteString(strings.TrimPrefix(l, ".") + "\r\n")
			}
			f.mu.Lock()
			delay := f.dataDelay
			f.mu.Unlock()
			if delay > 0 {
				time.Sleep(delay)
			}
			r = decide("DOT", "", "250 2.0.0 Ok: queued as FAKE")
			if strings.HasPrefix(r, "2") {
				// Like a real MTA: committed before the 250 is sent,
				// whether or not the client is still there to read it.
				cur.Data, cur.At = data.String(), time.Now()
				f.mu.Lock()
				f.msgs = append(f.msgs, *cur)
				f.mu.Unlock()
			}
			cur = nil
			ok = write(r)
		case "RSET":
			cur = nil
			ok = write("250 2.0.0 Ok")
		case "NOOP":
			ok = write("250 2.0.0 Ok")
		case "QUIT":
			write("221 2.0.0 Bye")
			return
		default:
			ok = write(fmt.Sprintf("502 5.5.2 Error: command %q not recognized", verb))
		}
		if !ok {
			return
		}
	}
}
