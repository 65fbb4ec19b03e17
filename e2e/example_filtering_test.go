package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
)

// TestExampleFiltering runs the shipped examples/filtering as the README
// describes it — start-engines.sh (real rbldnsd and rspamd), then the
// example's mailward.toml as shipped but for the ports, stop-engines.sh
// at the end — and runs the README's swaks commands, checking what the
// README says they answer: GTUBE refused at the gateway with 550 5.7.1;
// a client on the block list (from 127.0.0.2) refused at RCPT with
// 550 5.7.1 while postmaster stays reachable; clean mail delivered with
// its SCL header; and CHUNKING offered.
func TestExampleFiltering(t *testing.T) {
	testkit.RequireRbldnsd(t)
	testkit.RequireRspamd(t)
	swaks := testkit.RequireProgram(t, "swaks", "swaks")
	readme := readFile(t, "../README.md")

	// The engines on free ports, their state in a directory rspamd's
	// user can reach (t.TempDir's parent is private).
	engines, err := os.MkdirTemp("", "mailward-engines-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(engines) })
	if err := os.Chmod(engines, 0o755); err != nil {
		t.Fatal(err)
	}
	bl, rs, ctl := testkit.FreePort(t), testkit.FreePort(t), testkit.FreePort(t)
	env := append(os.Environ(), "ENGINES_DIR="+engines, "BL_PORT="+strconv.Itoa(bl),
		"RSPAMD_PORT="+strconv.Itoa(rs), "RSPAMD_CONTROLLER_PORT="+strconv.Itoa(ctl))
	stop := exec.Command("../examples/filtering/stop-engines.sh")
	stop.Env = env
	t.Cleanup(func() {
		if out, err := stop.CombinedOutput(); err != nil {
			t.Errorf("stop-engines.sh: %v\n%s", err, out)
		}
	})
	start := exec.Command("../examples/filtering/start-engines.sh")
	start.Env = env
	if out, err := runBounded(start, 60*time.Second); err != nil {
		t.Fatalf("start-engines.sh: %v\n%s", err, out)
	}

	text, err := os.ReadFile("../examples/filtering/mailward.toml")
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cfg := replaceAll(string(text), map[string]string{
		"127.0.0.1:2525": addr, "127.0.0.1:2553": "127.0.0.1:" + strconv.Itoa(bl),
		"http://127.0.0.1:11343": "http://127.0.0.1:" + strconv.Itoa(rs)})
	s := startServerText(t, t.TempDir(), cfg, nil)
	check := "  content filter: rspamd at http://127.0.0.1:" + strconv.Itoa(rs) + " (timeout 10s, on failure accept); refused: SCL 7 and up; Junk: SCL 4 and up\n"
	if out, err := s.Run("config", "check", "--config", s.Config); err != nil || !strings.Contains(out, check) {
		t.Errorf("config check (%v):\n%s\nwant the line:\n%s", err, out, check)
	}

	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(swaks, append([]string{"--server", addr, "--timeout", "20"}, args...)...)
		b, _ := cmd.CombinedOutput() // swaks exits non-zero on a refusal
		return string(b)
	}
	claims := []struct {
		args []string
		want string
	}{
		{[]string{"--from", "erin@partner.test", "--to", "alice@example.test", "--body", testkit.GTUBE},
			"<** 550 5.7.1 Message refused as spam (SCL 7)"},
		{[]string{"--local-interface", "127.0.0.2", "--from", "erin@partner.test", "--to", "alice@example.test"},
			"<** 550 5.7.1 Service unavailable; client [127.0.0.2] blocked using bl.example.test (127.0.0.2)"},
		{[]string{"--local-interface", "127.0.0.2", "--from", "erin@partner.test", "--to", "postmaster@example.test"},
			"250 2.6.0 "},
		{[]string{"--from", "erin@partner.test", "--to", "alice@example.test", "--header", "Subject: hello"},
			"250 2.6.0 "},
	}
	for _, c := range claims {
		if o := run(c.args...); !strings.Contains(o, c.want) {
			t.Errorf("swaks %s: no %q in:\n%s", strings.Join(c.args, " "), c.want, o)
		}
		if !strings.Contains(readme, strings.TrimPrefix(c.want, "<** ")) {
			t.Errorf("README.md does not show %q", c.want)
		}
	}
	testkit.WaitFor(t, 10*time.Second, "postmaster's and alice's messages delivered", func() bool {
		return len(s.Maildir("postmaster@example.test")) == 1 && len(s.Maildir("alice@example.test")) == 1
	})
	alice := s.Maildir("alice@example.test")[0]
	b, _ := os.ReadFile(alice)
	head := "Return-Path: <erin@partner.test>\r\nDelivered-To: alice@example.test\r\nX-MS-Exchange-Organization-SCL: 0\r\n"
	if !strings.HasPrefix(string(b), head) || strings.Contains(string(b), "GTUBE") {
		t.Errorf("alice's copy %s:\n%.400s\nwant it to start:\n%s", filepath.Base(alice), b, head)
	}
	if !strings.Contains(readme, "```text\n"+strings.ReplaceAll(head, "\r\n", "\n")+"```") {
		t.Error("README.md does not show the head of alice's copy")
	}

	c := dial(t, addr)
	defer c.Close()
	if kw := ehloKeywords(c.expect("EHLO client.test", 250)); kw["CHUNKING"] != "" || !hasKey(kw, "CHUNKING") {
		t.Errorf("EHLO keywords %v: no CHUNKING", kw)
	}
	c.cmd("QUIT")
	for id, n := range map[int]int{1056: 1, 1057: 1, 1063: 1} {
		if got := len(s.Events(id)); got != n {
			t.Errorf("%d events %d, want %d", got, id, n)
		}
	}
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }
