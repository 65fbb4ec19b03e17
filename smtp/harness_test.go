package smtp_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"mailward/config"
	"mailward/events"
	"mailward/internal/certs"
	"mailward/internal/setup"
	"mailward/queue"
	"mailward/smtp"
)

// baseConfig is the quick-start organization, with test-sized limits.
// alice's password is "alice-secret".
const baseConfig = `
[server]
fqdn = "mx1.example.test"
default_domain = "example.test"
[[domain]]
name = "example.test"
tarpit = "1s"
tarpit_max = "3s"
[[domain]]
name = "open.test"
recipient_filtering = false
[[mailbox]]
address = "alice@example.test"
password_hash = "$2a$10$QzDHNo6UMDilceOCOt2zK.HtCTHGtqHsYzRLrBBhFsqyegkJJeRG2"
[[mailbox]]
address = "bob@example.test"
`

// testServer is one in-process virtual server over a real spool.
type testServer struct {
	addr   string
	queue  *queue.Queue
	dir    string
	sleeps *sleepLog
	cancel context.CancelFunc
	done   chan struct{}
	// srv and opt are the virtual server and the options it started
	// with, for tests that reload it (srv.Update).
	srv *smtp.Server
	opt smtp.Options
}

// sleepLog records tarpit and auth delays instead of waiting them out.
type sleepLog struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleepLog) sleep(_ context.Context, d time.Duration) {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
}

func (s *sleepLog) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// startServer runs the virtual server described by vserverTOML (a
// [[virtual_server]] table without address) with baseConfig plus extra.
func startServer(t *testing.T, vserverTOML string, mods ...func(*smtp.Options)) *testServer {
	t.Helper()
	return startServerWith(t, baseConfig, vserverTOML, mods...)
}

// startServerWith is startServer over another base configuration.
func startServerWith(t *testing.T, base, vserverTOML string, mods ...func(*smtp.Options)) *testServer {
	t.Helper()
	return startServerGrace(t, base, vserverTOML, time.Second, mods...)
}

