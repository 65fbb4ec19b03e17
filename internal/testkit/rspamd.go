package testkit

// A real rspamd for the content filter's tests (docs/filtering.md): the
// Debian package's rspamd with a minimal configuration of the test's own
// (loopback ports chosen free, its own run and database directories, no
// Redis, no DNS, none of the shipped rules), so that tests running in
// parallel never share one and it starts in about a second.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RspamdPackage is the Debian package of rspamd.
const RspamdPackage = "rspamd"

// GTUBE is the test string every rspamd answers with the action reject
// and score 15 (symbol GTUBE), whatever its rules.
const GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

// ScoreHeader is a header the tests' rspamd scores as its value: a
// message with "X-Test-Score: 7.5" scores 7.5 (symbol
// MAILWARD_TEST_SCORE), for a verdict between clean and GTUBE.
const ScoreHeader = "X-Test-Score"

// RequireRspamd returns the path of rspamd, or skips or fails the test
// as a missing component does.
func RequireRspamd(t testing.TB) string {
	t.Helper()
	return RequireProgram(t, RspamdPackage, "rspamd")
}

// Rspamd is one running rspamd.
type Rspamd struct {
	// URL is the normal worker ("http://127.0.0.1:PORT"): the
	// content_filter.rspamd_url to give mailward.
	URL string
	// Controller is the controller worker, whose /stat counts scans.
	Controller string

	dir, bin string
	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
}

// rspamdConfig is the whole configuration: no rules but the test's
// score header (GTUBE is built into rspamd), actions at rspamd's
// default scores, a four-line TLD list (the full public suffix list
// takes some 20 s to compile at every start), and an unreachable DNS
// server so that nothing leaves the machine.
const rspamdConfig = `options {
    pidfile = "$RUNDIR/rspamd.pid";
    dns { nameserver = ["127.0.0.1:1"]; timeout = 0.5s; retransmits = 1; }
    filters = "";
    url_tld = "%[1]s/tld.dat";
}
logging { type = "file"; filename = "%[1]s/rspamd.log"; level = "info"; }
actions { reject = 15; add_header = 6; greylist = 4; }
worker "normal" { bind_socket = "%[2]s"; count = 1; mime = true; }
worker "controller" { bind_socket = "%[3]s"; count = 1; password = "x"; secure_ip = "127.0.0.1"; }
lua = "%[1]s/rules.lua";
`

const rspamdRules = `rspamd_config:register_symbol{
  name = 'MAILWARD_TEST_SCORE',
  score = 1.0,
  callback = function(task)
    local n = tonumber(task:get_header('` + ScoreHeader + `') or '')
    if n then return true, n, tostring(n) end
    return false
  end,
}
`

