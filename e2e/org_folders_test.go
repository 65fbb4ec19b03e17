package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
	"mailward/internal/testkit/orgbackend"
)

// Shared folders between real servers (docs/shared-folders.md): the
// folder support@example.test, its replicas Maildirs on some of them.

const folder = "support@example.test"

// folderDirectory is an organization of the servers named, with alice
// on mx1 and the folder's replicas on the servers given, in that order.
func folderDirectory(t *testing.T, servers []string, replicas ...string) *testkit.OrgDirectory {
	d := orgRecipients(t, servers...)
	homed(d, "mx1", "alice@example.test")
	d.Folders = []testkit.SharedFolder{{Address: folder, Replicas: replicas}}
	return d
}

// replica lists the file names of a server's replica of the folder.
func replica(s *server) []string {
	var out []string
	for _, p := range s.Maildir(folder) {
		out = append(out, filepath.Base(p))
	}
	return out
}

// post sends one message to the folder on s, as anyone may.
func post(t *testing.T, s *server, subject string) string {
	return sendAnon(t, s.Addr, "<someone@elsewhere.test>", []string{"<" + folder + ">"}, subject)
}

// sameReplicas checks that every server given holds exactly n copies,
// the same names on each (one replication ID per post).
func sameReplicas(t *testing.T, n int, servers ...*server) {
	t.Helper()
	first := replica(servers[0])
	for _, s := range servers {
		if got := replica(s); len(got) != n || !slices.Equal(got, first) {
			t.Errorf("%s's replica holds %v, want exactly %d, the same as %v", s.Built.Organization.Self, got, n, first)
		}
	}
}

// A post reaches every replica exactly once: posted on a replica server
// (mx1, stored there and replicated to mx2), and posted on a server
// without a replica (mx3, which sends it to the nearest replica, mx1,
// which does the same). mx3 stores nothing.
func TestFolderPostReachesEveryReplicaOnce(t *testing.T) {
	orgbackend.ForEach(t, testFolderPostReachesEveryReplicaOnce)
}

func testFolderPostReachesEveryReplicaOnce(t *testing.T, b orgbackend.Backend) {
	d := folderDirectory(t, []string{"mx1", "mx2", "mx3"}, "mx1", "mx2")
	net := startOrgNetOn(t, b, d, orgMember("mx1"), orgMember("mx2"), orgMember("mx3"))
	mx1, mx2, mx3 := net["mx1"], net["mx2"], net["mx3"]
	post(t, mx1, "posted on mx1")
	post(t, mx3, "posted on mx3")
	settleOrg(t, mx1, mx2, mx3)
	sameReplicas(t, 2, mx1, mx2)
	if got := replica(mx3); len(got) != 0 {
		t.Errorf("mx3 has no replica, yet stored %v", got)
	}
	if n := eventCount(mx3, 3022, ""); n != 1 {
		t.Errorf("mx3 wrote %d event(s) 3022 (sent to the nearest replica), want 1", n)
	}
	if n := eventCount(mx2, 3021, ""); n != 2 {
		t.Errorf("mx2 wrote %d event(s) 3021 (replica stored), want 2", n)
	}
}

// A replica server that is down gets the replication when it comes
// back: meanwhile mx1 holds it (folder status shows the backlog, and
// that mx2 cannot be asked), then delivers it once.
func TestFolderReplicaDownThenBack(t *testing.T) {
	d := folderDirectory(t, []string{"mx1", "mx2"}, "mx1", "mx2")
	net := startOrgNet(t, d, orgMember("mx1"), orgMember("mx2"))
	mx1, mx2 := net["mx1"], net["mx2"]
	mx2.Kill()
	post(t, mx1, "while mx2 is down")
	var out string
	testkit.WaitFor(t, 15*time.Second, "folder status to show mx2's backlog", func() bool {
		out, _ = mx1.Run("folder", "status", folder, "--config", mx1.Config)
		return strings.Contains(out, "\nmx2               ?        1\n") && strings.Contains(out, "    last error: 451 4.4.0 Primary target IP address responded with: ")
	})
	if !strings.Contains(out, "\nmx1 (here)        1        -\n") || !strings.Contains(out, "    not asked: cannot connect to "+d.Server("mx2").DeliveryAddress) {
		t.Errorf("folder status:\n%s", out)
	}
	mx2.Restart()
	settleOrg(t, mx1, mx2)
	sameReplicas(t, 1, mx1, mx2)
	out, err := mx1.Run("folder", "status", folder, "--config", mx1.Config)
	want := "shared folder support@example.test: replicas mx1, mx2 (this server: mx1)\n" +
		"REPLICA    MESSAGES  BACKLOG\n" +
		"mx1 (here)        1        -\n" +
		"mx2               1        0\n"
	if err != nil || out != want {
		t.Errorf("folder status after mx2 came back (%v):\n%s\nwant:\n%s", err, out, want)
	}
}

