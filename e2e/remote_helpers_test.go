package e2e

// Helpers for the remote delivery tests (remote_*_test.go): their
// configuration, a test DNS zone with two MX hosts on 127.0.0.2 and 127.0.0.3,
// a relay client, and readers for the queue viewer's last error.

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"mailward/events"
	"mailward/internal/testdns"
	"mailward/internal/testkit"
)

// remoteConfig is a configuration that lets 127.0.0.1 relay, has the
// local mailboxes alice and postmaster and retries every second; remote
// mail goes to the MX hosts that the test DNS server at dns publishes,
// on port (dns "" and port 0: the defaults, for a smart host instead).
func remoteConfig(dns string, port int) *testkit.Config {
	c := testkit.NewConfig()
	c.Queue = &testkit.Queue{RetrySchedule: []string{"1s"}}
	if dns != "" {
		c.DNS = &testkit.DNS{Server: dns}
	}
	c.Delivery = &testkit.Delivery{ConnectTimeout: "5s", RemotePort: port}
	c.Mailboxes = testkit.Mailboxes("alice@example.test", "postmaster@example.test")
	c.VirtualServers[0].RelayNetworks = []string{"127.0.0.1/32"}
	c.VirtualServers[0].MaxConnectionsPerIP = 100
	return c
}

// KB979174's queue-viewer text when the primary MX answered 454.
const kb979174LastError = `451 4.4.0 Primary target IP address responded with: "454 4.7.0 Temporary authentication failure." ` +
	`Attempted failover to alternate host, but that did not succeed. Either there are no alternate hosts, ` +
	`or delivery failed to all alternate hosts.`

const (
	kb979174Prefix = `451 4.4.0 Primary target IP address responded with: "`
	kb979174Suffix = `." Attempted failover to alternate host, but that did not succeed. Either there are no alternate hosts, ` +
		`or delivery failed to all alternate hosts.`
	authFail454 = "454 4.7.0 Temporary authentication failure"
)