// StartRspamd starts an rspamd of the test's own and returns once its
// normal worker has answered a real /checkv2 (its /ping answers before
// it can scan). It is stopped when the test ends.
func StartRspamd(t testing.TB) *Rspamd {
	t.Helper()
	bin := RequireRspamd(t)
	// Not t.TempDir: its parent is private to root, and rspamd's user
	// must reach the directory.
	dir, err := os.MkdirTemp("", "mailward-rspamd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r, err := startRspamd(bin, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

var shared struct {
	once sync.Once
	r    *Rspamd
	err  error
}

// SharedRspamd is one rspamd for every test of a package that only asks
// for verdicts (not for a scan count, not for an outage): started by the
// first test that asks, stopped by StopSharedRspamd, which the package's
// TestMain calls after m.Run.
func SharedRspamd(t testing.TB) *Rspamd {
	t.Helper()
	bin := RequireRspamd(t)
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "mailward-rspamd-")
		if err != nil {
			shared.err = err
			return
		}
		shared.r, shared.err = startRspamd(bin, dir)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.r
}

// StopSharedRspamd stops the package's shared rspamd, if one started.
func StopSharedRspamd() {
	if shared.r != nil {
		shared.r.Stop()
		os.RemoveAll(shared.r.dir)
	}
}

func startRspamd(bin, dir string) (*Rspamd, error) {
	r := &Rspamd{dir: dir, bin: bin}
	for _, f := range []struct{ name, text string }{
		{"tld.dat", "com\nnet\norg\ntest\n"},
		{"rules.lua", rspamdRules},
	} {
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte(f.text), 0o644); err != nil {
			return nil, err
		}
	}
	for _, sub := range []string{"run", "db"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	var err error
	for range 5 { // a free port may be taken before rspamd binds it
		if err = r.Start(); err == nil {
			return r, nil
		}
	}
	return nil, fmt.Errorf("rspamd did not start: %v", err)
}

// Start starts rspamd again (after Stop) on new free ports, and waits
// for a real check.
func (r *Rspamd) Start() error {
	normal, err := freeTCPAddr()
	if err != nil {
		return err
	}
	ctl, err := freeTCPAddr()
	if err != nil {
		return err
	}
	conf := filepath.Join(r.dir, "rspamd.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(rspamdConfig, r.dir, normal, ctl)), 0o644); err != nil {
		return err
	}
	args := []string{"-f", "-c", conf, "--var=RUNDIR=" + filepath.Join(r.dir, "run"), "--var=DBDIR=" + filepath.Join(r.dir, "db")}
	if os.Geteuid() == 0 {
		// rspamd refuses to run as root: it becomes _rspamd, the user
		// its package creates, which must write the directories.
		if err := chownTree(r.dir, "_rspamd"); err != nil {
			return err
		}
		args = append(args, "-u", "_rspamd", "-g", "_rspamd")
	}
	cmd := exec.Command(r.bin, args...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group: Stop ends the workers with the main process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	r.mu.Lock()
	r.URL, r.Controller, r.cmd, r.done = "http://"+normal, "http://"+ctl, cmd, done
	r.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := r.Check([]byte("Subject: ready\r\n\r\nready\r\n")); err == nil {
			return nil
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(r.dir, "rspamd.log"))
			return fmt.Errorf("rspamd exited: %s\n%s", out.String(), tail(log, 2000))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.Stop()
			return fmt.Errorf("rspamd did not answer /checkv2 within 30s: %s", out.String())
		}
	}
}

// Check scans msg and returns rspamd's answer (action, score, symbols).
func (r *Rspamd) Check(msg []byte) (map[string]any, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Post(r.URL+"/checkv2", "message/rfc822", bytes.NewReader(msg))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return nil, err
	}
	if _, ok := v["action"]; !ok || resp.StatusCode != 200 {
		return nil, fmt.Errorf("rspamd answered %s: %v", resp.Status, v)
	}
	return v, nil
}

// Scanned is the number of messages rspamd has scanned since it
// started, as its controller counts them (/stat "scanned"); the
// readiness check of Start is one.
func (r *Rspamd) Scanned(t testing.TB) int {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(r.Controller + "/stat")
	if err != nil {
		t.Fatalf("rspamd /stat: %v", err)
	}
	defer resp.Body.Close()
	var v struct {
		Scanned *int `json:"scanned"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.Scanned == nil {
		t.Fatalf("rspamd /stat: no scanned counter (%v)", err)
	}
	return *v.Scanned
}

// Freeze stops rspamd and its workers (SIGSTOP) without closing their
// ports: connections are accepted and never answered, a hung rspamd.
// Thaw (SIGCONT) lets it go on; the test's end thaws it too.
func (r *Rspamd) Freeze(t testing.TB) {
	t.Helper()
	r.signal(t, syscall.SIGSTOP)
	t.Cleanup(func() { r.signal(t, syscall.SIGCONT) })
}

// Thaw undoes Freeze.
func (r *Rspamd) Thaw(t testing.TB) { t.Helper(); r.signal(t, syscall.SIGCONT) }

func (r *Rspamd) signal(t testing.TB, sig syscall.Signal) {
	r.mu.Lock()
	cmd := r.cmd
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil {
		t.Errorf("rspamd: %v: %v", sig, err)
	}
}

// Stop kills rspamd and its workers; its port then refuses connections.
func (r *Rspamd) Stop() {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.cmd = nil
	r.mu.Unlock()
	if cmd != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

func chownTree(dir, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("user %s (created by the rspamd package): %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