// A stranger addressing mx2's store (where replication goes) is refused
// at RCPT with 550 5.7.1 and event 1040, its XEXCH50 gets 504, and
// nothing reaches the folder; its mail to alice in the same transaction
// is delivered as usual.
func TestFolderStrangerReplicationRefused(t *testing.T) {
	d := folderDirectory(t, []string{"mx1", "mx2"}, "mx1", "mx2")
	net := startOrgNet(t, d, orgMember("mx1"), orgMember("mx2"))
	mx1, mx2 := net["mx1"], net["mx2"]
	c := dial(t, mx2.Addr)
	defer c.Close()
	c.expect("EHLO mail.stranger.test", 250)
	c.expect("MAIL FROM:<x@stranger.test>", 250)
	if r := c.cmd("RCPT TO:<mx2-store@example.test>"); r.Code != 550 ||
		!strings.Contains(r.String(), "5.7.1 mx2-store@example.test takes only replication from authenticated servers of the organization") {
		t.Fatalf("RCPT to the store: %v", r)
	}
	c.expect("RCPT TO:<alice@example.test>", 250)
	if r := c.cmd("XEXCH50 120 2"); r.Code != 504 {
		t.Fatalf("XEXCH50 from a stranger: %v", r)
	}
	if _, err := c.dataErr(message("x@stranger.test", "alice@example.test", "fake replication", "x")); err != nil {
		t.Fatal(err)
	}
	c.cmdErr("QUIT")
	settleOrg(t, mx1, mx2)
	if len(replica(mx1)) != 0 || len(replica(mx2)) != 0 {
		t.Errorf("stored in the folder: mx1 %v, mx2 %v", replica(mx1), replica(mx2))
	}
	if len(mx1.Maildir("alice@example.test")) != 1 {
		t.Error("alice did not get the stranger's ordinary mail")
	}
	if r := mx2.Events(1040); len(r) != 1 || r[0].Fields["helo"] != "mail.stranger.test" {
		t.Errorf("mx2 events 1040: %+v", r)
	}
}

// laggingDirectory is d as mx2 sees it before directory replication
// reached it: mx1's account under another name (mx1old, same FQDN), so
// mx2 recognises mx1's EHLO name but cannot verify its X-EXPS login:
// KB979174's 454 4.7.0.
func laggingDirectory(d *testkit.OrgDirectory) string {
	lag := *d
	lag.Servers = slices.Clone(d.Servers)
	lag.Servers[0].Name = "mx1old"
	lag.Mailboxes = []testkit.OrgMailbox{{Address: "alice@example.test", HomeServer: "mx1old"}}
	lag.Folders = []testkit.SharedFolder{{Address: folder, Replicas: []string{"mx1old", "mx2"}}}
	return lag.TOML()
}

// A trust failure holds the replication: mx2 answers mx1's X-EXPS with
// KB979174's 454 4.7.0, so mx1 sends nothing and keeps the replica
// recipient with KB979174's last error, as mailward folder status and
// mailward queue list show; when mx2's directory catches up, the
// replication arrives, once.
func TestFolderTrustFailureHoldsReplication(t *testing.T) {
	d := folderDirectory(t, []string{"mx1", "mx2"}, "mx1", "mx2")
	net := startOrgNet(t, d, orgMember("mx1"), orgMember("mx2"))
	mx1, mx2 := net["mx1"], net["mx2"]
	writeFile(t, filepath.Join(mx2.Dir, "organization.toml"), laggingDirectory(d))
	mx2.Restart()
	id := post(t, mx1, "trust failure")
	hop := "mx2.example.test"
	testkit.WaitFor(t, 15*time.Second, "KB979174's last error in mx1's queue", func() bool {
		got, _ := queueLastError(t, mx1, hop, id)
		return got == kb979174LastError
	})
	out, err := mx1.Run("folder", "status", folder, "--config", mx1.Config)
	want := regexp.QuoteMeta("shared folder support@example.test: replicas mx1, mx2 (this server: mx1)\n"+
		"REPLICA    MESSAGES  BACKLOG\n"+
		"mx1 (here)        1        -\n"+
		"mx2               ?        1\n"+
		"    not asked: X-EXPS failed (454 4.7.0 Temporary authentication failure): temporary authentication failure on the peer (KB979174): our account not yet in its directory (replication), clock skew, a missing or duplicate SPN, or its KDC unreachable; see event 1035 on the peer\n"+
		"    last error: "+kb979174LastError+"\n") + `    next retry: [0-9-]+ [0-9:]+ \((in [0-9a-z]+|now|[0-9a-z]+ ago)\)\n$`
	if err != nil || !regexp.MustCompile("^"+want).MatchString(out) {
		t.Errorf("folder status (%v):\n%s\nwant (regexp):\n%s", err, out, want)
	}
	list, err := mx1.Run("queue", "list", "--config", mx1.Config)
	if err != nil || !strings.Contains(list, "    last error: "+kb979174LastError) {
		t.Errorf("queue list (%v):\n%s", err, list)
	}
	if len(replica(mx2)) != 0 {
		t.Fatal("replicated without authentication")
	}
	writeFile(t, filepath.Join(mx2.Dir, "organization.toml"), d.TOML())
	mx2.Restart()
	settleOrg(t, mx1, mx2)
	sameReplicas(t, 1, mx1, mx2)
}

