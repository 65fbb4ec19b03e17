package e2e

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mailward/events"
	"mailward/internal/certs"
	"mailward/internal/testkit"
)

// Issue 7's hardening, each shown against the real binary.

// hardeningConfig: alice (with a password) on a virtual server with STARTTLS
// and AUTH PLAIN in clear, test-sized limits, a certificate in
// cert.pem/key.pem beside the file, and smtp_receive events at minimum.
func hardeningConfig(aliceHash string) *testkit.Config {
	c := testkit.NewConfig()
	c.Diagnostics = map[string]string{"smtp_receive": "minimum"}
	c.TLS = &testkit.TLSFiles{CertFile: "cert.pem", KeyFile: "key.pem"}
	c.Mailboxes = []testkit.Mailbox{{Address: "alice@example.test", PasswordHash: aliceHash}}
	l := &c.VirtualServers[0]
	l.TLS, l.Auth, l.AuthPlaintext, l.AuthFailureDelay = "starttls", []string{"PLAIN"}, true, "100ms"
	l.IdleTimeout, l.MaxConnections, l.MaxConnectionsPerIP = "2s", 60, 60
	return c
}

func startHardening(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	if err := certs.SelfSigned(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), "mx1.example.test"); err != nil {
		t.Fatal(err)
	}
	return startServerIn(t, dir, hardeningConfig(bcryptHash(t, alicePassword)))
}

// hup sends SIGHUP without waiting for an exit (there must be none).
func (s *server) hup() {
	s.t.Helper()
	s.mu.Lock()
	err := s.cmd.Process.Signal(syscall.SIGHUP)
	s.mu.Unlock()
	if err != nil {
		s.t.Fatal(err)
	}
}

// A5: SIGHUP mid-DATA neither kills the server nor disturbs the
// session; the reload applies a new mailbox, a new diagnostic level and
// a renewed certificate; a broken file changes nothing.
func TestSIGHUPReloads(t *testing.T) {
	s := startHardening(t)
	before := servedSerial(t, s.Addr)

	// A session in the middle of DATA.
	c := dial(t, s.Addr)
	defer c.Close()
	c.expect("EHLO client.test", 250)
	c.expect("MAIL FROM:<a@example.test>", 250)
	c.expect("RCPT TO:<alice@example.test>", 250)
	c.expect("DATA", 354)
	fmt.Fprint(c.conn, "Subject: across a reload\r\n\r\nfirst half\r\n")

	// The new file: carol exists, smtp_receive is at medium, and the
	// certificate is renewed (new key, same path).
	if err := certs.SelfSigned(filepath.Join(s.Dir, "cert.pem"), filepath.Join(s.Dir, "key.pem"), "mx1.example.test"); err != nil {
		t.Fatal(err)
	}
	cfg := s.Built
	cfg.Diagnostics["smtp_receive"] = "medium"
	cfg.Mailboxes = append(cfg.Mailboxes, testkit.Mailbox{Address: "carol@example.test"})
	cfg.VirtualServers[0].MaxConnections = 61
	text := cfg.TOML()
	if err := os.WriteFile(s.Config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	s.hup()
	testkit.WaitFor(t, 10*time.Second, "event 1003", func() bool { return len(s.Events(events.ConfigReloaded)) == 1 })
	if _, alive := s.running(); !alive {
		t.Fatalf("SIGHUP killed mailward:\n%s", s.Log())
	}
	rep := s.Events(events.ConfigReloaded)[0].Fields["report"]
	for _, w := range []string{"domains and mailboxes", "diagnostic levels", "TLS certificate", "virtual servers (new sessions)"} {
		if !strings.Contains(rep, w) {
			t.Errorf("reload report lacks %q: %s", w, rep)
		}
	}
	// The session goes on: its message is accepted.
	fmt.Fprint(c.conn, "second half\r\n.\r\n")
	r, err := c.read()
	if err != nil || r.Code != 250 {
		t.Fatalf("end of DATA after SIGHUP: %v %v", r, err)
	}
	c.expect("QUIT", 221)

	// The new mailbox, the new level, the new certificate.
	c2 := dial(t, s.Addr)
	defer c2.Close()
	c2.expect("EHLO client.test", 250)
	c2.expect("MAIL FROM:<a@example.test>", 250)
	c2.expect("RCPT TO:<carol@example.test>", 250)
	c2.expect("QUIT", 221)
	if after := servedSerial(t, s.Addr); after == before {
		t.Errorf("certificate not reloaded: serial %s before and after", before)
	}
	idle := dial(t, s.Addr) // says nothing: event 1012 is level medium
	r, err = idle.read()
	idle.Close()
	if err != nil || r.Code != 421 {
		t.Fatalf("idle client: %v %v", r, err)
	}
	testkit.WaitFor(t, 5*time.Second, "event 1012 at level medium", func() bool { return len(s.Events(events.IdleTimeout)) > 0 })

	// A broken file (a misspelt key in the last table, [[virtual_server]]):
	// nothing changes, the server runs on.
	os.WriteFile(s.Config, []byte(text+"\nmax_mesage_size = 1\n"), 0o600)
	s.hup()
	testkit.WaitFor(t, 10*time.Second, "event 1004", func() bool { return len(s.Events(events.ConfigReloadFailed)) == 1 })
	if e := s.Events(events.ConfigReloadFailed)[0].Fields["error"]; !strings.Contains(e, "max_mesage_size") {
		t.Errorf("event 1004 does not name the bad key: %s", e)
	}
	c3 := dial(t, s.Addr)
	c3.expect("EHLO client.test", 250)
	c3.expect("MAIL FROM:<a@example.test>", 250)
	c3.expect("RCPT TO:<carol@example.test>", 250)
	c3.Close()
	if _, err := os.Stat(filepath.Join(s.DataDir, "admin.sock")); err != nil {
		t.Errorf("admin socket gone after SIGHUP: %v", err)
	}
	if _, alive := s.running(); !alive {
		t.Fatalf("mailward died:\n%s", s.Log())
	}
}

// A2: slowloris. Clients that trickle a byte every second — in command
// lines and in DATA — fill every slot; idle_timeout (2s here) bounds
// each whole line and the DATA phase, so within seconds they are all
// told 421 4.4.2 and the slots are free for a real client.
func TestSlowlorisLetsGo(t *testing.T) {
	s := startHardening(t)
	const n = 60 // max_connections
	type outcome struct {
		last string
		err  error
		took time.Duration
	}
	results := make(chan outcome, n)
	var wg, greeted sync.WaitGroup
	for i := range n {
		wg.Add(1)
		greeted.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			var (
				conn net.Conn
				br   *bufio.Reader
				g    string
				err  error
			)
			// The start-up probe's session may hold a slot for a
			// moment: a dripper refused for it (421 at the greeting)
			// tries again, at most 20 times.
			for try := 0; try < 20; try++ {
				if conn != nil {
					conn.Close()
					time.Sleep(50 * time.Millisecond)
				}
				conn, err = net.DialTimeout("tcp", s.Addr, 5*time.Second)
				if err != nil {
					break
				}
				conn.SetDeadline(time.Now().Add(30 * time.Second))
				br = bufio.NewReader(conn)
				g, err = br.ReadString('\n')
				if !strings.HasPrefix(g, "421 4.7.0 ") {
					break
				}
			}
			if conn == nil {
				greeted.Done()
				results <- outcome{err: err}
				return
			}
			defer conn.Close()
			greeted.Done()
			if !strings.HasPrefix(g, "220 ") {
				results <- outcome{err: fmt.Errorf("greeting %q, %v", g, err)}
				return
			}
			if i%2 == 1 {
				// The DATA variant gets to DATA quickly, then drips.
				fmt.Fprint(conn, "EHLO drip.test\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
			}
			// Drip one byte a second, at most 20 times, until the server
			// says its last word.
			for k := 0; k < 20; k++ {
				if _, err := conn.Write([]byte("x")); err != nil {
					break
				}
				time.Sleep(time.Second)
			}
			var last string
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					break
				}
				last = strings.TrimSpace(line)
			}
			results <- outcome{last: last, took: time.Since(start)}
		}()
	}
	// While they drip, the slots are taken (the probes below start once
	// every dripper has its slot, so that none of them takes one)...
	if !testkit.WaitGroup(&greeted, 20*time.Second) {
		t.Fatal("the drippers were not all greeted within 20s")
	}
	// ...and within a few seconds they are free again.
	// Each poll is a connection the server greets or refuses: at most
	// five a second.
	var fresh *client
	if !testkit.Poll(15*time.Second, 200*time.Millisecond, func() bool {
		fresh, _ = dialErr(s.Addr)
		return fresh != nil
	}) {
		t.Fatal("no slot was freed within 15s")
	}
	fresh.t = t
	defer fresh.Close()
	fresh.expect("EHLO real.test", 250)
	fresh.send("<a@example.test>", []string{"<alice@example.test>"}, message("a@example.test", "alice@example.test", "real", "hello"))
	wg.Wait()
	close(results)
	for r := range results {
		if r.err != nil {
			t.Errorf("dripper: %v", r.err)
			continue
		}
		if !strings.HasPrefix(r.last, "421 4.4.2 ") || r.took > 25*time.Second {
			t.Errorf("dripper ended with %q after %v", r.last, r.took)
		}
	}
}

