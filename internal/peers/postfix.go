// Package peers starts throwaway instances of other MTAs (Debian's Postfix)
// so that tests and benchmarks can compare mailward with, and run mailward's
// diagnostics against, a real, independent implementation on loopback.
//
// A private Postfix runs from its own configuration directory
// (`postfix -c DIR start`) with its own queue, data directory and log file;
// it never touches the system instance in /etc/postfix and never talks to
// anything but 127.0.0.1 (DNS is switched off because the machine's
// resolver is not on loopback).
package peers

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"mailward/internal/testkit"
)

// PostfixOptions configures one private Postfix instance.
type PostfixOptions struct {
	Port        int               // smtpd listen port on 127.0.0.1 (0 = pick a free one)
	MyHostname  string            // default "postfix.test"
	MyDomain    string            // local (virtual mailbox) domain, default "example.test"
	Mailboxes   []string          // local parts delivered to Maildir via virtual(8), e.g. {"user","alice"}
	MaildirBase string            // where the Maildirs go (virtual_mailbox_base); default <dir>/maildirs
	RelayHost   string            // if set, "[127.0.0.1]:2626"-style relayhost for all non-local mail
	MyNetworks  string            // default "192.0.2.1/32" so that 127.0.0.1 may NOT relay
	ExtraMain   map[string]string // extra main.cf settings, applied last

	// VirtualAliases are virtual_alias_maps entries: an address
	// expanded by cleanup(8) into its members (virtual(5)).
	VirtualAliases map[string][]string
}

// Postfix is a running private instance.
type Postfix struct {
	Dir         string // private root: etc/ (config), queue/, data/, maildirs/, maillog
	ConfigDir   string // Dir/etc, the directory given to postfix -c
	Port        int
	Addr        string // "127.0.0.1:port"
	Domain      string // the virtual mailbox domain
	MaildirBase string // virtual_mailbox_base
	LogFile     string // maillog_file: Postfix's own log, readable without syslog
}

// markerFile marks a directory as one StartPostfix created, so that
// StopPostfixDir never removes a directory it was merely pointed at.
const markerFile = "mailward-postfix-peer"

// Package is the Debian package with everything a private instance needs.
const Package = "postfix"

// installHint is the one-line fix for a machine without Postfix.
const installHint = "install with: apt-get install -y " + Package

