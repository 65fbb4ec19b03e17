package e2e

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mailward/events"
	"mailward/internal/certs"
	"mailward/internal/testkit"
)

// Issue 12, point 4: reload without restart (docs/configuration.md,
// "Reloading"), against the real binary.

// load is a number of SMTP clients sending to one recipient without a
// pause, several messages per session, each client until it has sent
// its count, until stop, or until its deadline: bounded in count and
// time. Every reply that is not the expected one is a failure.
type load struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	accepted atomic.Int64
	mu       sync.Mutex
	failures []string
	// spans are the [start, end] of each session that completed.
	spans [][2]time.Time
}

func startLoad(addr, rcpt string, clients, perClient, perSession int, deadline time.Duration) *load {
	l := &load{stop: make(chan struct{})}
	end := time.Now().Add(deadline)
	for i := range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for sent := 0; sent < perClient && time.Now().Before(end); {
				select {
				case <-l.stop:
					return
				default:
				}
				start := time.Now()
				n, err := l.session(addr, rcpt, fmt.Sprintf("load-%d-%d", i, sent), min(perSession, perClient-sent))
				sent += n
				if err == nil {
					l.mu.Lock()
					l.spans = append(l.spans, [2]time.Time{start, time.Now()})
					l.mu.Unlock()
				}
				if err != nil {
					l.mu.Lock()
					l.failures = append(l.failures, fmt.Sprintf("client %d after %d messages: %v", i, sent, err))
					l.mu.Unlock()
					return
				}
			}
		}()
	}
	return l
}

// session sends n messages in one session and reports how many got 250.
func (l *load) session(addr, rcpt, tag string, n int) (int, error) {
	c, err := dialErr(addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if r, err := c.cmdErr("EHLO load.test"); err != nil || r.Code != 250 {
		return 0, fmt.Errorf("EHLO: %v %v", r, err)
	}
	for k := range n {
		for _, cmd := range []string{"MAIL FROM:<load@elsewhere.test>", "RCPT TO:<" + rcpt + ">"} {
			if r, err := c.cmdErr(cmd); err != nil || r.Code != 250 {
				return k, fmt.Errorf("%s: %v %v", cmd, r, err)
			}
		}
		subject := fmt.Sprintf("%s-%d", tag, k)
		if r, err := c.dataErr(message("load@elsewhere.test", rcpt, subject, "under load")); err != nil || r.Code != 250 {
			return k, fmt.Errorf("DATA of %s: %v %v", subject, r, err)
		}
		l.accepted.Add(1)
	}
	if r, err := c.cmdErr("QUIT"); err != nil || r.Code != 221 {
		return n, fmt.Errorf("QUIT: %v %v", r, err)
	}
	return n, nil
}

// across counts the completed sessions that started before from and
// ended after to.
func (l *load) across(from, to time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, sp := range l.spans {
		if sp[0].Before(from) && sp[1].After(to) {
			n++
		}
	}
	return n
}

// finish stops the clients, waits for them (bounded) and returns how
// many messages got 250 and what failed.
func (l *load) finish(t *testing.T) (int, []string) {
	t.Helper()
	close(l.stop)
	if !testkit.WaitGroup(&l.wg, 60*time.Second) {
		t.Fatal("the load's clients did not end within 60 s")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.accepted.Load()), l.failures
}

// serialOf is the serial number of the certificate in a PEM file.
func serialOf(t *testing.T, path string) string {
	t.Helper()
	b, _ := pem.Decode([]byte(readFile(t, path)))
	if b == nil {
		t.Fatalf("%s holds no PEM block", path)
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert.SerialNumber.String()
}

// unknownRecipient is refused at RCPT (recipient filtering): event 1021,
// which smtp_receive writes at level medium and above.
func unknownRecipient(t *testing.T, addr string) {
	t.Helper()
	c := dial(t, addr)
	defer c.Close()
	c.expect("EHLO client.test", 250)
	c.expect("MAIL FROM:<a@elsewhere.test>", 250)
	c.expect("RCPT TO:<nobody@example.test>", 550)
	c.expect("QUIT", 221)
}

// Under a running load (10 clients, 5 messages a session), SIGHUP with a
// new mailbox, a diagnostic level raised and another certificate: no
// session fails, every accepted message is delivered, and the three
// changes apply. Then a file with a syntax error (SIGHUP) and one that
// fails validation (mailward reload) are refused with event 1004, and
// the server serves on with the settings it had.
func TestReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"cert", "cert2"} {
		if err := certs.SelfSigned(filepath.Join(dir, n+".pem"), filepath.Join(dir, n+"-key.pem"), "mx1.example.test"); err != nil {
			t.Fatal(err)
		}
	}
	c := testkit.NewConfig()
	c.Diagnostics = map[string]string{"smtp_receive": "minimum"}
	c.TLS = &testkit.TLSFiles{CertFile: "cert.pem", KeyFile: "cert-key.pem"}
	c.Mailboxes = testkit.Mailboxes("alice@example.test")
	l := &c.VirtualServers[0]
	l.TLS, l.MaxConnections, l.MaxConnectionsPerIP = "starttls", 100, 100
	s := startServerIn(t, dir, c)

	if got, want := servedSerial(t, s.Addr), serialOf(t, filepath.Join(dir, "cert.pem")); got != want {
		t.Fatalf("served certificate %s, want cert.pem's %s", got, want)
	}
	unknownRecipient(t, s.Addr)
	if n := len(s.Events(events.UnknownRecipient)); n != 0 {
		t.Fatalf("event 1021 written at smtp_receive = minimum (%d)", n)
	}

	ld := startLoad(s.Addr, "alice@example.test", 10, 60, 5, 90*time.Second)
	testkit.WaitFor(t, 30*time.Second, "20 messages of the load", func() bool { return ld.accepted.Load() >= 20 })

	c.Mailboxes = testkit.Mailboxes("alice@example.test", "carol@example.test")
	c.Diagnostics["smtp_receive"] = "medium"
	c.TLS = &testkit.TLSFiles{CertFile: "cert2.pem", KeyFile: "cert2-key.pem"}
	good := c.TOML()
	if err := os.WriteFile(s.Config, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	hupAt := time.Now()
	s.hup()
	testkit.WaitFor(t, 15*time.Second, "event 1003", func() bool { return len(s.Events(events.ConfigReloaded)) == 1 })
	reloadedAt := time.Now()
	atReload := ld.accepted.Load()
	testkit.WaitFor(t, 30*time.Second, "20 more messages of the load after the reload",
		func() bool { return ld.accepted.Load() >= atReload+20 })
	sent, failures := ld.finish(t)
	if len(failures) > 0 {
		t.Fatalf("%d session(s) of the load failed across the reload:\n%s", len(failures), strings.Join(failures, "\n"))
	}
	if ld.across(hupAt, reloadedAt) == 0 {
		t.Fatal("no session of the load was in progress across the reload: the test shows nothing")
	}
	// 250 means on disk: every one is delivered, none twice.
	testkit.WaitFor(t, 60*time.Second, fmt.Sprintf("%d messages in alice's Maildir", sent),
		func() bool { return len(s.Maildir("alice@example.test")) >= sent })
	if got := len(s.Maildir("alice@example.test")); got != sent {
		t.Fatalf("alice has %d messages, %d were accepted", got, sent)
	}
	rep := s.Events(events.ConfigReloaded)[0].Fields["report"]
	if strings.Contains(rep, "restart") {
		t.Errorf("the reload says a restart is needed: %s", rep)
	}

	checkNewSettings := func(when string) {
		t.Helper()
		// The new mailbox receives mail.
		cc := dial(t, s.Addr)
		cc.expect("EHLO client.test", 250)
		cc.send("<a@elsewhere.test>", []string{"<carol@example.test>"}, message("a@elsewhere.test", "carol@example.test", "for carol "+when, "hello"))
		cc.expect("QUIT", 221)
		cc.Close()
		// The new level: an unknown recipient is event 1021 now.
		before := len(s.Events(events.UnknownRecipient))
		unknownRecipient(t, s.Addr)
		if after := len(s.Events(events.UnknownRecipient)); after != before+1 {
			t.Errorf("%s: event 1021 at smtp_receive = medium: %d before, %d after an unknown recipient", when, before, after)
		}
		// The new certificate, to a new STARTTLS session.
		if got, want := servedSerial(t, s.Addr), serialOf(t, filepath.Join(dir, "cert2.pem")); got != want {
			t.Errorf("%s: served certificate %s, want cert2.pem's %s", when, got, want)
		}
	}
	checkNewSettings("after the reload")
	delivered(t, s, "carol@example.test", 1)

	// A syntax error (SIGHUP): refused, event 1004 names the line.
	broken := strings.Replace(good, "[[mailbox]]", "[[mailbox]\n", 1)
	os.WriteFile(s.Config, []byte(broken), 0o600)
	s.hup()
	testkit.WaitFor(t, 15*time.Second, "event 1004", func() bool { return len(s.Events(events.ConfigReloadFailed)) == 1 })
	if e := s.Events(events.ConfigReloadFailed)[0].Fields["error"]; !strings.Contains(e, "line ") {
		t.Errorf("event 1004 for a syntax error does not name the line: %s", e)
	}

	// A file that fails validation, without carol and with the old
	// level and certificate: mailward reload exits non-zero with the
	// reason, event 1004 says it too, and nothing of it applies.
	c.Mailboxes = testkit.Mailboxes("alice@example.test")
	c.Diagnostics["smtp_receive"] = "minimum"
	c.TLS = &testkit.TLSFiles{CertFile: "cert.pem", KeyFile: "cert-key.pem"}
	c.VirtualServers[0].RelayNetworks = []string{"10.0.0.0/33"}
	os.WriteFile(s.Config, []byte(c.TOML()), 0o600)
	out, err := s.Run("reload", "--config", s.Config)
	if err == nil || !strings.Contains(out, "reload refused") || !strings.Contains(out, `relay_networks entry "10.0.0.0/33"`) {
		t.Fatalf("mailward reload of an invalid file: %v\n%s", err, out)
	}
	testkit.WaitFor(t, 15*time.Second, "a second event 1004", func() bool { return len(s.Events(events.ConfigReloadFailed)) == 2 })
	if e := s.Events(events.ConfigReloadFailed)[1]; !strings.Contains(e.Fields["error"], "relay_networks") || !strings.HasPrefix(e.Fields["by"], "mailward reload") {
		t.Errorf("event 1004: %+v", e.Fields)
	}
	if _, alive := s.running(); !alive {
		t.Fatalf("mailward died:\n%s", s.Log())
	}
	checkNewSettings("after the refused reloads")
	delivered(t, s, "carol@example.test", 2)
	if n := len(s.Events(events.ConfigReloaded)); n != 1 {
		t.Errorf("%d events 1003, want the one of the good reload", n)
	}
}

// A reload adds a virtual server, moves one and removes one, through
// `mailward reload`. The virtual server that stays listens throughout
// (a client probing it is never refused), and its session in the middle
// of DATA completes; so does the session in progress on the removed
// one, whose socket is closed at once. The moved one answers on its new
// address only; the added one answers.
func TestReloadListenerChanges(t *testing.T) {
	c := testkit.NewConfig()
	c.Mailboxes = testkit.Mailboxes("alice@example.test")
	c.VirtualServers = append(c.VirtualServers,
		testkit.VirtualServer{Name: "moving", TLS: "none"}, testkit.VirtualServer{Name: "leaving", TLS: "none"})
	s := startServer(t, c)
	movingFrom, leaving := c.VirtualServers[1].Address, c.VirtualServers[2].Address

	// In progress: a session on "default" in the middle of DATA, one on
	// "leaving" with its recipient given.
	cd := dial(t, s.Addr)
	defer cd.Close()
	cd.expect("EHLO client.test", 250)
	cd.expect("MAIL FROM:<a@elsewhere.test>", 250)
	cd.expect("RCPT TO:<alice@example.test>", 250)
	cd.expect("DATA", 354)
	fmt.Fprint(cd.conn, "Subject: on default across the reload\r\n\r\nfirst half\r\n")
	cl := dial(t, leaving)
	defer cl.Close()
	cl.expect("EHLO client.test", 250)
	cl.expect("MAIL FROM:<a@elsewhere.test>", 250)
	cl.expect("RCPT TO:<alice@example.test>", 250)

	// A client probing "default" while the reload runs.
	var probes, refused atomic.Int64
	stop := make(chan struct{})
	var pw sync.WaitGroup
	pw.Add(1)
	go func() {
		defer pw.Done()
		for range 2000 {
			select {
			case <-stop:
				return
			default:
			}
			if pc, err := dialErr(s.Addr); err != nil {
				refused.Add(1)
			} else {
				pc.cmdErr("QUIT")
				pc.Close()
			}
			probes.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
	}()

	added := freeAddr(t)
	movingTo := freeAddr(t)
	c.VirtualServers = []testkit.VirtualServer{c.VirtualServers[0],
		{Name: "moving", TLS: "none", Address: movingTo}, {Name: "added", TLS: "none", Address: added}}
	if err := os.WriteFile(s.Config, []byte(c.TOML()), 0o600); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "probes before the reload", func() bool { return probes.Load() >= 5 })
	out, err := s.Run("reload", "--config", s.Config)
	if err != nil {
		t.Fatalf("mailward reload: %v\n%s", err, out)
	}
	for _, w := range []string{"virtual server added on " + added + " (added)",
		"virtual server moving on " + movingTo + " (moved from " + movingFrom + ")",
		"virtual server moving closed on " + movingFrom + " (moved to " + movingTo + "; 0 session(s) finish)",
		"virtual server leaving closed on " + leaving + " (removed; 1 session(s) finish)"} {
		if !strings.Contains(out, w) {
			t.Errorf("mailward reload's report lacks %q:\n%s", w, out)
		}
	}
	n := probes.Load()
	testkit.WaitFor(t, 10*time.Second, "probes after the reload", func() bool { return probes.Load() >= n+5 })
	close(stop)
	if !testkit.WaitGroup(&pw, 20*time.Second) {
		t.Fatal("the prober did not stop")
	}
	if r := refused.Load(); r != 0 {
		t.Errorf("virtual server default refused %d of %d connections around the reload", r, probes.Load())
	}

	// The events of the changes.
	for _, e := range []struct {
		id                 int
		name, addr, change string
	}{
		{events.VirtualServerListening, "added", added, "added"},
		{events.VirtualServerListening, "moving", movingTo, "moved from " + movingFrom},
		{events.VirtualServerClosed, "moving", movingFrom, "moved to " + movingTo},
		{events.VirtualServerClosed, "leaving", leaving, "removed"},
	} {
		recs := s.EventsFor(e.id, "virtual_server", e.name)
		if len(recs) != 1 || recs[0].Fields["address"] != e.addr || recs[0].Fields["change"] != e.change {
			t.Errorf("event %d for %s: %+v, want address %s, change %q", e.id, e.name, recs, e.addr, e.change)
		}
	}

	// New addresses answer, old ones are closed.
	for _, a := range []string{added, movingTo, s.Addr} {
		if _, err := greeting(a); err != nil {
			t.Errorf("%s does not greet after the reload: %v", a, err)
		}
	}
	for _, a := range []string{movingFrom, leaving} {
		if conn, err := net.DialTimeout("tcp", a, 2*time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still takes connections after the reload", a)
		}
	}

	// The sessions in progress complete.
	fmt.Fprint(cd.conn, "second half\r\n.\r\n")
	if r, err := cd.read(); err != nil || r.Code != 250 {
		t.Fatalf("end of DATA on default after the reload: %v %v", r, err)
	}
	cd.expect("QUIT", 221)
	r, err := cl.dataErr(message("a@elsewhere.test", "alice@example.test", "on leaving", "finishing"))
	if err != nil || r.Code != 250 {
		t.Fatalf("DATA on the removed virtual server's session: %v %v", r, err)
	}
	cl.expect("QUIT", 221)
	delivered(t, s, "alice@example.test", 2)
	if got := len(s.Maildir("alice@example.test")); got != 2 {
		t.Fatalf("alice has %d messages, want 2", got)
	}
}