// gate waits until the hook made file name in dir (the server reached
// its kill point).
func gate(t *testing.T, dir, name string) {
	t.Helper()
	testkit.WaitFor(t, 20*time.Second, "the server at its kill point ("+name+")", func() bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return err == nil
	})
}

// SIGKILL of the sender after the replica server answered 250 to the
// replication and before the sender recorded it (the e2e build's hook
// MAILWARD_TEST_REPLICA_HOLD holds it there): after the restart the
// sender sends the replication again, and mx2 stores it under the same
// replication ID — one copy, received twice.
func TestFolderKillSenderAfterReplicaAccepted(t *testing.T) {
	d := folderDirectory(t, []string{"mx1", "mx2"}, "mx1", "mx2")
	net := startOrgNet(t, d, orgMember("mx1"), orgMember("mx2"))
	mx1, mx2 := net["mx1"], net["mx2"]
	hold := t.TempDir()
	mx1.Env = []string{"MAILWARD_TEST_REPLICA_HOLD=" + hold}
	mx1.Restart()
	post(t, mx1, "kill the sender")
	gate(t, hold, "sent")
	mx1.Kill()
	mx1.Env = nil
	mx1.Restart()
	settleOrg(t, mx1, mx2)
	sameReplicas(t, 1, mx1, mx2)
	if n := eventCount(mx2, 3021, ""); n != 2 {
		t.Errorf("mx2 stored the replication %d time(s), want 2 (sent again after the kill, the same file)", n)
	}
}

// SIGKILL of the receiving replica server in the middle of the
// replication's transaction (data read, nothing queued or answered: the
// hook MAILWARD_TEST_REPLICA_DATA_HOLD holds it there): the sender keeps
// the replication and sends it again when mx2 is back; mx2 ends with
// one copy.
func TestFolderKillReceiverMidData(t *testing.T) {
	d := folderDirectory(t, []string{"mx1", "mx2"}, "mx1", "mx2")
	net := startOrgNet(t, d, orgMember("mx1"), orgMember("mx2"))
	mx1, mx2 := net["mx1"], net["mx2"]
	hold := t.TempDir()
	mx2.Env = []string{"MAILWARD_TEST_REPLICA_DATA_HOLD=" + hold}
	mx2.Restart()
	id := post(t, mx1, "kill the receiver")
	gate(t, hold, "held")
	mx2.Kill()
	if len(replica(mx2)) != 0 {
		t.Fatal("stored before it was accepted")
	}
	mx2.Env = nil
	mx2.Restart()
	settleOrg(t, mx1, mx2)
	sameReplicas(t, 1, mx1, mx2)
	if n := eventCount(mx1, 3001, id); n == 0 {
		t.Error("mx1 never deferred the replication: the kill did not interrupt it")
	}
}