// A4: fifty sessions from one address, one wrong password each, all at
// once. Password checks take turns, so after five failures the address
// is locked out: the rest get 454 4.7.0 at once, and so does a correct
// password afterwards.
func TestParallelAuthGuessingIsLockedOut(t *testing.T) {
	s := startHardening(t)
	plain := func(pass string) string {
		return base64.StdEncoding.EncodeToString([]byte("\x00alice@example.test\x00" + pass))
	}
	const n = 50
	codes := make(chan int, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dialErr(s.Addr)
			if err != nil {
				codes <- 0
				return
			}
			defer c.Close()
			if _, err := c.cmdErr("EHLO guesser.test"); err != nil {
				codes <- 0
				return
			}
			r, err := c.cmdErr("AUTH PLAIN " + plain(fmt.Sprintf("guess-%d", i)))
			if err != nil {
				codes <- 0
				return
			}
			codes <- r.Code
		}()
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[535] != 5 || count[454] != n-5 {
		t.Fatalf("replies %v: want 5 × 535 and %d × 454", count, n-5)
	}
	// 100ms, 200ms, 400ms, 800ms, 1.6s: the locked-out ones did not wait.
	if el := time.Since(start); el > 20*time.Second {
		t.Errorf("the guesses took %v", el)
	}
	c := dial(t, s.Addr)
	defer c.Close()
	c.expect("EHLO client.test", 250)
	if r := c.cmd("AUTH PLAIN " + plain(alicePassword)); r.Code != 454 {
		t.Fatalf("right password during the lockout: %v", r)
	}
	recs := s.EventsFor(events.AuthLockout, "by", "client address")
	if len(recs) == 0 || recs[0].Fields["ip"] != "127.0.0.1" || recs[0].Fields["failures"] != "5" {
		t.Fatalf("lockout events: %+v", recs)
	}
}
