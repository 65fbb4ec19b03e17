package peers

import (
	"net/smtp"
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
)

// TestPostfixDeliversToMaildir starts a private instance, hands it one
// message for a virtual mailbox and waits for the Maildir file. Without
// Postfix (or root) it skips, or fails under ./scripts/test.sh
// (MAILWARD_REQUIRE_COMPONENTS=1): the benchmarks and relay tests depend
// on this peer, and there a skip would hide that they never ran.
func TestPostfixDeliversToMaildir(t *testing.T) {
	Require(t)
	p, err := StartPostfix(PostfixOptions{Mailboxes: []string{"user", "alice"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()
	if !strings.HasPrefix(p.Addr, "127.0.0.1:") || p.Port == 0 {
		t.Fatalf("unexpected address %q", p.Addr)
	}

	msg := "From: sender@sender.test\r\nTo: user@example.test\r\nSubject: peer test\r\n\r\nhello\r\n"
	if err := smtp.SendMail(p.Addr, nil, "sender@sender.test", []string{"user@example.test"}, []byte(msg)); err != nil {
		t.Fatalf("send: %v\n%s", err, p.Log())
	}

	n := 0
	testkit.Eventually(30*time.Second, func() bool {
		n, err = p.MaildirCount("user")
		return err != nil || n > 0
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("Maildir of user holds %d messages, want 1\n%s", n, p.Log())
	}
	if testing.Verbose() {
		t.Log(p.Log())
	}
	if n, _ := p.MaildirCount("alice"); n != 0 {
		t.Errorf("alice got %d messages, want 0", n)
	}
}

// TestPostfixRefusesRelayFromLoopback checks the default MyNetworks: the
// relay tests rely on 127.0.0.1 being a stranger.
func TestPostfixRefusesRelayFromLoopback(t *testing.T) {
	Require(t)
	p, err := StartPostfix(PostfixOptions{Mailboxes: []string{"user"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	c, err := smtp.Dial(p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("someone@sender.test"); err != nil {
		t.Fatal(err)
	}
	err = c.Rcpt("victim@relay-test.invalid")
	if err == nil || !strings.Contains(err.Error(), "Relay access denied") {
		t.Fatalf("RCPT to a remote domain: got %v, want Relay access denied", err)
	}
	_ = c.Quit()
}

func TestStopPostfixDirRefusesForeignDir(t *testing.T) {
	if err := StopPostfixDir(t.TempDir()); err == nil {
		t.Fatal("StopPostfixDir accepted a directory it did not create")
	}
}

// A virtual alias (the group of bench/group.sh) is expanded by the
// instance into its members' Maildirs, one copy each, and nobody else's.
func TestPostfixExpandsVirtualAlias(t *testing.T) {
	Require(t)
	p, err := StartPostfix(PostfixOptions{Mailboxes: []string{"alice", "bob", "carol"},
		VirtualAliases: map[string][]string{"group@example.test": {"alice@example.test", "bob@example.test"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	msg := "From: sender@sender.test\r\nTo: group@example.test\r\nSubject: alias\r\n\r\nhello\r\n"
	if err := smtp.SendMail(p.Addr, nil, "sender@sender.test", []string{"group@example.test"}, []byte(msg)); err != nil {
		t.Fatalf("send: %v\n%s", err, p.Log())
	}
	count := func(lp string) int {
		n, err := p.MaildirCount(lp)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	testkit.Eventually(30*time.Second, func() bool { return count("alice") > 0 && count("bob") > 0 })
	if a, b, c := count("alice"), count("bob"), count("carol"); a != 1 || b != 1 || c != 0 {
		t.Fatalf("alice %d, bob %d, carol %d copies; want 1, 1, 0\n%s", a, b, c, p.Log())
	}
}

// Unusable aliases are refused before anything starts.
func TestPostfixRefusesBadAlias(t *testing.T) {
	Require(t)
	for _, a := range []map[string][]string{
		{"group@example.test": nil},
		{"group@example.test": {"a@example.test, b@example.test"}},
		{"group @example.test": {"a@example.test"}},
	} {
		if p, err := StartPostfix(PostfixOptions{VirtualAliases: a}); err == nil {
			p.Stop()
			t.Errorf("%v accepted", a)
		}
	}
}
