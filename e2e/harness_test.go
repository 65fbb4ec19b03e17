// Package e2e runs the real mailward binary and talks to it over loopback
// TCP, with our own raw SMTP client and with independent clients (swaks,
// Python's smtplib). Every test starts its own server in its own
// temporary directory; every wait is bounded.
package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"mailward/config"
	"mailward/events"
	"mailward/internal/testkit"
)

// binary is the mailward executable built once by TestMain.
var binary string

// envBinary hands the built binary to this test binary re-executed in a
// private mount namespace (testkit.RunInPrivateMounts), which need not
// build it again.
const envBinary = "MAILWARD_E2E_BINARY"

func TestMain(m *testing.M) {
	if b := os.Getenv(envBinary); b != "" {
		binary = b
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "mailward-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "mailward")
	// The test build (tag mailwardtest) has the test hooks the production
	// binary lacks, e.g. a shifted Kerberos clock (internal/setup).
	build := exec.Command("go", "build", "-tags", "mailwardtest", "-o", binary, "./cmd/mailward")
	build.Dir = ".." // the module root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building mailward failed: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	testkit.StopSharedRspamd()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Bounds used by every test.
const (
	startTimeout = 10 * time.Second // until the port greets with 220
	stopTimeout  = 15 * time.Second // SIGTERM grace (the server allows sessions 10 s)
	ioTimeout    = 15 * time.Second // one SMTP exchange
)

// server is one running mailward process.
type server struct {
	t *testing.T

	Dir            string          // the temporary directory holding the config file
	Config         string          // path of the config file
	Built          *testkit.Config // what the file was rendered from (nil for a file given as text)
	DataDir        string
	MailboxDir     string
	Addr           string // the address of the virtual server named "default"
	SubmissionAddr string // the address of the virtual server named "submission", if any
	// Env is added to the process environment at each (re)start.
	Env []string
	// Binary is the executable to run; "" is the one TestMain built.
	Binary string

	logPath string
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for
	waitErr error
}

// startServer writes cfg into a fresh directory (its virtual servers without
// an address get free loopback ports), starts "mailward serve" on it and
// waits until the "default" virtual server greets with 220. The configuration
// should say data_dir = "data" (relative to the file), as
// testkit.NewConfig's does.
func startServer(t *testing.T, cfg *testkit.Config) *server {
	t.Helper()
	return startServerIn(t, t.TempDir(), cfg)
}

// startServerIn is startServer in a directory the test prepared (files
// the configuration names beside it).
func startServerIn(t *testing.T, dir string, cfg *testkit.Config) *server {
	t.Helper()
	return startServerEnv(t, dir, cfg, nil)
}

// startServerEnv is startServerIn with variables added to the server's
// environment.
func startServerEnv(t *testing.T, dir string, cfg *testkit.Config, env []string) *server {
	t.Helper()
	cfg.ListenOnFreePorts(t)
	s := startServerText(t, dir, cfg.TOML(), env)
	s.Built = cfg
	return s
}

// startServerText is startServerIn for a configuration file given as it
// is (one of the shipped examples), whose virtual servers have their
// addresses.
func startServerText(t *testing.T, dir, text string, env []string) *server {
	t.Helper()
	s := &server{t: t, Dir: dir, Config: filepath.Join(dir, "mailward.toml"), logPath: filepath.Join(dir, "server.log"), Env: env}
	if err := os.WriteFile(s.Config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(s.Config)
	if err != nil {
		t.Fatalf("test config does not load: %v\n%s", err, text)
	}
	s.DataDir, s.MailboxDir = cfg.Server.DataDir, cfg.MailboxDir()
	for _, l := range cfg.VirtualServers {
		switch l.Name {
		case "default":
			s.Addr = l.Address
		case "submission":
			s.SubmissionAddr = l.Address
		}
	}
	if s.Addr == "" {
		t.Fatalf("test config has no virtual server named \"default\":\n%s", text)
	}
	t.Cleanup(s.stop)
	s.start()
	return s
}

// start launches the process and waits for its greeting.
func (s *server) start() {
	t := s.t
	t.Helper()
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== mailward serve --config %s (%s)\n", s.Config, time.Now().Format(time.RFC3339Nano))
	bin := binary
	if s.Binary != "" {
		bin = s.Binary
	}
	cmd := exec.Command(bin, "serve", "--config", s.Config)
	cmd.Dir = s.Dir
	if len(s.Env) > 0 {
		cmd.Env = append(os.Environ(), s.Env...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start mailward: %v", err)
	}
	exited := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.exited, s.waitErr = cmd, exited, nil
	s.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		s.mu.Lock()
		s.waitErr = err
		s.mu.Unlock()
		close(exited)
	}()
	var (
		line   string
		gone   bool
		greets = testkit.Poll(startTimeout, 50*time.Millisecond, func() bool {
			select {
			case <-exited:
				gone = true
				return true
			default:
			}
			l, err := greeting(s.Addr)
			line = l
			return err == nil
		})
	)
	switch {
	case gone:
		s.mu.Lock()
		err := s.waitErr
		s.mu.Unlock()
		t.Fatalf("mailward exited during start (%v); its output:\n%s", err, s.Log())
	case !greets:
		t.Fatalf("mailward did not greet on %s within %v; output:\n%s", s.Addr, startTimeout, s.Log())
	case !strings.HasPrefix(line, "220 "):
		t.Fatalf("greeting %q, want 220; output:\n%s", line, s.Log())
	}
}

// greeting connects, reads the first reply line and quits.
func greeting(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	fmt.Fprint(c, "QUIT\r\n")
	return strings.TrimRight(line, "\r\n"), nil
}

// running reports whether the process is alive.
func (s *server) running() (chan struct{}, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil, false
	}
	select {
	case <-s.exited:
		return s.exited, false
	default:
		return s.exited, true
	}
}

// signal sends sig and waits up to d for the exit; it reports whether
// the process exited.
func (s *server) signal(sig syscall.Signal, d time.Duration) bool {
	exited, alive := s.running()
	if !alive {
		return true
	}
	s.mu.Lock()
	s.cmd.Process.Signal(sig)
	s.mu.Unlock()
	select {
	case <-exited:
		return true
	case <-time.After(d):
		return false
	}
}

// Kill ends the server with SIGKILL (a crash: no shutdown code runs) and
// waits for it to be gone.
func (s *server) Kill() {
	s.t.Helper()
	if !s.signal(syscall.SIGKILL, 10*time.Second) {
		s.t.Fatalf("mailward did not die within 10 s of SIGKILL")
	}
}

// Restart starts the server again on the same config, data and ports. A
// server still running is stopped with SIGTERM first.
func (s *server) Restart() {
	s.t.Helper()
	if !s.signal(syscall.SIGTERM, stopTimeout) {
		s.Kill()
	}
	s.start()
}

// stop is the cleanup: SIGTERM, wait, then SIGKILL; the output is logged
// when the test failed.
func (s *server) stop() {
	if !s.signal(syscall.SIGTERM, stopTimeout) {
		s.t.Logf("mailward ignored SIGTERM for %v; sending SIGKILL", stopTimeout)
		s.signal(syscall.SIGKILL, 10*time.Second)
	}
	if s.t.Failed() {
		s.t.Logf("mailward output (%s):\n%s", s.logPath, s.Log())
	}
}

// Log returns everything the server wrote to stdout and stderr.
func (s *server) Log() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(no output: " + err.Error() + ")"
	}
	return string(b)
}

