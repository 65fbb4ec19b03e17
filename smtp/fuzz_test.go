package smtp

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mailward/directory"
	"mailward/events"
	"mailward/policy"
	"mailward/queue"
)

// stuff dot-stuffs CRLF text the way a client must (RFC 5321 §4.5.2).
func stuff(b []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.SplitAfter(b, []byte("\r\n")) {
		if len(line) > 0 && line[0] == '.' {
			out.WriteByte('.')
		}
		out.Write(line)
	}
	return out.Bytes()
}

// FuzzReadData: a message sent the way a client must send it (dot-stuffed,
// then CRLF.CRLF) is read up to exactly that terminator, never earlier —
// whatever bare CRs, LFs and dots it contains — and clean content comes
// back byte for byte.
func FuzzReadData(f *testing.F) {
	for _, s := range []string{"Subject: x\r\n\r\nhi\r\n", "..dot\r\n", "a\n.\nMAIL FROM:<x>\r\n", "a\r.\rb\r\n",
		"\r\n.\n", "x\x00y\r\n", strings.Repeat("long", 5000) + "\r\n", "a\r", ".\r", "a\n.\r\n"} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, msg []byte, normalize bool) {
		if !bytes.HasSuffix(msg, []byte("\r\n")) {
			msg = append(append([]byte{}, msg...), "\r\n"...)
		}
		wire := append(append(stuff(msg), ".\r\n"...), "TRAILER"...)
		r := bufio.NewReaderSize(bytes.NewReader(wire), 16) // tiny buffer: lines span chunks
		var out bytes.Buffer
		res, err := ReadData(r, &out, 1<<20, normalize)
		if err != nil {
			t.Fatalf("ReadData error on terminated input: %v", err)
		}
		if rest, _ := io.ReadAll(r); string(rest) != "TRAILER" {
			t.Fatalf("message ended at the wrong place: left %q of %q", rest, wire)
		}
		if res.BareLF || res.BareCR {
			if normalize && bytes.Contains(bytes.ReplaceAll(out.Bytes(), []byte("\r\n"), nil), []byte("\n")) {
				t.Fatalf("normalize left a bare LF: %q", out.Bytes())
			}
			return
		}
		if !bytes.Equal(out.Bytes(), msg) {
			t.Fatalf("content %q, sent %q", out.Bytes(), msg)
		}
	})
}

// pipeConn feeds a session fuzzed input and collects its replies.
type pipeConn struct {
	net.Conn
	r   io.Reader
	out bytes.Buffer
}

func (p *pipeConn) Read(b []byte) (int, error)       { return p.r.Read(b) }
func (p *pipeConn) Write(b []byte) (int, error)      { return p.out.Write(b) }
func (p *pipeConn) Close() error                     { return nil }
func (p *pipeConn) SetDeadline(time.Time) error      { return nil }
func (p *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (p *pipeConn) SetWriteDeadline(time.Time) error { return nil }
func (p *pipeConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1} }
func (p *pipeConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 25} }

// FuzzSession drives the whole command parser and state machine with
// arbitrary client bytes: no panic, every reply a well-formed reply line,
// and no recipient outside example.test ever accepted (never a relay).
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n",
		"HELO x\r\nMAIL FROM:LocalUser\r\nRCPT TO:User%Domain.tld\r\nRCPT TO:\"User@Domain.tld\"\r\n",
		"EHLO x\r\nMAIL FROM:<> SIZE=1 BODY=8BITMIME\r\nRCPT TO:<@a:b@c> NOTIFY=NEVER ORCPT=rfc822;x+40y\r\n",
		"EHLO x\r\nAUTH PLAIN AGEAYg==\r\nAUTH LOGIN\r\n*\r\nSTARTTLS\r\nRSET\r\nVRFY a\r\nNOOP\x00\r\n",
		"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nx\n.\nMAIL FROM:<e@f>\r\n.\r\n",
		"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<alice@example.test>\r\nBDAT 3\r\na\r\nDATA\r\nBDAT 0 LAST\r\nBDAT 2 X\r\nhi",
		"EHLO x\r\nBDAT 5 LAST\r\nRCPT TO:<a@remote.test>\r\nBDAT 99999999999\r\n",
	} {
		f.Add([]byte(s))
	}
	q, err := queue.Open(queue.Options{Dir: filepath.Join(f.TempDir(), "q"), Workers: 1, RetrySchedule: []time.Duration{time.Minute}})
	if err != nil {
		f.Fatal(err)
	}
	// The quick start's directory: example.test filters recipients,
	// open.test takes any local part.
	dir := directory.New([]string{"example.test", "open.test"},
		[]directory.Mailbox{{Address: "alice@example.test"}, {Address: "bob@example.test"}}, "")
	pol := policy.New("example.test", map[string]policy.Domain{"example.test": {RecipientFiltering: true}}, &directory.Recipients{Local: dir})
	set := Settings{Name: "fuzz", FQDN: "mx1.example.test", Auth: []string{"PLAIN", "LOGIN"}, AuthPlaintext: true, Chunking: true,
		Limits: Limits{MaxMessageSize: 25 << 20, MaxRecipients: 100, MaxLineLength: 600, MaxErrors: 20,
			IdleTimeout: time.Minute, MaxConnections: 10, MaxConnectionsPerIP: 10, AuthFailureDelay: time.Second}}
	panics := &panicLog{}
	srv := New(Options{Settings: set, Policy: pol, Auth: fastAuth{},
		Spool: QueueSpool{Q: q}, Events: events.Discard(), Sleep: func(context.Context, time.Duration) {},
		Logger: slog.New(panics)})
	f.Fuzz(func(t *testing.T, in []byte) {
		c := &pipeConn{r: bytes.NewReader(in)}
		newSession(context.Background(), srv, srv.cur.Load(), c, remoteIP(c)).run()
		if p := panics.take(); p != "" {
			t.Fatalf("session panicked on %q:\n%s", in, p)
		}
		for _, line := range strings.SplitAfter(c.out.String(), "\r\n") {
			if line == "" {
				continue
			}
			if len(line) < 6 || !strings.HasSuffix(line, "\r\n") || line[0] < '2' || line[0] > '5' ||
				(line[3] != ' ' && line[3] != '-') || strings.ContainsAny(line[:len(line)-2], "\r\n") {
				t.Fatalf("malformed reply line %q", line)
			}
			if strings.HasPrefix(line, "250 2.1.5 ") && !strings.HasSuffix(strings.ToLower(line), "@example.test\r\n") &&
				!strings.HasSuffix(strings.ToLower(line), "@open.test\r\n") {
				t.Fatalf("accepted a non-local recipient without relay rights: %q", line)
			}
		}
	})
}

// fastAuth keeps bcrypt out of the fuzz loop.
type fastAuth struct{}

func (fastAuth) Authenticate(user, pass string) (bool, error) { return user == "u" && pass == "p", nil }

// panicLog is a slog handler that keeps what the session's recovery
// logs, so a fuzz input that panics fails the test although the server
// survives it.
type panicLog struct {
	mu   sync.Mutex
	last string
}

func (p *panicLog) Enabled(context.Context, slog.Level) bool { return true }
func (p *panicLog) WithAttrs([]slog.Attr) slog.Handler       { return p }
func (p *panicLog) WithGroup(string) slog.Handler            { return p }
func (p *panicLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "smtp: session panic" {
		return nil
	}
	var b strings.Builder
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, "%s: %v\n", a.Key, a.Value)
		return true
	})
	p.mu.Lock()
	p.last = b.String()
	p.mu.Unlock()
	return nil
}

func (p *panicLog) take() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.last
	p.last = ""
	return s
}
