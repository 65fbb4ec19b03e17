// Package testkdc runs a throwaway MIT Kerberos realm for tests: a scratch
// directory with its own kdc.conf and krb5.conf (reached through
// KRB5_KDC_PROFILE and KRB5_CONFIG, never /etc), a database created with
// kdb5_util, principals and keytabs made with kadmin.local, and krb5kdc run
// in the foreground as a child process on a free loopback port (UDP and TCP
// alike).
//
// The port is verified free before every start: krb5kdc sets SO_REUSEPORT,
// so a second KDC on a busy port would start silently and the two would
// split the requests between them (random KRB_AP_ERR_BAD_INTEGRITY). A
// busy port is refused instead.
//
// The realm never issues PACs (disable_pac, MIT 1.20+), and the realm's
// keys are AES-SHA1 only, which every peer we test against supports.
package testkdc

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mailward/internal/testkit"
)

// InstallHint is the one-line fix for a machine without the MIT programs.
const InstallHint = "install with: apt-get install -y krb5-kdc krb5-admin-server krb5-user"

// PythonPackage is the Debian package of MIT's GSS-API for Python.
const PythonPackage = "python3-gssapi"

// packages maps each Debian package to the programs of it a realm uses.
var packages = []struct {
	pkg      string
	programs []string
}{
	{"krb5-kdc", []string{"krb5kdc", "kdb5_util"}},
	{"krb5-admin-server", []string{"kadmin.local"}},
	{"krb5-user", []string{"kinit", "klist"}},
}

// lookProgram finds one of the programs; Debian puts the server ones in
// /usr/sbin, which a non-root PATH may lack, and testkit looks there too.
func lookProgram(name string) (string, error) {
	return testkit.LookProgram(name)
}

