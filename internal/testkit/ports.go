package testkit

import (
	"net"
	"strconv"
	"testing"
)

// FreePort returns a TCP port that was free on each of ips (127.0.0.1
// when none is given) a moment ago, for a server the test starts next;
// nothing listens on it when FreePort returns.
func FreePort(t testing.TB, ips ...string) int {
	t.Helper()
	if len(ips) == 0 {
		ips = []string{"127.0.0.1"}
	}
	lns, port := ListenSamePort(t, ips...)
	for _, ln := range lns {
		ln.Close()
	}
	return port
}

// ListenSamePort opens one TCP virtual server on each of ips, all on the same
// port (MX hosts share delivery.remote_port), and returns them with the
// port. They are closed when the test ends, if nothing closed them
// before (a fake SMTP server serving one does).
func ListenSamePort(t testing.TB, ips ...string) ([]net.Listener, int) {
	t.Helper()
	for range 50 {
		first, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
		if err != nil {
			t.Fatalf("listen on %s: %v", ips[0], err)
		}
		port := first.Addr().(*net.TCPAddr).Port
		lns := []net.Listener{first}
		for _, ip := range ips[1:] {
			ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		if len(lns) == len(ips) {
			t.Cleanup(func() {
				for _, ln := range lns {
					ln.Close()
				}
			})
			return lns, port
		}
		for _, ln := range lns {
			ln.Close()
		}
	}
	t.Fatalf("no port free on all of %v", ips)
	return nil, 0
}

// freeTCPAddr is "127.0.0.1:port" with a TCP port that was free a moment
// ago, for a server started as a process of its own (slapd, rspamd),
// which may find it taken: its starter tries again.
func freeTCPAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
