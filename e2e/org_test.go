package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
)

// An organization of two mailward servers on loopback (KB843106): mx1
// relays example.test to mx2, which holds the mailboxes. LOGIN between
// them (the Kerberos variant is in orgauth's tests).

const orgDirectory = `
[[server]]
name = "mx1"
fqdn = "mx1.example.test"
auth = "login"
password_hash = "$2a$10$.OVCvNJWJ/Oq8rRK1B5h1.DZaZXalHwFYqtaiBbingugcFgxnT7oG"
[[server]]
name = "mx7"
fqdn = "mx7.example.test"
auth = "login"
password_hash = "$2a$10$.OVCvNJWJ/Oq8rRK1B5h1.DZaZXalHwFYqtaiBbingugcFgxnT7oG"
[[server]]
name = "mx2"
fqdn = "mx2.example.test"
addresses = ["127.0.0.1"]
auth = "login"
password_hash = "$2a$10$.OVCvNJWJ/Oq8rRK1B5h1.DZaZXalHwFYqtaiBbingugcFgxnT7oG"
[[group]]
name = "domain-servers"
members = ["mx1", "mx2", "mx7"]
[[group]]
name = "infrastructure"
members = ["domain-servers"]
[[permission]]
right = "send-as"
principal = "domain-servers"
type = "allow"
`

// orgMX2 holds bob's mailbox and takes X-EXPS LOGIN from the servers of
// organization.toml.
func orgMX2() *testkit.Config {
	c := testkit.NewConfig()
	c.Server.FQDN = "mx2.example.test"
	c.Diagnostics = map[string]string{"smtp_receive": "maximum", "auth": "maximum"}
	c.Domains = []testkit.Domain{{Name: "example.test"}}
	c.Mailboxes = testkit.Mailboxes("bob@example.test")
	c.VirtualServers[0].TLS, c.VirtualServers[0].OrgAuth = "starttls", []string{"LOGIN"}
	c.Organization = &testkit.Organization{Self: "mx2", File: "organization.toml"}
	return c
}

// orgMX1 is the organization server self with the given fqdn: it lets
// 127.0.0.1 relay and sends example.test to smartHost, authenticating
// with the secret in the file "secret".
func orgMX1(fqdn, smartHost, self string) *testkit.Config {
	c := testkit.NewConfig()
	c.Server.FQDN, c.Server.DefaultDomain = fqdn, "relay.example.test"
	c.Diagnostics = map[string]string{"smtp_send": "medium"}
	c.Domains = []testkit.Domain{{Name: "relay.example.test"}}
	c.VirtualServers[0].RelayNetworks = []string{"127.0.0.1/32"}
	c.Routes = []testkit.Route{{Domain: "example.test", SmartHost: smartHost}}
	c.Queue = &testkit.Queue{RetrySchedule: []string{"1s"}}
	c.Organization = &testkit.Organization{Self: self, File: "organization.toml", PasswordFile: "secret"}
	return c
}

// startOrgServer writes the shared directory and secret beside the config.
func startOrgServer(t *testing.T, cfg *testkit.Config, directory string) *server {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "organization.toml"), []byte(directory), 0o600)
	os.WriteFile(filepath.Join(dir, "secret"), []byte("mx1-secret\n"), 0o600)
	return startServerIn(t, dir, cfg)
}

func startOrg(t *testing.T, mx1FQDN, mx1Self, mx2Directory string) (mx1, mx2 *server) {
	t.Helper()
	mx2 = startOrgServer(t, orgMX2(), mx2Directory)
	mx1 = startOrgServer(t, orgMX1(mx1FQDN, mx2.Addr, mx1Self), orgDirectory)
	return mx1, mx2
}

func delivered(t *testing.T, s *server, addr string, n int) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, fmt.Sprintf("%d message(s) for %s", n, addr), func() bool { return len(s.Maildir(addr)) >= n })
}

