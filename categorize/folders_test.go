package categorize

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"mailward/deliver"

	"mailward/directory"
	"mailward/events"
	"mailward/orgauth"
	"mailward/queue"
)

// folderOrg is org3 with alice on mx1 and the shared folder
// support@example.test with replicas on the servers given.
func folderOrg(replicas ...string) directory.OrgFile {
	f := org3()
	f.Mailboxes = []directory.OrgMailbox{mailbox("alice@example.test", "mx1")}
	f.Folders = []directory.SharedFolder{{Address: "support@example.test", Replicas: replicas}}
	return f
}

// A post on a server with a replica: stored in the local replica under
// its replication ID, and one replica recipient added for each other
// replica server — addressed to that server's store, carrying the folder
// and the same replication ID, each in a transaction of its own — and
// nothing else.
func TestFolderPostOnReplicaServer(t *testing.T) {
	o := startOrg(t, t.TempDir(), orgSetup{Org: folderOrg("mx1", "mx2", "mx3"), Self: "mx1"})
	id := o.send(queue.Envelope{}, "support@example.test")
	o.settle()
	local := o.copies("support@example.test")
	if len(local) != 1 || !strings.Contains(local[0], ".M"+id+"R0.mx1") {
		t.Fatalf("local replica %v, want one copy named by the replication ID ...M%sR0.mx1", local, id)
	}
	rid := local[0]
	var got []string
	for _, s := range o.remoteSent() {
		if !s.Replica || s.Rcpt.Replica != "support@example.test" || s.Rcpt.ReplicationID != rid {
			t.Errorf("replica recipient %+v: want Replica, folder support@example.test, replication ID %s", s, rid)
		}
		got = append(got, s.Server+" "+s.Rcpt.Addr)
	}
	slices.Sort(got)
	if want := []string{"mx2 mx2-store@example.test", "mx3 mx3-store@example.test"}; !slices.Equal(got, want) {
		t.Errorf("replicated to %v, want %v", got, want)
	}
	if ev := o.events(events.FolderReplicated); len(ev) != 1 || ev[0].Fields["replicas"] != "mx2, mx3" {
		t.Errorf("events 3020: %v", ev)
	}
}

// A post on a server without a replica goes to the nearest replica (the
// first of the list) as the folder's address, as organization mail,
// named first: a copy of the recipient carrying its replication ID is
// recorded before it is sent, so the post has one name however often
// it arrives. Nothing is stored here and nothing replicated from here.
func TestFolderNearestReplica(t *testing.T) {
	o := startOrg(t, t.TempDir(), orgSetup{Org: folderOrg("mx2", "mx1"), Self: "mx3"})
	id := o.send(queue.Envelope{}, "support@example.test")
	o.settle()
	sent := o.remoteSent()
	if len(sent) != 1 || sent[0].Server != "mx2" || sent[0].Rcpt.Addr != "support@example.test" || sent[0].Replica ||
		!strings.Contains(sent[0].Rcpt.ReplicationID, ".M"+id+"R0.mx3") {
		t.Fatalf("sent %+v, want the post to support@example.test for mx2 alone, named ...M%sR0.mx3", sent, id)
	}
	if c := o.copies("support@example.test"); len(c) != 0 {
		t.Errorf("stored here without a replica: %v", c)
	}
	if ev := o.events(events.NearestReplica); len(ev) != 1 || ev[0].Fields["server"] != "mx2" {
		t.Errorf("events 3022: %v", ev)
	}
}

// When the nearest replica's delivery queue is failing, the post goes
// to the next replica (event 3024).
func TestFolderNearestReplicaFailover(t *testing.T) {
	hops := deliver.NewHops()
	hops.Record("mx2.example.test", "451 4.4.0 connection refused", time.Now())
	o := startOrg(t, t.TempDir(), orgSetup{Org: folderOrg("mx2", "mx1"), Self: "mx3", Hops: hops})
	o.send(queue.Envelope{}, "support@example.test")
	o.settle()
	if sent := o.remoteSent(); len(sent) != 1 || sent[0].Server != "mx1" {
		t.Fatalf("sent %+v, want the post for mx1", sent)
	}
	if ev := o.events(events.ReplicaFailover); len(ev) != 1 || ev[0].Fields["nearest"] != "mx2" || ev[0].Fields["server"] != "mx1" {
		t.Errorf("events 3024: %v", ev)
	}
}

// A post that the server before named (sent to this, its nearest
// replica) keeps that name: here and in the replicas it is replicated
// to; received twice, it is one copy here and the same replication
// twice for the others.
func TestFolderNamedPostKeepsItsName(t *testing.T) {
	o := startOrg(t, t.TempDir(), orgSetup{Org: folderOrg("mx1", "mx2"), Self: "mx1"})
	const rid = "1764567000.M19A2B3C4D5E6F70812R0.mx3"
	p := orgauth.Props{Envelope: orgauth.EnvelopeProp{OriginServer: "mx3"},
		Recipients: []orgauth.RcptProp{{Address: "support@example.test", ReplicationID: rid}}}
	blob, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		o.send(queue.Envelope{OrgProps: blob}, "support@example.test")
	}
	o.settle()
	if c := o.copies("support@example.test"); !slices.Equal(c, []string{rid}) {
		t.Errorf("local replica %v, want the one copy %s", c, rid)
	}
	sent := o.remoteSent()
	if len(sent) != 2 || sent[0].Rcpt.ReplicationID != rid || sent[1].Rcpt.ReplicationID != rid {
		t.Errorf("replications %+v, want two of %s", sent, rid)
	}
}

