package main

import (
	"bufio"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
)

// serve tells systemd READY=1 through $NOTIFY_SOCKET once its virtual
// servers listen (a connection then gets the greeting), and STOPPING=1
// when it stops: what Type=notify in examples/systemd/mailward.service
// relies on.
func TestServeNotifiesReady(t *testing.T) {
	read := notifyListener(t)
	c := testkit.NewConfig()
	c.ListenOnFreePorts(t)
	_, _, stop := serveInProcess(t, t.TempDir(), c)

	msg := read("READY=1")
	if !strings.HasPrefix(msg, "READY=1\n") || !strings.Contains(msg, "STATUS=serving default on ") {
		t.Fatalf("notification %q, want READY=1 and a STATUS", msg)
	}
	// Ready means listening: the virtual server answers at once.
	conn, err := net.DialTimeout("tcp", c.VirtualServers[0].Address, 5*time.Second)
	if err != nil {
		t.Fatalf("READY=1 sent but the virtual server does not listen: %v", err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	greeting, err := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if err != nil || !strings.HasPrefix(greeting, "220 mx1.example.test ESMTP") {
		t.Fatalf("greeting %q, %v", greeting, err)
	}
	stop()
	if msg := read("STOPPING=1"); msg != "STOPPING=1" {
		t.Fatalf("notification at stop %q, want STOPPING=1", msg)
	}
}

// Without NOTIFY_SOCKET (not under systemd) nothing is sent and nothing
// fails; a socket that is not there is an error for the log.
func TestSdNotifyWithoutSocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := sdNotify("READY=1"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "absent"))
	if err := sdNotify("READY=1"); err == nil {
		t.Fatal("no error for a missing socket")
	}
}