// The properties mx1 sends arrive attached on mx2, after X-EXPS.
func TestOrgPropertiesArrive(t *testing.T) {
	mx1, mx2 := startOrg(t, "mx1.example.test", "mx1", orgDirectory)
	relayMsg(t, mx1, "<alice@relay.example.test>", "<bob@example.test>", "org")
	delivered(t, mx2, "bob@example.test", 1)
	if len(mx2.EventsFor(1031, "mechanism", "X-EXPS LOGIN")) != 1 {
		t.Errorf("mx2 did not log the X-EXPS authentication of mx1")
	}
	if recs := mx2.Events(1712); len(recs) != 1 || recs[0].Fields["server"] != "mx1" {
		t.Errorf("mx2 did not accept organization properties from mx1: %+v", recs)
	}
	if n := len(mx1.Events(7004)) + len(mx1.Events(7006)); n != 0 {
		t.Errorf("mx1 logged %d XEXCH50/auth failures", n)
	}
}

// KB843106: a wrong FQDN makes mx1 a stranger to mx2: no X-EXPS offered,
// XEXCH50 refused with 504, events 7006 and 7004; the mail still arrives.
func TestOrgWrongFQDN(t *testing.T) {
	mx1, mx2 := startOrg(t, "wrong.example.test", "mx1", orgDirectory)
	id := relayMsg(t, mx1, "<alice@relay.example.test>", "<bob@example.test>", "wrong fqdn")
	delivered(t, mx2, "bob@example.test", 1)
	recs := waitEvents(t, mx1, 7004, id, 1, 10*time.Second)
	if !strings.Contains(recs[0].Message, "504 Need to authenticate first") {
		t.Errorf("7004 does not carry the 504: %s", recs[0].Message)
	}
	if len(mx1.Events(7006)) == 0 || len(mx1.Events(7010)) == 0 {
		t.Errorf("want events 7006 and 7010 on mx1")
	}
	if len(mx2.Events(1712)) != 0 {
		t.Errorf("properties were accepted from a stranger")
	}
}

// KB843106: a DENY on the servers group, on another group mx1 is nested
// in (site-a), or on a group the servers group is nested in
// (infrastructure) refuses XEXCH50 with its own 5xx and event; the mail
// still arrives.
func TestOrgDenySendAs(t *testing.T) {
	for _, on := range []string{"domain-servers", "site-a", "infrastructure"} {
		t.Run(on, func(t *testing.T) {
			deny := orgDirectory + "[[group]]\nname = \"site-a\"\nmembers = [\"mx1\"]\n" +
				"[[permission]]\nright = \"send-as\"\nprincipal = \"" + on + "\"\ntype = \"deny\"\n"
			mx1, mx2 := startOrg(t, "mx1.example.test", "mx1", deny)
			id := relayMsg(t, mx1, "<alice@relay.example.test>", "<bob@example.test>", "deny")
			delivered(t, mx2, "bob@example.test", 1)
			recs := waitEvents(t, mx1, 7004, id, 1, 10*time.Second)
			if !strings.Contains(recs[0].Message, "550 5.7.1 Permission denied: SendAs is denied for mx1") {
				t.Errorf("7004: %s", recs[0].Message)
			}
			if r := mx2.Events(1711); len(r) != 1 || !strings.Contains(r[0].Message, on) {
				t.Errorf("mx2 event 1711 should name the DENY on %s: %+v", on, r)
			}
		})
	}
}