// replication is the XEXCH50 blob of a replication of the folder to
// server's store.
func replication(t *testing.T, server, rid string) []byte {
	t.Helper()
	p := orgauth.Props{Envelope: orgauth.EnvelopeProp{OriginServer: "mx1"}, Message: orgauth.MessageProp{Replication: true},
		Recipients: []orgauth.RcptProp{{Address: server + "-store@example.test", Replica: "support@example.test",
			ReplicationID: rid, ReportTo: "-"}}}
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A replication received for this server's store is stored in the
// replica under its replication ID and not replicated again; received
// twice (the sender did not record the first delivery), it is still one
// copy — the second replaces the first under the same name.
func TestFolderReceivedReplicaOnce(t *testing.T) {
	o := startOrg(t, t.TempDir(), orgSetup{Org: folderOrg("mx1", "mx2", "mx3"), Self: "mx2"})
	const rid = "1764567000.M19A2B3C4D5E6F70812R0.mx1"
	for range 2 {
		o.send(queue.Envelope{OrgProps: replication(t, "mx2", rid)}, "mx2-store@example.test")
	}
	o.settle()
	if c := o.copies("support@example.test"); !slices.Equal(c, []string{rid}) {
		t.Errorf("replica %v, want the one copy %s", c, rid)
	}
	if s := o.remoteSent(); len(s) != 0 {
		t.Errorf("a received replication was sent on: %+v", s)
	}
	if ev := o.events(events.ReplicaStored); len(ev) != 2 || ev[0].Fields["name"] != rid {
		t.Errorf("events 3021: %v", ev)
	}
}

// A message for this server's store without replication properties,
// or with an ID that would not be one file name, is not stored.
func TestFolderReplicationWithoutProperties(t *testing.T) {
	for _, c := range []struct {
		name  string
		props []byte
	}{
		{"no properties", nil},
		{"path in the ID", replication(t, "mx2", "1.MABCR0.mx1/../../alice@example.test/Maildir/new/x")},
		{"not marked replication", func() []byte {
			p := orgauth.Props{Recipients: []orgauth.RcptProp{{Address: "mx2-store@example.test", Replica: "support@example.test", ReplicationID: "1.MABCR0.mx1"}}}
			b, _ := p.Encode()
			return b
		}()},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := startOrg(t, t.TempDir(), orgSetup{Org: folderOrg("mx1", "mx2"), Self: "mx2"})
			o.send(queue.Envelope{OrgProps: c.props}, "mx2-store@example.test")
			o.settle()
			if got := o.mailboxes(); len(got) != 0 {
				t.Errorf("stored: %v", got)
			}
			if ev := o.events(events.ReplicationInvalid); len(ev) != 1 {
				t.Errorf("events 3023: %v", ev)
			}
		})
	}
}

// A crash after the replica recipients were recorded and before any
// outcome was: after the restart the same replica recipients are
// delivered (not added again), with the same replication ID, and the
// local replica has one copy.
func TestFolderCrashAfterReplicaRecipients(t *testing.T) {
	dir := t.TempDir()
	f := folderOrg("mx1", "mx2")
	first := startOrg(t, dir, orgSetup{Org: f, Self: "mx1", Crash: crashOnce()})
	id := first.send(queue.Envelope{}, "support@example.test")
	first.waitCrash()
	again := startOrg(t, dir, orgSetup{Org: f, Self: "mx1"})
	again.settle()
	local := again.copies("support@example.test")
	if len(local) != 1 || !strings.Contains(local[0], fmt.Sprintf(".M%sR0.mx1", id)) {
		t.Fatalf("local replica %v, want one copy", local)
	}
	var rids []string
	for _, s := range append(first.remoteSent(), again.remoteSent()...) {
		if s.Rcpt.Addr != "mx2-store@example.test" {
			t.Errorf("sent %+v", s)
		}
		rids = append(rids, s.Rcpt.ReplicationID)
	}
	// Sent in the attempt the crash ended and again after it: the same
	// replication, which the receiving replica stores once.
	if len(rids) != 2 || rids[0] != local[0] || rids[1] != local[0] {
		t.Errorf("replications sent %v, want twice %s", rids, local[0])
	}
	// One event log for both runs: the first run's event alone.
	if ev := again.events(events.FolderReplicated); len(ev) != 1 {
		t.Errorf("events 3020 %v: the replica recipients were added again after the restart", ev)
	}
}