// CheckInstalled reports whether what a private instance and the
// benchmarks need is installed: the programs, and the accounts
// Postfix runs its daemons and set-gid programs as (the package's
// postinst creates them). The error says what is missing, not how to
// install it: see Require and CheckPostfix.
func CheckInstalled() error {
	var missing []string
	for _, p := range []string{"postfix", "smtp-source", "smtp-sink"} {
		if _, err := testkit.LookProgram(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("postfix peer: missing %s", strings.Join(missing, ", "))
	}
	if _, err := user.Lookup("postfix"); err != nil {
		return fmt.Errorf("postfix peer: no 'postfix' user (%v)", err)
	}
	if _, err := user.LookupGroup("postdrop"); err != nil {
		return fmt.Errorf("postfix peer: no 'postdrop' group (%v)", err)
	}
	return nil
}

// rootReason is why a private instance needs root.
const rootReason = "postfix start runs master(8), which must start as root: it binds, and virtual(8) changes to the mailbox owner's uid"

// CheckPostfix reports whether a private instance can start here:
// Postfix installed (CheckInstalled) and this process running as root.
// Tests use Require instead, which skips or fails through testkit.
func CheckPostfix() error {
	if err := CheckInstalled(); err != nil {
		return fmt.Errorf("%v; %s", err, installHint)
	}
	if os.Geteuid() != 0 {
		return errors.New("postfix peer: must run as root (" + rootReason + ")")
	}
	return nil
}

// StartPostfix writes a private configuration, starts the instance and
// waits (at most 30 s) until its smtpd answers 220.
func StartPostfix(opts PostfixOptions) (*Postfix, error) {
	if err := CheckPostfix(); err != nil {
		return nil, err
	}
	o := opts
	if o.MyHostname == "" {
		o.MyHostname = "postfix.test"
	}
	if o.MyDomain == "" {
		o.MyDomain = "example.test"
	}
	if o.MyNetworks == "" {
		// TEST-NET-1 (RFC 5737): a network nobody connects from, so that
		// 127.0.0.1 is an ordinary stranger that may not relay.
		o.MyNetworks = "192.0.2.1/32"
	}
	for _, lp := range o.Mailboxes {
		if lp == "" || strings.ContainsAny(lp, "@/ \t\r\n") || lp == "." || lp == ".." {
			return nil, fmt.Errorf("postfix peer: bad mailbox local part %q", lp)
		}
	}
	if strings.ContainsAny(o.MyDomain, "/ \t\r\n") || strings.Contains(o.MyDomain, "..") {
		return nil, fmt.Errorf("postfix peer: bad domain %q", o.MyDomain)
	}
	for a, members := range o.VirtualAliases {
		for _, s := range append([]string{a}, members...) {
			if s == "" || strings.ContainsAny(s, " \t\r\n,#") {
				return nil, fmt.Errorf("postfix peer: bad virtual alias address %q", s)
			}
		}
		if len(members) == 0 {
			return nil, fmt.Errorf("postfix peer: virtual alias %s without members", a)
		}
	}
	port := o.Port
	if port == 0 {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		port = p
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("postfix peer: bad port %d", port)
	}

	dir, err := os.MkdirTemp("", "postfix-peer-")
	if err != nil {
		return nil, fmt.Errorf("postfix peer: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = stopDir(dir, true)
		}
	}()
	// The daemons run as user postfix (and virtual(8) as nobody); they
	// must be able to walk into the directory MkdirTemp made 0700.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, fmt.Errorf("postfix peer: %w", err)
	}
	if err := writeFile(filepath.Join(dir, markerFile), []byte("created by mailward internal/peers\n"), 0o644); err != nil {
		return nil, fmt.Errorf("postfix peer: %w", err)
	}

	p := &Postfix{
		Dir:         dir,
		Port:        port,
		Addr:        net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Domain:      o.MyDomain,
		MaildirBase: o.MaildirBase,
		ConfigDir:   filepath.Join(dir, "etc"),
		LogFile:     filepath.Join(dir, "maillog"),
	}
	if p.MaildirBase == "" {
		p.MaildirBase = filepath.Join(dir, "maildirs")
	}
	if !filepath.IsAbs(p.MaildirBase) {
		abs, err := filepath.Abs(p.MaildirBase)
		if err != nil {
			return nil, fmt.Errorf("postfix peer: maildir base: %w", err)
		}
		p.MaildirBase = abs
	}
	uid, gid, err := mailboxOwner()
	if err != nil {
		return nil, err
	}
	// virtual(8) creates <base>/<domain>/<localpart>/{tmp,new,cur} with the
	// mailbox owner's privileges, so the base must be that owner's.
	if err := os.MkdirAll(p.MaildirBase, 0o755); err != nil {
		return nil, fmt.Errorf("postfix peer: maildir base: %w", err)
	}
	if err := os.Chmod(p.MaildirBase, 0o755); err != nil { // whatever the umask
		return nil, fmt.Errorf("postfix peer: maildir base: %w", err)
	}
	if err := os.Chown(p.MaildirBase, uid, gid); err != nil {
		return nil, fmt.Errorf("postfix peer: maildir base: %w", err)
	}

	// postfix(1) chdirs to queue_directory before anything else, so it must
	// exist; its subdirectories (owned by postfix) are created by
	// post-install during start. The configuration gets a directory of its
	// own because postfix-script warns about every file below
	// config_directory that is not root's, queue and Maildirs included.
	for _, d := range []string{"queue", "etc"} {
		if err := mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("postfix peer: %w", err)
		}
	}
	if err := writeConfig(p, o, uid, gid); err != nil {
		return nil, err
	}
	if out, err := postfixCmd(p.ConfigDir, "start"); err != nil {
		return nil, fmt.Errorf("postfix peer: postfix -c %s start: %v\n%s%s", p.ConfigDir, err, out, p.logTail())
	}
	if err := waitGreeting(p.Addr, 30*time.Second); err != nil {
		return nil, fmt.Errorf("postfix peer: %v%s", err, p.logTail())
	}
	ok = true
	return p, nil
}

