package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"mailward/config"
	"mailward/internal/certs"
	"mailward/internal/testkit"
)

const (
	exampleUnit = "../../examples/systemd/mailward.service"
	exampleTOML = "../../examples/systemd/mailward.toml"
)

// The Debian example names only Debian's paths, and with them moved to
// a temporary directory (and a certificate made there) it passes config
// check: what an administrator installs per docs/service.md starts.
func TestSystemdExampleConfig(t *testing.T) {
	b, err := os.ReadFile(exampleTOML)
	if err != nil {
		t.Fatal(err)
	}
	// Every absolute path in a value is under one of the three
	// directories the unit and docs/service.md prepare.
	for _, m := range regexp.MustCompile(`(?m)^[^#\n]*"(/[^"]*)"`).FindAllStringSubmatch(string(b), -1) {
		p := m[1]
		if !strings.HasPrefix(p, "/etc/mailward/") && p != "/var/lib/mailward" && !strings.HasPrefix(p, "/var/log/mailward/") {
			t.Errorf("path %s is not under /etc/mailward, /var/lib/mailward or /var/log/mailward", p)
		}
	}
	dir := t.TempDir()
	conf := strings.NewReplacer("/etc/mailward", dir+"/etc", "/var/lib/mailward", dir+"/lib", "/var/log/mailward", dir+"/log").Replace(string(b))
	if err := os.MkdirAll(filepath.Join(dir, "etc", "tls"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := certs.SelfSigned(filepath.Join(dir, "etc/tls/mailward.crt"), filepath.Join(dir, "etc/tls/mailward.key"), "mx1.example.com"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "etc", "mailward.toml")
	if err := os.WriteFile(path, []byte(conf), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := cmdConfig([]string{"check", "--config", path}); err != nil {
		t.Fatalf("config check of the Debian example: %v", err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.DataDir != dir+"/lib" || cfg.ProtocolLogDir() != dir+"/log/protocol-log" || cfg.MailboxDir() != dir+"/lib/mailboxes" {
		t.Fatalf("data_dir %s, protocol log %s, mailboxes %s", cfg.Server.DataDir, cfg.ProtocolLogDir(), cfg.MailboxDir())
	}
	if cfg.Metrics.Address != "127.0.0.1:9325" {
		t.Errorf("metrics on %q: the example keeps them on loopback", cfg.Metrics.Address)
	}
}

// unitDirectives reads a unit file: section -> key -> values (a key may
// repeat).
func unitDirectives(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: not a directive: %q", path, line)
			}
			out[section][strings.TrimSpace(k)] = append(out[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return out
}

// The unit runs mailward as its own user with only the capability to
// bind port 25, a read-only system but for the spool and the logs, and
// reloads with SIGHUP; Type=notify matches serve's sd_notify.
func TestSystemdUnitDirectives(t *testing.T) {
	u := unitDirectives(t, exampleUnit)
	for _, d := range []struct{ section, key, want string }{
		{"Service", "Type", "notify"},
		{"Service", "User", "mailward"},
		{"Service", "Group", "mailward"},
		{"Service", "ExecStart", "/usr/local/bin/mailward serve --config /etc/mailward/mailward.toml"},
		{"Service", "ExecReload", "/bin/kill -HUP $MAINPID"},
		{"Service", "AmbientCapabilities", "CAP_NET_BIND_SERVICE"},
		{"Service", "CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"},
		{"Service", "NoNewPrivileges", "yes"},
		{"Service", "ProtectSystem", "strict"},
		{"Service", "ProtectHome", "yes"},
		{"Service", "PrivateTmp", "yes"},
		{"Service", "ReadWritePaths", "/var/lib/mailward /var/log/mailward"},
		{"Install", "WantedBy", "multi-user.target"},
	} {
		got := u[d.section][d.key]
		if len(got) != 1 || got[0] != d.want {
			t.Errorf("[%s] %s = %q, want exactly %q", d.section, d.key, got, d.want)
		}
	}
}

// systemd itself accepts the unit: systemd-analyze verify reports
// nothing (it prints unknown or bad values as warnings and still exits
// 0, so its output must be empty). ExecStart points at an existing
// program here, as mailward is not installed in /usr/local/bin.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze := testkit.RequireProgram(t, "systemd", "systemd-analyze")
	// verify refuses an ExecReload whose program is missing.
	testkit.RequireCheck(t, "procps", func() error { _, err := os.Stat("/bin/kill"); return err })
	b, err := os.ReadFile(exampleUnit)
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "mailward.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/mailward", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The check has teeth: a bad value is reported.
	bad := strings.Replace(strings.ReplaceAll(string(b), "/usr/local/bin/mailward", self), "ProtectSystem=strict", "ProtectSystem=stricter", 1)
	if err := os.WriteFile(unit, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command(analyze, "verify", unit).CombinedOutput(); !strings.Contains(string(out), "ProtectSystem") && !strings.Contains(string(out), "protect system") {
		t.Fatalf("systemd-analyze verify said nothing of a bad ProtectSystem: %q", out)
	}
}
