package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"mailward/config"
	"mailward/internal/testkit"
)

// notifyListener is a stand-in for systemd's $NOTIFY_SOCKET.
func notifyListener(t *testing.T) func(what string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "notify.sock")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	t.Setenv("NOTIFY_SOCKET", sock)
	return func(what string) string {
		t.Helper()
		nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		b := make([]byte, 4096)
		n, err := nc.Read(b)
		if err != nil {
			t.Fatalf("waiting for %s on NOTIFY_SOCKET: %v", what, err)
		}
		return string(b[:n])
	}
}

// serveInProcess runs serve on c written to dir/mailward.toml; the
// returned hup channel is its SIGHUP, stop its SIGTERM. The test's end
// stops it too, and waits for it.
func serveInProcess(t *testing.T, dir string, c *testkit.Config) (path string, hup chan os.Signal, stop func()) {
	t.Helper()
	path = filepath.Join(dir, "mailward.toml")
	if err := os.WriteFile(path, []byte(c.TOML()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	hup = make(chan os.Signal, 1)
	go func() { done <- serve(ctx, cfg, hup) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	return path, hup, cancel
}