// Check reports whether the MIT KDC, admin and client programs are
// installed; the error names what is missing and how to install it.
// Tests use Require.
func Check() error {
	var missing []string
	for _, p := range packages {
		for _, prog := range p.programs {
			if _, err := lookProgram(prog); err != nil {
				missing = append(missing, prog)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("testkdc: missing %s; %s", strings.Join(missing, ", "), InstallHint)
	}
	return nil
}

// Require skips the test when the MIT programs are missing, or fails it
// with MAILWARD_REQUIRE_COMPONENTS=1 (see internal/testkit), naming the
// package of each missing program.
func Require(t testing.TB) {
	t.Helper()
	for _, p := range packages {
		testkit.Require(t, p.pkg, p.programs...)
	}
}

// FindPythonGSSAPI finds a python3 that can import gssapi (Debian's
// python3-gssapi installs into /usr/bin/python3, which may not be the
// python3 first on PATH) and returns its path. Tests use
// RequirePythonGSSAPI.
func FindPythonGSSAPI() (string, error) {
	var cands []string
	cands = append(cands, "/usr/bin/python3")
	if p, err := exec.LookPath("python3"); err == nil {
		cands = append(cands, p)
	}
	for _, p := range cands {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := exec.CommandContext(ctx, p, "-c", "import gssapi, gssapi.raw").Run()
		cancel()
		if err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("testkdc: no python3 (of %s) can import gssapi", strings.Join(cands, ", "))
}

// RequirePythonGSSAPI returns the path of a python3 with the gssapi
// module, or skips (fails with MAILWARD_REQUIRE_COMPONENTS=1) the test,
// naming python3-gssapi.
func RequirePythonGSSAPI(t testing.TB) string {
	t.Helper()
	var py string
	testkit.RequireCheck(t, PythonPackage, func() (err error) {
		py, err = FindPythonGSSAPI()
		return err
	})
	return py
}

// Option configures Start.
type Option func(*options)

type options struct {
	clockOffset int
	dir         string
}

// WithClockOffset runs the KDC with its clock shifted by the given number of
// seconds (krb5kdc -T): the tickets it issues start and end that far off.
func WithClockOffset(seconds int) Option {
	return func(o *options) { o.clockOffset = seconds }
}

// WithDir puts the realm in dir (for instance t.TempDir()) instead of a new
// temporary directory; Close then leaves the directory in place.
func WithDir(dir string) Option {
	return func(o *options) { o.dir = dir }
}

// KDC is one running (or stopped) realm.
type KDC struct {
	Realm  string
	Dir    string // scratch directory: databases, stash, logs, conf files
	Port   int    // UDP and TCP on 127.0.0.1
	Config string // krb5.conf for clients (KRB5_CONFIG)
	// Profile is the kdc.conf (KRB5_KDC_PROFILE) of the KDC and kadmin.local.
	Profile string

	opts    options
	ownDir  bool
	logFile string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start creates the realm in a scratch directory and starts its KDC.
func Start(realm string, opts ...Option) (*KDC, error) {
	if err := Check(); err != nil {
		return nil, err
	}
	if realm == "" || strings.ContainsAny(realm, " \t\n\"'{}[]=/@") {
		return nil, fmt.Errorf("testkdc: bad realm name %q", realm)
	}
	k := &KDC{Realm: realm}
	for _, o := range opts {
		o(&k.opts)
	}
	if k.opts.dir != "" {
		if err := os.MkdirAll(k.opts.dir, 0o700); err != nil {
			return nil, fmt.Errorf("testkdc: %w", err)
		}
		k.Dir = k.opts.dir
	} else {
		d, err := os.MkdirTemp("", "testkdc-")
		if err != nil {
			return nil, fmt.Errorf("testkdc: %w", err)
		}
		k.Dir, k.ownDir = d, true
	}
	abs, err := filepath.Abs(k.Dir)
	if err != nil {
		return nil, fmt.Errorf("testkdc: %w", err)
	}
	k.Dir = abs
	k.Config = filepath.Join(k.Dir, "krb5.conf")
	k.Profile = filepath.Join(k.Dir, "kdc.conf")
	k.logFile = filepath.Join(k.Dir, "krb5kdc.out")

	fail := func(err error) (*KDC, error) {
		k.Close()
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	k.Port = port
	if err := k.writeConfig(); err != nil {
		return fail(err)
	}
	pw := make([]byte, 16)
	if _, err := rand.Read(pw); err != nil {
		return fail(err)
	}
	if _, err := k.run("kdb5_util", "create", "-s", "-P", hex.EncodeToString(pw), "-r", realm); err != nil {
		return fail(err)
	}
	if err := k.start(); err != nil {
		return fail(err)
	}
	return k, nil
}

func (k *KDC) writeConfig() error {
	d := k.Dir
	kdcConf := fmt.Sprintf(`[kdcdefaults]
 kdc_listen = 127.0.0.1:%[1]d
 kdc_tcp_listen = 127.0.0.1:%[1]d

[realms]
 %[2]s = {
  database_name = %[3]s/principal
  key_stash_file = %[3]s/stash
  acl_file = %[3]s/kadm5.acl
  admin_keytab = FILE:%[3]s/kadm5.keytab
  kdc_listen = 127.0.0.1:%[1]d
  kdc_tcp_listen = 127.0.0.1:%[1]d
  disable_pac = true
  master_key_type = aes256-cts-hmac-sha1-96
  supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
  max_life = 10h 0m 0s
  max_renewable_life = 1d 0h 0m 0s
 }

[logging]
 kdc = FILE:%[3]s/kdc.log
 admin_server = FILE:%[3]s/kadmin.log
 default = FILE:%[3]s/krb5lib.log
`, k.Port, k.Realm, d)
	domain := strings.ToLower(k.Realm)
	krb5Conf := fmt.Sprintf(`[libdefaults]
 default_realm = %[2]s
 dns_lookup_kdc = false
 dns_lookup_realm = false
 dns_canonicalize_hostname = false
 rdns = false
 ignore_acceptor_hostname = false
 forwardable = false
 ticket_lifetime = 10h
 default_tkt_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
 default_tgs_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
 permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
 default_ccache_name = FILE:%[3]s/ccache

[realms]
 %[2]s = {
  kdc = 127.0.0.1:%[1]d
 }

[domain_realm]
 .%[4]s = %[2]s
 %[4]s = %[2]s
`, k.Port, k.Realm, d, domain)
	if err := os.WriteFile(k.Profile, []byte(kdcConf), 0o600); err != nil {
		return fmt.Errorf("testkdc: %w", err)
	}
	if err := os.WriteFile(k.Config, []byte(krb5Conf), 0o644); err != nil {
		return fmt.Errorf("testkdc: %w", err)
	}
	if err := os.WriteFile(filepath.Join(d, "kadm5.acl"), nil, 0o600); err != nil {
		return fmt.Errorf("testkdc: %w", err)
	}
	return nil
}

// Env is what a child process needs to use this realm: KRB5_CONFIG (and
// the KDC profile), a credential cache and a replay-cache directory inside
// the scratch directory. Append it to os.Environ().
func (k *KDC) Env() []string {
	return []string{
		"KRB5_CONFIG=" + k.Config,
		"KRB5_KDC_PROFILE=" + k.Profile,
		"KRB5CCNAME=FILE:" + filepath.Join(k.Dir, "ccache"),
		"KRB5RCACHEDIR=" + k.Dir,
		"KRB5_TRACE=" + filepath.Join(k.Dir, "trace.log"),
	}
}

func (k *KDC) env() []string {
	env := make([]string, 0, len(os.Environ())+5)
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "KRB5") {
			continue
		}
		env = append(env, e)
	}
	return append(env, k.Env()...)
}

// run runs one of the MIT programs with the realm's environment and a time
// limit, and returns its stdout. kadmin.local exits 0 even when a query
// fails, so its stderr is checked for anything but known chatter.
func (k *KDC) run(prog string, args ...string) (string, error) {
	path, err := lookProgram(prog)
	if err != nil {
		return "", fmt.Errorf("testkdc: %v; %s", err, InstallHint)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = k.env()
	cmd.Dir = k.Dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	desc := prog + " " + strings.Join(args, " ")
	if err != nil {
		return stdout.String(), fmt.Errorf("testkdc: %s: %v: %s", desc, err, strings.TrimSpace(stderr.String()))
	}
	if prog == "kadmin.local" {
		var bad []string
		for _, line := range strings.Split(stderr.String(), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.Contains(line, "No policy specified") || strings.HasPrefix(line, "WARNING: no policy") {
				continue
			}
			bad = append(bad, line)
		}
		if len(bad) > 0 {
			return stdout.String(), fmt.Errorf("testkdc: %s: %s", desc, strings.Join(bad, "; "))
		}
	}
	return stdout.String(), nil
}

func (k *KDC) kadmin(query string) error {
	_, err := k.run("kadmin.local", "-r", k.Realm, "-q", query)
	return err
}

func checkName(name string) error {
	if name == "" || strings.ContainsAny(name, " \t\r\n\"'\\") {
		return fmt.Errorf("testkdc: bad principal name %q", name)
	}
	return nil
}

// Running reports whether the KDC process is up.
func (k *KDC) Running() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cmd == nil {
		return false
	}
	select {
	case <-k.done:
		return false
	default:
		return true
	}
}

// Addr is the KDC's address, "127.0.0.1:port".
func (k *KDC) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(k.Port)) }

func (k *KDC) start() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cmd != nil {
		select {
		case <-k.done:
		default:
			return errors.New("testkdc: already running")
		}
	}
	if err := portFree(k.Port); err != nil {
		return err
	}
	path, err := lookProgram("krb5kdc")
	if err != nil {
		return fmt.Errorf("testkdc: %v; %s", err, InstallHint)
	}
	args := []string{"-n", "-r", k.Realm, "-P", filepath.Join(k.Dir, "krb5kdc.pid")}
	if k.opts.clockOffset != 0 {
		args = append(args, "-T", strconv.Itoa(k.opts.clockOffset))
	}
	out, err := os.OpenFile(k.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("testkdc: %w", err)
	}
	cmd := exec.Command(path, args...)
	cmd.Env = k.env()
	cmd.Dir = k.Dir
	cmd.Stdout, cmd.Stderr = out, out
	// If the test binary dies, the KDC goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("testkdc: krb5kdc: %w", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		out.Close()
		close(done)
	}()
	k.cmd, k.done = cmd, done

	// Wait (bounded) until it listens on both transports.
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			return fmt.Errorf("testkdc: krb5kdc exited during start-up: %s", k.logTail())
		default:
		}
		if k.answers() {
			return nil
		}
		if time.Now().After(deadline) {
			k.stopLocked()
			return fmt.Errorf("testkdc: krb5kdc did not answer on %s within 10s: %s", k.Addr(), k.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// answers reports whether something listens on the TCP port and holds the
// UDP port (the KDC opens both before serving).
func (k *KDC) answers() bool {
	c, err := net.DialTimeout("tcp", k.Addr(), 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	pc, err := net.ListenPacket("udp4", k.Addr())
	if err == nil {
		pc.Close()
		return false
	}
	return true
}

func (k *KDC) logTail() string {
	b, _ := os.ReadFile(k.logFile)
	if kl, err := os.ReadFile(filepath.Join(k.Dir, "kdc.log")); err == nil {
		b = append(b, kl...)
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 1500 {
		s = "..." + s[len(s)-1500:]
	}
	return s
}

// Stop ends the KDC (SIGTERM, then SIGKILL after 5 s) and keeps the realm:
// Restart brings it back on the same port.
func (k *KDC) Stop() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.stopLocked()
}

func (k *KDC) stopLocked() error {
	if k.cmd == nil {
		return nil
	}
	select {
	case <-k.done:
		k.cmd = nil
		return nil
	default:
	}
	_ = k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-k.done:
	case <-time.After(5 * time.Second):
		_ = k.cmd.Process.Kill()
		select {
		case <-k.done:
		case <-time.After(5 * time.Second):
			return fmt.Errorf("testkdc: krb5kdc pid %d did not exit", k.cmd.Process.Pid)
		}
	}
	k.cmd = nil
	return nil
}

// Restart stops the KDC if it runs and starts it again on the same port;
// the port must be free.
func (k *KDC) Restart() error {
	if err := k.Stop(); err != nil {
		return err
	}
	var err error
	for range 50 { // the port may take a moment to be released
		if err = k.start(); err == nil || !errors.Is(err, errPortBusy) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

// Close stops the KDC and removes the scratch directory if Start made it.
func (k *KDC) Close() error {
	err := k.Stop()
	if k.ownDir && k.Dir != "" {
		if rerr := os.RemoveAll(k.Dir); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}

var errPortBusy = errors.New("port busy")

// portFree checks that nothing holds port on 127.0.0.1, UDP or TCP. Our
// probe sockets do not set SO_REUSEPORT, so a KDC (which does) holding the
// port makes them fail.
func portFree(port int) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return fmt.Errorf("testkdc: %w: udp %s: %v (refusing to share it: krb5kdc sets SO_REUSEPORT)", errPortBusy, addr, err)
	}
	pc.Close()
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		return fmt.Errorf("testkdc: %w: tcp %s: %v (refusing to share it: krb5kdc sets SO_REUSEPORT)", errPortBusy, addr, err)
	}
	l.Close()
	return nil
}

// freePort finds a loopback port free for both UDP and TCP.
func freePort() (int, error) {
	var last error
	for range 50 {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("testkdc: %w", err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		pc.Close()
		if err != nil {
			last = err
			continue
		}
		l.Close()
		if err := portFree(port); err != nil {
			last = err
			continue
		}
		return port, nil
	}
	return 0, fmt.Errorf("testkdc: no free loopback port: %v", last)
}