// KB979174: mx2 cannot find mx1's account (directory replication not
// done): 454 4.7.0, event 1035; mx1 keeps the message with KB979174's
// last error, and delivers once mx2 knows the account.
func TestOrgTemporaryAuthFailure(t *testing.T) {
	lagging := strings.Replace(orgDirectory, "name = \"mx7\"\nfqdn = \"mx7.example.test\"", "name = \"mx8\"\nfqdn = \"mx8.example.test\"", 1)
	lagging = strings.Replace(lagging, `"mx1", "mx2", "mx7"`, `"mx1", "mx2", "mx8"`, 1)
	// mx1 calls itself mx7 with mx7's FQDN; mx2's directory lacks mx7.
	mx2 := startOrgServer(t, orgMX2(), strings.Replace(lagging, `fqdn = "mx8.example.test"`, `fqdn = "mx7.example.test"`, 1))
	mx1 := startOrgServer(t, orgMX1("mx7.example.test", mx2.Addr, "mx7"), orgDirectory)
	id := relayMsg(t, mx1, "<alice@relay.example.test>", "<bob@example.test>", "lag")
	want := `451 4.4.0 Primary target IP address responded with: "454 4.7.0 Temporary authentication failure." Attempted failover to alternate host, but that did not succeed. Either there are no alternate hosts, or delivery failed to all alternate hosts.`
	testkit.WaitFor(t, 10*time.Second, "KB979174's last error", func() bool {
		got, _ := queueLastError(t, mx1, mx2.Addr, id)
		return got == want
	})
	if r := mx2.Events(1035); len(r) == 0 || !strings.Contains(r[0].Message, "The authentication mechanism is LOGIN") {
		t.Errorf("mx2 event 1035: %+v", r)
	}
	if len(mx2.Maildir("bob@example.test")) != 0 {
		t.Fatal("delivered without authentication")
	}
	// Replication catches up: mx2 learns the account, restarts; the next
	// retry delivers.
	os.WriteFile(filepath.Join(mx2.Dir, "organization.toml"), []byte(orgDirectory), 0o600)
	mx2.Restart()
	delivered(t, mx2, "bob@example.test", 1)
}

// SuppressExternal (KB843106): a next hop outside the organization never
// gets XEXCH50, even when it advertises it; turned off, it does.
func TestOrgSuppressExternal(t *testing.T) {
	for _, suppress := range []bool{true, false} {
		t.Run(fmt.Sprint("suppress_external=", suppress), func(t *testing.T) {
			// 127.0.0.3: not an address of any organization server.
			ext := testkit.StartSMTP(t, testkit.SMTP{Addr: "127.0.0.3:0", Name: "mail.partner.test",
				Extensions: []string{"PIPELINING", "XEXCH50"}})
			cfg := orgMX1("mx1.example.test", ext.Addr, "mx1")
			cfg.Routes[0].Domain = "partner.test"
			cfg.Organization.SuppressExternal = testkit.Bool(suppress)
			mx1 := startOrgServer(t, cfg, orgDirectory)
			relayMsg(t, mx1, "<alice@relay.example.test>", "<someone@partner.test>", "external")
			testkit.WaitFor(t, 10*time.Second, "delivery to the partner", func() bool { return ext.Count() == 1 })
			if got := ext.CountCommands("XEXCH50"); (got == 0) != suppress {
				t.Fatalf("XEXCH50 sent %d times with suppress_external=%v", got, suppress)
			}
		})
	}
}

// mailward diag auth walks the organization path step by step and names
// the first failing step with its likely cause (KB843106).
func TestOrgDiagAuth(t *testing.T) {
	mx1, mx2 := startOrg(t, "mx1.example.test", "mx1", orgDirectory)
	out, err := mx1.Run("diag", "auth", mx2.Addr, "--config", mx1.Config, "--rcpt", "bob@example.test")
	if err != nil || !strings.Contains(out, "ok   X-EXPS") || !strings.Contains(out, "ok   XEXCH50") {
		t.Fatalf("diag auth between healthy servers (%v):\n%s", err, out)
	}
	wrong, mx2b := startOrg(t, "wrong.example.test", "mx1", orgDirectory)
	out, err = wrong.Run("diag", "auth", mx2b.Addr, "--config", wrong.Config, "--rcpt", "bob@example.test")
	if err == nil || !strings.Contains(out, "FAIL X-EXPS offered") || !strings.Contains(out, "our EHLO name wrong.example.test is not a server of the organization") {
		t.Fatalf("diag auth with a wrong FQDN (%v):\n%s", err, out)
	}
}