// writeFile and mkdir give exactly the mode asked for, whatever the
// umask: Postfix's daemons run as user postfix (virtual(8) as nobody) and
// must walk into and read what root makes here, also when the tests run
// under a umask such as 077 (postsuper then stops with "scan_dir_push:
// open directory defer: Permission denied").
func writeFile(name string, data []byte, mode os.FileMode) error {
	if err := os.WriteFile(name, data, mode); err != nil {
		return err
	}
	return os.Chmod(name, mode)
}

func mkdir(name string, mode os.FileMode) error {
	if err := os.Mkdir(name, mode); err != nil {
		return err
	}
	return os.Chmod(name, mode)
}

// Stop stops the instance, waits for its processes and removes Dir.
func (p *Postfix) Stop() error {
	if p == nil || p.Dir == "" {
		return nil
	}
	return stopDir(p.Dir, true)
}

// StopPostfixDir stops the instance whose private root (Postfix.Dir) is dir
// (as printed by bench/cmd/postfixpeer) and removes the directory. It
// refuses directories StartPostfix did not create.
func StopPostfixDir(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, markerFile)); err != nil {
		return fmt.Errorf("postfix peer: %s was not created by StartPostfix: %w", dir, err)
	}
	return stopDir(dir, true)
}

// MaildirCount counts the messages delivered to localpart: files in new/
// and cur/ of <base>/<domain>/<localpart>. A Maildir that does not exist
// yet holds 0 messages.
func (p *Postfix) MaildirCount(localpart string) (int, error) {
	if localpart == "" || strings.ContainsAny(localpart, "/") || localpart == "." || localpart == ".." {
		return 0, fmt.Errorf("postfix peer: bad local part %q", localpart)
	}
	md := filepath.Join(p.MaildirBase, p.Domain, localpart)
	n := 0
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(md, sub))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("postfix peer: count %s: %w", md, err)
		}
		for _, e := range ents {
			if e.Type().IsRegular() {
				n++
			}
		}
	}
	return n, nil
}

// Maildir returns the Maildir path of localpart.
func (p *Postfix) Maildir(localpart string) string {
	return filepath.Join(p.MaildirBase, p.Domain, localpart)
}