// startServerGrace is startServerWith with the grace Serve gives the
// sessions when it stops (ts.cancel).
func startServerGrace(t *testing.T, base, vserverTOML string, grace time.Duration, mods ...func(*smtp.Options)) *testServer {
	t.Helper()
	cfg, err := config.Parse([]byte(base + "\n[[virtual_server]]\naddress = \"127.0.0.1:0\"\n" + vserverTOML))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	tmp := t.TempDir()
	q, err := queue.Open(queue.Options{Dir: filepath.Join(tmp, "queue"), Workers: 1, RetrySchedule: []time.Duration{time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	// The directory, policy, organization and virtual server settings
	// the server would build from this configuration (package setup).
	st, err := setup.Build(cfg)
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	ts := &testServer{queue: q, dir: tmp, sleeps: &sleepLog{}, done: make(chan struct{})}
	opt := smtp.Options{Settings: st.VirtualServers[0].Settings, Policy: st.Policy, Auth: st.Recipients,
		Spool: smtp.QueueSpool{Q: q}, Events: events.Discard(), Sleep: ts.sleeps.sleep, AuthGuard: st.AuthGuard}
	if st.Org.Trust != nil {
		opt.Org = st.Org.Trust
	}
	if cfg.VirtualServers[0].TLS != config.VirtualServerTLSNone {
		tc, err := certs.Load("", "", tmp, cfg.Server.FQDN)
		if err != nil {
			t.Fatal(err)
		}
		opt.TLS = tc
	}
	for _, m := range mods {
		m(&opt)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	srv := smtp.New(opt)
	ts.srv, ts.opt = srv, opt
	go func() { srv.Serve(ctx, ln, grace); close(ts.done) }()
	t.Cleanup(func() { cancel(); <-ts.done })
	return ts
}

// queued returns the envelopes of committed messages.
func (ts *testServer) queued(t *testing.T) []queue.View {
	t.Helper()
	s, err := queue.Inspect(filepath.Join(ts.dir, "queue"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// queueFile is the text of queued message id.
func (ts *testServer) queueFile(t *testing.T, id string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ts.dir, "queue", "active", id))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// play runs a transcript against addr. Lines:
//
//	C: text     the client sends text + CRLF
//	W: text     the client sends text as a Go string literal body (escapes allowed), no CRLF added
//	S: text     the server's next line is exactly text
//	S~ regexp   the server's next line matches regexp (anchored)
//	TLS         the client starts TLS
//	PAUSE d     the client waits d (a Go duration) before going on
//	CLOSED      the server closes the connection
//
// Lines starting with # and blank lines are ignored.
func play(t *testing.T, addr, script string) {
	t.Helper()
	playFrom(t, "", addr, script)
}

// playFrom is play from a given loopback source address ("127.0.0.2"),
// for limits kept per client address.
func playFrom(t *testing.T, from, addr, script string) {
	t.Helper()
	d := net.Dialer{}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	(&player{t: t, c: c, conn: c, r: bufio.NewReader(c)}).play(script)
}

// player is one client connection a transcript is played on, in one go
// (play) or in parts with other things between them (dialPlayer).
type player struct {
	t    *testing.T
	c    net.Conn // the TCP connection
	conn net.Conn // c, or TLS over it
	r    *bufio.Reader
}

// dialPlayer connects to addr; the connection is closed at the test's
// end.
func dialPlayer(t *testing.T, addr string) *player {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &player{t: t, c: c, conn: c, r: bufio.NewReader(c)}
}

// play plays the next part of the transcript (see play).
func (p *player) play(script string) {
	t, c := p.t, p.c
	t.Helper()
	conn, r := p.conn, p.r
	defer func() { p.conn, p.r = conn, r }()
	for n, raw := range strings.Split(script, "\n") {
		line := strings.TrimLeft(raw, "\t ")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		where := "transcript line " + strconv.Itoa(n+1) + ": " + line
		switch {
		case strings.HasPrefix(line, "C: "):
			if _, err := io.WriteString(conn, line[3:]+"\r\n"); err != nil {
				t.Fatalf("%s: write: %v", where, err)
			}
		case strings.HasPrefix(line, "W: "):
			s, err := strconv.Unquote(`"` + line[3:] + `"`)
			if err != nil {
				t.Fatalf("%s: bad literal: %v", where, err)
			}
			if _, err := io.WriteString(conn, s); err != nil {
				t.Fatalf("%s: write: %v", where, err)
			}
		case strings.HasPrefix(line, "S: "), strings.HasPrefix(line, "S~ "):
			got, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: read: %v (got %q)", where, err, got)
			}
			if !strings.HasSuffix(got, "\r\n") {
				t.Fatalf("%s: reply line %q does not end in CRLF", where, got)
			}
			got = strings.TrimSuffix(got, "\r\n")
			want := line[3:]
			if line[1] == ':' && got != want {
				t.Fatalf("%s\n got: %q\nwant: %q", where, got, want)
			}
			if line[1] == '~' && !regexp.MustCompile("^(?:"+want+")$").MatchString(got) {
				t.Fatalf("%s\n got: %q\nwant match: %q", where, got, want)
			}
		case line == "TLS":
			tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: "mx1.example.test"})
			if err := tc.Handshake(); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			conn, r = tc, bufio.NewReader(tc)
		case strings.HasPrefix(line, "PAUSE "):
			d, err := time.ParseDuration(line[6:])
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			time.Sleep(d)
		case line == "CLOSED":
			got, err := r.ReadString('\n')
			if err == nil || !(errors.Is(err, io.EOF) || isReset(err)) {
				t.Fatalf("%s: want the connection closed, got %q, %v", where, got, err)
			}
		default:
			t.Fatalf("%s: unknown transcript directive", where)
		}
	}
}

// ehloExtensions are what EHLO lists on every virtual server of
// baseConfig, in order, before the ones that depend on its settings.
var ehloExtensions = []string{"PIPELINING", "SIZE 26214400", "8BITMIME", "CHUNKING", "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN"}

// ehlo is the transcript of "EHLO name" from 127.0.0.1 answered by
// mx1.example.test: ehloExtensions, then extra (STARTTLS, AUTH ...,
// X-EXPS ..., XEXCH50), then HELP.
func ehlo(name string, extra ...string) string {
	return ehloHello("C: EHLO "+name+"\nS: 250-mx1.example.test Hello "+name+" [127.0.0.1]", extra...)
}

// ehloHello is ehlo after another command and first reply line (another
// server name, or an "S~ " line for the client's address).
func ehloHello(hello string, extra ...string) string {
	var b strings.Builder
	b.WriteString(hello + "\n")
	for _, e := range slices.Concat(ehloExtensions, extra) {
		b.WriteString("S: 250-" + e + "\n")
	}
	b.WriteString("S: 250 HELP\n")
	return b.String()
}

// xexpsMX1 is the organization server mx1 (orgBase) authenticating
// with X-EXPS LOGIN, its user name as the initial response.
var xexpsMX1 = "C: X-EXPS LOGIN " + b64("mx1") + "\nS: 334 UGFzc3dvcmQ6\nC: " + b64("mx1-secret") +
	"\nS: 235 2.7.0 Authentication successful\n"

// xexch50 is a transaction's XEXCH50 carrying the encoded properties p,
// accepted.
func xexch50(p string) string {
	return "C: XEXCH50 " + fmt.Sprint(len(p)) + " 2\nS: 354 Send binary data\nW: " + strings.ReplaceAll(p, `"`, `\"`) +
		"\nS: 250 2.0.0 XEXCH50 OK\n"
}

func isReset(err error) bool { return strings.Contains(err.Error(), "connection reset") }

type queueEnvelope = queue.Envelope

// withEvents writes the server's events, at the given level for every
// category, to a file it returns the path of.
func withEvents(t *testing.T, level events.Level) (func(*smtp.Options), string) {
	path := filepath.Join(t.TempDir(), "events.log")
	f, err := events.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	levels := map[string]events.Level{}
	for _, c := range config.Categories {
		levels[c] = level
	}
	return func(o *smtp.Options) { o.Events = events.New(nil, levels, f) }, path
}

// dialGreeted connects and reads the greeting; the caller closes.
func dialGreeted(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	return c
}