// Maildir lists the files in new/ and cur/ of addr's Maildir, sorted.
func (s *server) Maildir(addr string) []string {
	dir := filepath.Join(s.MailboxDir, addr, "Maildir")
	var out []string
	for _, sub := range []string{"new", "cur"} {
		ents, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, e := range ents {
			if !e.IsDir() {
				out = append(out, filepath.Join(dir, sub, e.Name()))
			}
		}
	}
	sort.Strings(out)
	return out
}

// Events returns the event log's records with this ID (0: all).
func (s *server) Events(id int) []events.Record {
	recs, err := events.Read(filepath.Join(s.DataDir, "events.log"), events.Filter{ID: id})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		s.t.Fatalf("read events: %v", err)
	}
	return recs
}

// EventsFor returns the records with this ID whose field key is value.
func (s *server) EventsFor(id int, key, value string) []events.Record {
	var out []events.Record
	for _, r := range s.Events(id) {
		if r.Fields[key] == value {
			out = append(out, r)
		}
	}
	return out
}

// QueueActive lists the committed messages in the spool.
func (s *server) QueueActive() []string {
	ents, _ := os.ReadDir(filepath.Join(s.DataDir, "queue", "active"))
	var out []string
	for _, e := range ents {
		if !strings.Contains(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out
}

// Run runs a mailward tool subcommand against this server's config.
func (s *server) Run(args ...string) (string, error) {
	s.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = s.Dir
	out, err := runBounded(cmd, 20*time.Second)
	return string(out), err
}

// runBounded runs cmd and kills it when it outlives d.
func runBounded(cmd *exec.Cmd, d time.Duration) ([]byte, error) {
	var buf lockedBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return buf.Bytes(), err
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		return buf.Bytes(), fmt.Errorf("%s: killed after %v", cmd.Path, d)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.b...)
}

// freeAddr is a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string { return "127.0.0.1:" + strconv.Itoa(testkit.FreePort(t)) }

// bcryptHash hashes a password at the minimum cost (tests need speed,
// not strength).
func bcryptHash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// readFile returns a file's content (fatal on error).
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
