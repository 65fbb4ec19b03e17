package testkit

// A real DNS block list for the connection filter's tests: Debian's
// rbldnsd, serving one ip4set zone that the test writes, on a loopback
// UDP port.

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// RbldnsdPackage is the Debian package of rbldnsd.
const RbldnsdPackage = "rbldnsd"

// RequireRbldnsd returns the path of rbldnsd (in /usr/sbin), or skips or
// fails the test as a missing component does.
func RequireRbldnsd(t testing.TB) string {
	t.Helper()
	return RequireProgram(t, RbldnsdPackage, "rbldnsd")
}

// Rbldnsd is one running rbldnsd.
type Rbldnsd struct {
	// Addr is "127.0.0.1:port", the [dns] server to give mailward.
	Addr string
	// Zone is the block list's zone ("bl.example.test").
	Zone string

	bin, dir string
	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	out      *syncBuffer
}

// StartRbldnsd serves zone as an ip4set of entries (rbldnsd's format, one
// a line: "127.0.0.2", "192.0.2.0/24", "127.0.0.4 :127.0.0.4:Listed, see $"
// for an entry with its own answer and TXT), with
// an SOA whose negative TTL is negTTL seconds, and returns once rbldnsd
// has loaded it. It is stopped when the test ends.
func StartRbldnsd(t testing.TB, zone string, negTTL int, entries ...string) *Rbldnsd {
	t.Helper()
	bin := RequireRbldnsd(t)
	dir := t.TempDir()
	// As root rbldnsd chroots into dir and becomes the rbldns user, which
	// must be able to read the zone: the temporary directory is 0700.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data := fmt.Sprintf("$SOA 3600 ns.%s. hostmaster.%s. 1 3600 600 86400 %d\n", zone, zone, negTTL) + strings.Join(entries, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "zone"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &Rbldnsd{Zone: zone, bin: bin, dir: dir}
	var err error
	for range 5 { // the free UDP port may be taken before rbldnsd binds it
		if err = r.start(); err == nil {
			t.Cleanup(r.Stop)
			return r
		}
	}
	t.Fatalf("rbldnsd did not start: %v", err)
	return nil
}

func freeUDPPort() (string, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer pc.Close()
	return pc.LocalAddr().String(), nil
}

// start runs rbldnsd in the foreground (-n) on a free port and waits for
// its "started" line.
func (r *Rbldnsd) start() error {
	addr, err := freeUDPPort()
	if err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(addr)
	args := []string{"-n", "-b", host + "/" + port}
	if os.Geteuid() == 0 {
		args = append(args, "-r", r.dir, "-w", "/")
	} else {
		args = append(args, "-w", r.dir)
	}
	args = append(args, r.Zone+":ip4set:zone")
	cmd := exec.Command(r.bin, args...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(out.String(), " started") {
		select {
		case <-done:
			return fmt.Errorf("rbldnsd %s exited: %s", strings.Join(args, " "), out.String())
		case <-deadline:
			cmd.Process.Kill()
			<-done
			return fmt.Errorf("rbldnsd %s: no \"started\" within 10s: %s", strings.Join(args, " "), out.String())
		case <-tick.C:
		}
	}
	r.mu.Lock()
	r.Addr, r.cmd, r.done, r.out = addr, cmd, done, out
	r.mu.Unlock()
	return nil
}

// Stop kills rbldnsd; its port then answers nothing (queries time out,
// or get ICMP port unreachable).
func (r *Rbldnsd) Stop() {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.cmd = nil
	r.mu.Unlock()
	if cmd != nil {
		cmd.Process.Kill()
		<-done
	}
}

// Output is what rbldnsd printed.
func (r *Rbldnsd) Output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.out == nil {
		return ""
	}
	return r.out.String()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