// startDNS starts the test DNS server for one test.
func startDNS(t *testing.T) *testdns.Server {
	t.Helper()
	d, err := testdns.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// twoMX publishes remote.test: MX 10 mx1.remote.test (127.0.0.2), MX 20
// mx2.remote.test (127.0.0.3).
func twoMX(d *testdns.Server) {
	d.SetMX("remote.test", testdns.MX{Pref: 10, Host: "mx1.remote.test"}, testdns.MX{Pref: 20, Host: "mx2.remote.test"})
	d.SetA("mx1.remote.test", "127.0.0.2")
	d.SetA("mx2.remote.test", "127.0.0.3")
}

// oneMX publishes remote.test: MX 10 mx1.remote.test (127.0.0.2).
func oneMX(d *testdns.Server) {
	d.SetMX("remote.test", testdns.MX{Pref: 10, Host: "mx1.remote.test"})
	d.SetA("mx1.remote.test", "127.0.0.2")
}

// twoFakes starts fakes for mx1 (127.0.0.2) and mx2 (127.0.0.3) on one
// port and returns them with the port.
func twoFakes(t *testing.T) (mx1, mx2 *testkit.SMTPServer, port int) {
	t.Helper()
	lns, port := testkit.ListenSamePort(t, "127.0.0.2", "127.0.0.3")
	return testkit.StartSMTP(t, testkit.SMTP{Listener: lns[0], Name: "mx1.remote.test"}), testkit.StartSMTP(t, testkit.SMTP{Listener: lns[1], Name: "mx2.remote.test"}), port
}

// oneFake starts the fake for mx1 (127.0.0.2).
func oneFake(t *testing.T) (*testkit.SMTPServer, int) {
	t.Helper()
	lns, port := testkit.ListenSamePort(t, "127.0.0.2")
	return testkit.StartSMTP(t, testkit.SMTP{Listener: lns[0], Name: "mx1.remote.test"}), port
}

// relayMsg sends one message from 127.0.0.1 (which may relay) and returns
// its queue ID. from and rcpt are given as on the wire, with parameters:
// "<alice@example.test> RET=HDRS".
func relayMsg(t *testing.T, s *server, from, rcpt, subject string) string {
	t.Helper()
	return relayMsgTo(t, s, from, []string{rcpt}, subject)
}

func relayMsgTo(t *testing.T, s *server, from string, rcpts []string, subject string) string {
	t.Helper()
	c := dial(t, s.Addr)
	defer c.Close()
	c.expect("EHLO client.test", 250)
	c.expect("MAIL FROM:"+from, 250)
	for _, r := range rcpts {
		c.expect("RCPT TO:"+r, 250)
	}
	hdrFrom := strings.Trim(strings.Fields(from)[0], "<>")
	hdrTo := strings.Trim(strings.Fields(rcpts[0])[0], "<>")
	r, err := c.dataErr(message(hdrFrom, hdrTo, subject, "remote delivery test"))
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	c.cmdErr("QUIT")
	return queueID(t, r)
}

// waitEvents waits until at least n events with this ID name the queue
// ID, and returns them.
func waitEvents(t *testing.T, s *server, id int, qid string, n int, d time.Duration) []events.Record {
	t.Helper()
	var recs []events.Record
	testkit.WaitFor(t, d, fmt.Sprintf("%d event(s) %d for %s", n, id, qid), func() bool {
		recs = s.EventsFor(id, "queue_id", qid)
		return len(recs) >= n
	})
	return recs
}

// queueLastError reads a delivery queue's last error the way an
// administrator would: from the queue viewer ("mailward queue list
// --json"; a queue object with this name and a last_error, or else a
// pending recipient's last_error), falling back to the last event 3001
// of message qid. It also says where the text came from.
func queueLastError(t *testing.T, s *server, hop, qid string) (text, source string) {
	t.Helper()
	out, errOut, err := runCLI(s, "queue", "list", "--config", s.Config, "--json")
	if err == nil {
		if v, ok := lastErrorFromJSON(out, hop, qid); ok {
			src := "mailward queue list --json"
			if strings.Contains(errOut, "not running") {
				src += " (server socket unavailable: read from the spool)"
			}
			return v, src
		}
	} else {
		t.Logf("mailward queue list --json failed (%v): %s%s", err, out, errOut)
	}
	recs := s.EventsFor(events.DeliveryDeferred, "queue_id", qid)
	if len(recs) == 0 {
		return "", "nothing (no queue entry, no event 3001)"
	}
	return recs[len(recs)-1].Fields["error"], "event 3001"
}

// lastErrorFromJSON finds the last error in the viewer's JSON, whatever
// its shape: a queue object {"name": hop, "last_error": ...} wins; then
// a message {"id": qid, "recipients": [{"last_error": ...}]}; then any
// last_error.
func lastErrorFromJSON(out, hop, qid string) (string, bool) {
	var docs []any
	dec := json.NewDecoder(strings.NewReader(out))
	for range 100 {
		var v any
		if dec.Decode(&v) != nil {
			break
		}
		docs = append(docs, v)
	}
	var byQueue, byMsg, anyErr string
	var walk func(v any, inMsg bool)
	walk = func(v any, inMsg bool) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e, inMsg)
			}
		case map[string]any:
			le, _ := x["last_error"].(string)
			if name, _ := x["name"].(string); name == hop && le != "" && byQueue == "" {
				byQueue = le
			}
			if id, _ := x["id"].(string); id == qid {
				inMsg = true
			}
			if le != "" {
				if inMsg && byMsg == "" {
					byMsg = le
				}
				if anyErr == "" {
					anyErr = le
				}
			}
			for _, e := range x {
				walk(e, inMsg)
			}
		}
	}
	for _, d := range docs {
		walk(d, false)
	}
	for _, v := range []string{byQueue, byMsg, anyErr} {
		if v != "" {
			return v, true
		}
	}
	return "", false
}

// runCLI runs a mailward subcommand and returns its standard output and
// standard error apart (the viewer writes notices to stderr, JSON to
// stdout), killing it after 20 s.
func runCLI(s *server, args ...string) (stdout, stderr string, err error) {
	var o, e lockedBuffer
	cmd := exec.Command(binary, args...)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Start(); err != nil {
		return "", "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		err = fmt.Errorf("mailward %v: killed after 20s", args)
	}
	return string(o.Bytes()), string(e.Bytes()), err
}

// maildirCount is len(s.Maildir(addr)).
func maildirCount(s *server, addr string) int { return len(s.Maildir(addr)) }

// queueCLI runs "mailward queue <sub> --config F args..." against the
// running server and fails the test on an error.
func queueCLI(t *testing.T, s *server, sub string, args ...string) string {
	t.Helper()
	out, errOut, err := runCLI(s, append([]string{"queue", sub, "--config", s.Config}, args...)...)
	if err != nil {
		t.Fatalf("mailward queue %s %v: %v\n%s%s", sub, args, err, out, errOut)
	}
	return out
}
