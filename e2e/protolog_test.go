package e2e

// The protocol log of a running mailward (docs/protocol-log.md): a
// submission with AUTH PLAIN and AUTH LOGIN goes to smtp-in.log, its
// relay to the next hop (a fake on loopback) to smtp-out.log, and
// neither file holds the password or the message text.

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
)

func TestProtocolLogsOfARelayedSubmission(t *testing.T) {
	d := startDNS(t)
	oneMX(d)
	mx1, port := oneFake(t)
	cfg := remoteConfig(d.Addr, port)
	cfg.Mailboxes[0].PasswordHash = bcryptHash(t, "alice-protolog-password")
	vs := &cfg.VirtualServers[0]
	vs.Auth, vs.AuthPlaintext, vs.RelayAuthenticated, vs.RelayNetworks = []string{"PLAIN", "LOGIN"}, true, true, nil
	vs.ProtocolLog = true
	cfg.Delivery.ProtocolLog = true
	s := startServer(t, cfg)

	plain := base64.StdEncoding.EncodeToString([]byte("\x00alice@example.test\x00alice-protolog-password"))
	c := dial(t, s.Addr)
	c.expect("EHLO client.test", 250)
	c.expect("AUTH PLAIN "+plain, 235)
	c.expect("MAIL FROM:<alice@example.test>", 250)
	c.expect("RCPT TO:<bob@remote.test>", 250)
	if r, err := c.dataErr(message("alice@example.test", "bob@remote.test", "protolog-subject", "protolog-secret-body")); err != nil || r.Code != 250 {
		t.Fatalf("DATA: %v %v", r, err)
	}
	c.expect("QUIT", 221)
	c.Close()
	c = dial(t, s.Addr)
	c.expect("EHLO client.test", 250)
	c.expect("AUTH LOGIN", 334)
	c.expect(base64.StdEncoding.EncodeToString([]byte("alice@example.test")), 334)
	c.expect(base64.StdEncoding.EncodeToString([]byte("alice-protolog-password")), 235)
	c.expect("QUIT", 221)
	c.Close()
	testkit.WaitFor(t, 15*time.Second, "the message at the next hop", func() bool { return mx1.Count() == 1 })
	settle(t, s)

	dir := filepath.Join(s.DataDir, "protocol-log")
	var in, out string
	// The outbound connection stays cached for reuse (10 s), so its end
	// is not waited for: the reply to the content is.
	testkit.WaitFor(t, 10*time.Second, "both sessions closed in smtp-in.log and the next hop's 250 in smtp-out.log", func() bool {
		in, out = readLog(filepath.Join(dir, "smtp-in.log")), readLog(filepath.Join(dir, "smtp-out.log"))
		// Every session closed (the harness's start probe is one).
		return strings.Contains(in, " < AUTH LOGIN\n") && strings.Count(in, " = closed") == strings.Count(in, " = virtual server ") &&
			strings.Contains(out, " < 250 2.0.0 Ok: queued as FAKE\n")
	})
	for _, want := range []string{" = virtual server default\n", " < AUTH PLAIN ***\n", " > 235 2.7.0 Authentication successful\n",
		" < RCPT TO:<bob@remote.test>\n", " < [message data, ", " < AUTH LOGIN\n > 334 ***\n", " < ***\n"} {
		if !containsLines(in, want) {
			t.Errorf("smtp-in.log lacks %q:\n%s", want, in)
		}
	}
	for _, want := range []string{" = outbound to mx1.remote.test\n", " > MAIL FROM:<alice@example.test>", " > RCPT TO:<bob@remote.test>", " > [message data, ", " < 250 2.0.0 Ok: queued as FAKE\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("smtp-out.log lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"alice-protolog-password", plain, base64.StdEncoding.EncodeToString([]byte("alice-protolog-password")),
		"protolog-secret-body", "protolog-subject"} {
		if strings.Contains(in, secret) || strings.Contains(out, secret) {
			t.Errorf("a protocol log contains %q", secret)
		}
	}
}

func readLog(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// containsLines reports whether the lines of want (each " dir text",
// newline-separated) follow each other in log, whatever their prefixes.
func containsLines(log, want string) bool {
	whole := strings.HasSuffix(want, "\n") // the last line ends there too
	w := strings.Split(strings.TrimSuffix(want, "\n"), "\n")
	lines := strings.Split(log, "\n")
	for i := range lines {
		ok := true
		for j := range w {
			end := "\n"
			if j == len(w)-1 && !whole {
				end = ""
			}
			if i+j >= len(lines) || !strings.Contains(lines[i+j]+"\n", w[j]+end) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
