package e2e

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
	"mailward/internal/testkit/orgbackend"
)

// A test organization of several real mailward processes that share one
// directory with recipients (docs/organization.md): each server takes
// example.test, routes each recipient to its home server at that
// server's delivery_address, and authenticates to the others with X-EXPS
// LOGIN over STARTTLS.

// orgSecret is every test server's LOGIN secret (the file "secret").
const orgSecret = "mx1-secret"

// orgRecipients is a directory of the servers named, all with LOGIN and
// the same secret (at bcrypt's lowest cost: tests need speed), the
// domain example.test, and no recipients yet. With no [[group]] and no
// [[permission]], every server holds send-as (the default group).
func orgRecipients(t *testing.T, servers ...string) *testkit.OrgDirectory {
	t.Helper()
	hash := bcryptHash(t, orgSecret)
	d := &testkit.OrgDirectory{Domains: []testkit.OrgDomain{{Name: "example.test"}}}
	for _, s := range servers {
		d.Servers = append(d.Servers, testkit.OrgServer{Name: s, FQDN: s + ".example.test", Auth: "login", PasswordHash: hash})
	}
	return d
}

// homed adds mailboxes homed on server.
func homed(d *testkit.OrgDirectory, server string, addrs ...string) {
	for _, a := range addrs {
		d.Mailboxes = append(d.Mailboxes, testkit.OrgMailbox{Address: a, HomeServer: server})
	}
}

// orgMember is the configuration of server name of such an
// organization: example.test (its recipients in the directory), one
// virtual server "default" with STARTTLS and X-EXPS LOGIN, retries every
// second, and the diagnostic levels that write the organization's and
// the categorizer's events (1712, 7004, 3005), and a short idle timeout.
func orgMember(name string) *testkit.Config {
	c := testkit.NewConfig()
	c.Server.FQDN = name + ".example.test"
	c.Diagnostics = map[string]string{"smtp_receive": "maximum", "smtp_send": "medium", "auth": "medium", "categorizer": "medium"}
	c.VirtualServers[0].TLS, c.VirtualServers[0].OrgAuth = "starttls", []string{"LOGIN"}
	// Servers that deliver to each other keep idle sessions open for
	// reuse, which would hold each one's stop for its 10 s grace.
	c.VirtualServers[0].IdleTimeout = "1s"
	c.Queue = &testkit.Queue{RetrySchedule: []string{"1s"}}
	c.Organization = &testkit.Organization{Name: "Example", Self: name, File: "organization.toml", PasswordFile: "secret"}
	return c
}

// withSubmission adds a virtual server "submission" where the
// organization's mailboxes log in (STARTTLS, then AUTH PLAIN or LOGIN).
func withSubmission(c *testkit.Config) *testkit.Config {
	c.VirtualServers = append(c.VirtualServers, testkit.VirtualServer{Name: "submission", TLS: "required",
		Auth: []string{"PLAIN", "LOGIN"}, RelayAuthenticated: true})
	return c
}

// startOrgNet starts one server for each configuration, in that order,
// after giving each its ports and writing the directory — with every
// server's delivery_address, its virtual server "default", unless the
// test set one — beside each. The servers are returned by their
// organization.self.
func startOrgNet(t *testing.T, d *testkit.OrgDirectory, cfgs ...*testkit.Config) map[string]*server {
	t.Helper()
	return startOrgNetOn(t, &orgbackend.File{}, d, cfgs...)
}

// startOrgNetOn is startOrgNet with the directory kept by backend b (the
// file beside each server, or LDAP: orgbackend.ForEach).
func startOrgNetOn(t *testing.T, b orgbackend.Backend, d *testkit.OrgDirectory, cfgs ...*testkit.Config) map[string]*server {
	t.Helper()
	for _, c := range cfgs {
		c.ListenOnFreePorts(t)
		s := d.Server(c.Organization.Self)
		if s == nil {
			t.Fatalf("server %s is not in the directory", c.Organization.Self)
		}
		if s.DeliveryAddress == "" {
			s.DeliveryAddress = c.VirtualServer("default").Address
		}
	}
	b.Publish(t, d)
	out := map[string]*server{}
	for _, c := range cfgs {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "secret"), orgSecret+"\n")
		b.Configure(t, c, dir)
		out[c.Organization.Self] = startServerIn(t, dir, c)
	}
	return out
}

// orgServerDir is a new directory holding what an organization server's
// configuration names beside it: the directory file and the secret.
func orgServerDir(t *testing.T, d *testkit.OrgDirectory) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "organization.toml"), d.TOML())
	writeFile(t, filepath.Join(dir, "secret"), orgSecret+"\n")
	return dir
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// sendAnon sends one message to addr's virtual server without
// authenticating and returns its queue ID; rcpts are as on the wire
// ("<a@example.test> NOTIFY=SUCCESS").
func sendAnon(t *testing.T, addr, from string, rcpts []string, subject string) string {
	t.Helper()
	c := dial(t, addr)
	defer c.Close()
	c.expect("EHLO client.test", 250)
	return sendOn(t, c, from, rcpts, subject)
}

// sendAuth logs in as user on a virtual server with STARTTLS and AUTH
// PLAIN, then sends one message; it returns the queue ID.
func sendAuth(t *testing.T, addr, user, password, from string, rcpts []string, subject string) string {
	t.Helper()
	c := dial(t, addr)
	defer c.Close()
	c.expect("EHLO client.test", 250)
	c.starttls()
	c.expect("EHLO client.test", 250)
	c.expect("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+password)), 235)
	return sendOn(t, c, from, rcpts, subject)
}

func sendOn(t *testing.T, c *client, from string, rcpts []string, subject string) string {
	t.Helper()
	id := c.send(from, rcpts, message(strings.Trim(strings.Fields(from)[0], "<>"), strings.Trim(strings.Fields(rcpts[0])[0], "<>"),
		subject, "organization test"))
	c.cmdErr("QUIT")
	return id
}

// settleOrg waits until no server holds a message, twice in a row (a
// message being handed from one server to the next is on the sender's
// spool until the receiver has it on its own).
func settleOrg(t *testing.T, servers ...*server) {
	t.Helper()
	empty := func() bool {
		for _, s := range servers {
			if len(s.QueueActive()) > 0 {
				return false
			}
		}
		return true
	}
	testkit.WaitFor(t, 20*time.Second, "every server's queue empty", func() bool { return empty() && empty() })
}

// copies checks, once every queue is settled, that each mailbox holds
// exactly the number of messages given, on the server named.
func copies(t *testing.T, want map[string]int, where map[string]*server) {
	t.Helper()
	for addr, n := range want {
		s := where[addr]
		if got := len(s.Maildir(addr)); got != n {
			t.Errorf("%s has %d message(s), want exactly %d", addr, got, n)
		}
	}
}

// eventCount is how many events with this ID a server wrote for a queue
// ID ("" counts all).
func eventCount(s *server, id int, qid string) int {
	if qid == "" {
		return len(s.Events(id))
	}
	return len(s.EventsFor(id, "queue_id", qid))
}