// Log returns Postfix's log so far (for test failure messages).
func (p *Postfix) Log() string {
	b, err := os.ReadFile(p.LogFile)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

// logTail appends the end of the log to an error, because Postfix puts
// the actual reason for a failed start there, not on stderr.
func (p *Postfix) logTail() string {
	b, err := os.ReadFile(p.LogFile)
	if err != nil || len(b) == 0 {
		return ""
	}
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return "\n--- " + p.LogFile + " (tail) ---\n" + string(b)
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1. The port is
// released before use, so another process could take it in between; the
// start then fails loudly rather than silently sharing a port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("postfix peer: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// mailboxOwner is the uid/gid virtual(8) delivers as: nobody/nogroup, an
// unprivileged account that exists on every Debian system (and is above
// virtual_minimum_uid).
func mailboxOwner() (int, int, error) {
	u, err := user.Lookup("nobody")
	if err != nil {
		return 0, 0, fmt.Errorf("postfix peer: mailbox owner: %w", err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return 0, 0, fmt.Errorf("postfix peer: uid of nobody %q: %w", u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return 0, 0, fmt.Errorf("postfix peer: gid of nobody %q: %w", u.Gid, err)
	}
	return uid, gid, nil
}

// postfixCmd runs `postfix -c dir <args>` with a bounded run time.
func postfixCmd(dir string, args ...string) ([]byte, error) {
	// Debian installs postfix in /usr/sbin, which a non-root PATH may
	// lack; LookProgram searches it as well.
	bin, lerr := testkit.LookProgram("postfix")
	if lerr != nil {
		return nil, fmt.Errorf("%v; %s", lerr, installHint)
	}
	cmd := exec.Command(bin, append([]string{"-c", dir}, args...)...)
	// MAIL_CONFIG would override -c for some helper scripts.
	cmd.Env = append(filteredEnv("MAIL_CONFIG"), "MAIL_CONFIG="+dir)
	cmd.WaitDelay = 5 * time.Second
	done := make(chan struct{})
	var out []byte
	var err error
	go func() {
		out, err = cmd.CombinedOutput()
		close(done)
	}()
	select {
	case <-done:
		return out, err
	case <-time.After(60 * time.Second):
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
		}
		<-done
		return out, fmt.Errorf("postfix %s: timed out after 60s", strings.Join(args, " "))
	}
}

func filteredEnv(drop string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, drop+"=") {
			env = append(env, kv)
		}
	}
	return env
}

// waitGreeting polls addr until it answers with a 220 line, for at most d.
func waitGreeting(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	var last error
	for i := 0; i < 1000 && time.Now().Before(deadline); i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			line, rerr := bufio.NewReader(c).ReadString('\n')
			_, _ = c.Write([]byte("QUIT\r\n"))
			c.Close()
			if rerr == nil && strings.HasPrefix(line, "220") {
				return nil
			}
			last = fmt.Errorf("greeting %q, %v", strings.TrimSpace(line), rerr)
		} else {
			last = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no 220 greeting on %s within %v (last: %v)", addr, d, last)
}

// stopDir stops the instance in dir (if running), waits up to 20 s for its
// processes to go away and optionally removes dir.
func stopDir(dir string, remove bool) error {
	var errs []error
	pid := masterPID(dir)
	if pid > 0 && processAlive(pid) {
		etc := filepath.Join(dir, "etc")
		if out, err := postfixCmd(etc, "stop"); err != nil {
			errs = append(errs, fmt.Errorf("postfix -c %s stop: %v: %s", etc, err, strings.TrimSpace(string(out))))
		}
	}
	// `postfix stop` only signals master(8); its children exit after it.
	// Removing the queue under a live daemon would make it log errors (or
	// recreate files), so wait until nothing has its cwd inside dir.
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < 400 && time.Now().Before(deadline); i++ {
		if (pid <= 0 || !processAlive(pid)) && len(processesIn(dir)) == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if pid > 0 && processAlive(pid) {
		// Only our own master: never a broad kill.
		_ = syscall.Kill(pid, syscall.SIGKILL)
		errs = append(errs, fmt.Errorf("postfix peer: master %d did not stop in 20s; killed", pid))
	}
	if left := processesIn(dir); len(left) > 0 {
		errs = append(errs, fmt.Errorf("postfix peer: processes still in %s: %v", dir, left))
	}
	if remove {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("postfix peer: remove %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}

// masterPID reads master(8)'s pid file (queue_directory/pid/master.pid).
func masterPID(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "queue", "pid", "master.pid"))
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 1 {
		return 0
	}
	return n
}

func processAlive(pid int) bool {
	// Signal 0 checks existence; a zombie still "exists", so look at
	// /proc state as well.
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// processesIn lists pids whose working directory is dir or below: Postfix
// daemons chdir to queue_directory, so this finds every daemon of the
// instance and nothing else.
func processesIn(dir string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil {
			continue
		}
		if cwd == dir || strings.HasPrefix(cwd, dir+"/") {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	return pids
}
