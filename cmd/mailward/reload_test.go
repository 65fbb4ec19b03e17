package main

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"mailward/internal/testkit"
)

// greets reports whether addr answers with a 220 greeting.
func greets(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "220 ")
}

// checkReloading checks a RELOADING=1 notification: systemd wants
// MONOTONIC_USEC, the CLOCK_MONOTONIC time of the reload, with it.
func checkReloading(t *testing.T, msg string) {
	t.Helper()
	lines := strings.Split(msg, "\n")
	if len(lines) != 2 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
		t.Fatalf("notification %q, want RELOADING=1 and MONOTONIC_USEC", msg)
	}
	usec, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64)
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	now := ts.Nano() / 1000
	if err != nil || usec <= 0 || usec > now || now-usec > 60e6 {
		t.Fatalf("MONOTONIC_USEC=%d, monotonic clock now %d µs", usec, now)
	}
}

// A reload under systemd (Type=notify) is RELOADING=1 with
// MONOTONIC_USEC, then READY=1 once done, whether the file was applied
// (SIGHUP) or refused (`mailward reload`). `mailward reload` prints the
// report, or the refusal with its reason and an error (exit 1); a file
// that is not TOML is not sent. The virtual servers serve throughout.
func TestReloadNotifiesAndReports(t *testing.T) {
	read := notifyListener(t)
	dir := t.TempDir()
	c := testkit.NewConfig()
	c.ListenOnFreePorts(t)
	path, hup, _ := serveInProcess(t, dir, c)
	if msg := read("READY=1"); !strings.HasPrefix(msg, "READY=1\n") {
		t.Fatalf("notification %q, want READY=1", msg)
	}
	addr := c.VirtualServers[0].Address

	// SIGHUP with a second virtual server.
	c.VirtualServers = append(c.VirtualServers, testkit.VirtualServer{Name: "second", TLS: "none"})
	c.ListenOnFreePorts(t)
	if err := os.WriteFile(path, []byte(c.TOML()), 0o600); err != nil {
		t.Fatal(err)
	}
	hup <- unixSIGHUP
	checkReloading(t, read("RELOADING=1"))
	if msg := read("READY=1"); !strings.HasPrefix(msg, "READY=1\nSTATUS=serving default on "+addr+", second on ") {
		t.Fatalf("notification after the reload %q, want READY=1 naming both virtual servers", msg)
	}
	if !greets(c.VirtualServers[1].Address) {
		t.Fatal("the added virtual server does not greet")
	}

	// mailward reload, a file that validates: its report.
	c.Mailboxes = testkit.Mailboxes("new@example.test")
	os.WriteFile(path, []byte(c.TOML()), 0o600)
	var out, errb bytes.Buffer
	if err := runReload(&out, &errb, []string{"--config", path}); err != nil {
		t.Fatalf("mailward reload: %v\n%s", err, errb.String())
	}
	if s := out.String(); !strings.Contains(s, "reloaded "+path) || !strings.Contains(s, "domains and mailboxes") {
		t.Fatalf("mailward reload printed:\n%s", s)
	}
	checkReloading(t, read("RELOADING=1"))
	read("READY=1")

	// A file that fails validation: refused with the server's reason.
	c.VirtualServers[1].RelayNetworks = []string{"10.0.0.0/33"}
	os.WriteFile(path, []byte(c.TOML()), 0o600)
	c.VirtualServers[1].RelayNetworks = nil
	out.Reset()
	err := runReload(&out, &errb, []string{"--config", path})
	if err == nil || !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), `relay_networks entry "10.0.0.0/33"`) {
		t.Fatalf("mailward reload of an invalid file: %v (stdout %q)", err, out.String())
	}
	checkReloading(t, read("RELOADING=1"))
	read("READY=1")

	// Not TOML: not sent, said so.
	os.WriteFile(path, []byte(c.TOML()+"\n[server\n"), 0o600)
	err = runReload(&out, &errb, []string{"--config", path})
	if err == nil || !strings.Contains(err.Error(), "not sent to the server") {
		t.Fatalf("mailward reload of a file that is not TOML: %v", err)
	}
	for _, a := range []string{addr, c.VirtualServers[1].Address} {
		if !greets(a) {
			t.Fatalf("%s does not greet after the refused reloads", a)
		}
	}
}

var unixSIGHUP os.Signal = unix.SIGHUP