// SIGKILL of a server without a replica (mx3) after the nearest replica
// (mx1) answered 250 to the post and before mx3 recorded it: mx3 sends
// the post again after the restart, under the name it gave it before
// sending, so mx1 stores it and replicates it under one name — one copy
// in each replica, though mx1 took the post twice.
func TestFolderKillSenderOfPost(t *testing.T) {
	d := folderDirectory(t, []string{"mx1", "mx2", "mx3"}, "mx1", "mx2")
	net := startOrgNet(t, d, orgMember("mx1"), orgMember("mx2"), orgMember("mx3"))
	mx1, mx2, mx3 := net["mx1"], net["mx2"], net["mx3"]
	hold := t.TempDir()
	mx3.Env = []string{"MAILWARD_TEST_REPLICA_HOLD=" + hold}
	mx3.Restart()
	post(t, mx3, "kill the poster's server")
	gate(t, hold, "sent")
	mx3.Kill()
	mx3.Env = nil
	mx3.Restart()
	settleOrg(t, mx1, mx2, mx3)
	sameReplicas(t, 1, mx1, mx2)
	if n := eventCount(mx1, 3020, ""); n != 2 {
		t.Errorf("mx1 took the post %d time(s), want 2 (sent again after the kill, one name)", n)
	}
}

// KB843106's DENY: mx2's directory denies mx1 send-as, so mx2 refuses
// mx1's RCPT to its store (as it would refuse its XEXCH50). mx1 holds
// the replication — never bounced, never sent without its properties —
// with the refusal as its last error and event 7020; once the DENY is
// gone, it arrives once.
func TestFolderDenySendAsHoldsReplication(t *testing.T) {
	d := folderDirectory(t, []string{"mx1", "mx2"}, "mx1", "mx2")
	net := startOrgNet(t, d, orgMember("mx1"), orgMember("mx2"))
	mx1, mx2 := net["mx1"], net["mx2"]
	deny := *d
	deny.Groups = []testkit.OrgGroup{{Name: "domain-servers", Members: []string{"mx1", "mx2"}}}
	deny.Permissions = []testkit.Permission{{Right: "send-as", Principal: "domain-servers", Type: "allow"},
		{Right: "send-as", Principal: "mx1", Type: "deny"}}
	writeFile(t, filepath.Join(mx2.Dir, "organization.toml"), deny.TOML())
	mx2.Restart()
	id := post(t, mx1, "send-as denied")
	testkit.WaitFor(t, 15*time.Second, "mx1 to hold the replication (event 7020)", func() bool {
		return eventCount(mx1, 7020, id) > 0
	})
	got, _ := queueLastError(t, mx1, "mx2.example.test", id)
	if !strings.Contains(got, "550 5.7.1 mx2-store@example.test takes only replication from authenticated servers of the organization") {
		t.Errorf("last error %q", got)
	}
	if len(replica(mx2)) != 0 || eventCount(mx1, 3002, id) != 0 {
		t.Fatal("the replication was stored or failed instead of held")
	}
	writeFile(t, filepath.Join(mx2.Dir, "organization.toml"), d.TOML())
	mx2.Restart()
	settleOrg(t, mx1, mx2)
	sameReplicas(t, 1, mx1, mx2)
}

// A journaled post to a shared folder is journaled once, by the server
// that takes it (mx3, without a replica), and its report lists the
// folder, not the store addresses its replication goes to; the
// replication between the replicas (marked message.replication) is
// never journaled again (event 3012 on mx2).
func TestFolderPostJournaledOnce(t *testing.T) {
	d := folderDirectory(t, []string{"mx1", "mx2", "mx3"}, "mx1", "mx2")
	homed(d, "mx1", "journal@example.test")
	d.JournalRules = []testkit.JournalRule{{Name: "all", Domain: "example.test", Recipient: "journal@example.test"}}
	net := startOrgNet(t, d, journalMember("mx1"), journalMember("mx2"), journalMember("mx3"))
	mx1, mx2, mx3 := net["mx1"], net["mx2"], net["mx3"]
	post(t, mx3, "journaled post")
	settleOrg(t, mx1, mx2, mx3)
	sameReplicas(t, 1, mx1, mx2)
	rs := reports(t, mx1, "journal@example.test")
	if len(rs) != 1 {
		t.Fatalf("%d journal reports for one post, want 1", len(rs))
	}
	if got := lines(rs[0]); !slices.Equal(got, []string{"To: " + folder}) {
		t.Errorf("the report lists %q, want the folder only", got)
	}
	if n := eventCount(mx3, 3011, ""); n != 1 {
		t.Errorf("mx3 wrote %d journal decision(s) (3011), want 1", n)
	}
	if n := eventCount(mx1, 3011, "") + eventCount(mx2, 3011, ""); n != 0 {
		t.Errorf("the replicas wrote %d journal decision(s) (3011), want none", n)
	}
	if n := len(mx2.EventsFor(3012, "reason", "it is a shared-folder replication")); n != 1 {
		t.Errorf("mx2 wrote %d event(s) 3012 for the replication, want 1", n)
	}
}
