package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"mailward/directory"
	"mailward/queue"
)

// The backlog of a replica is this server's pending replica recipients
// of that folder for that replica's store — not delivered ones, not
// another folder's, not another server's — with the latest last error
// and the earliest next retry; the report prints exactly this.
func TestFolderStatusReport(t *testing.T) {
	org, err := directory.NewOrg("Example", directory.OrgFile{
		Servers: []directory.OrgServer{{Name: "mx1", FQDN: "mx1.example.test"}, {Name: "mx2", FQDN: "mx2.example.test"},
			{Name: "mx3", FQDN: "mx3.example.test"}},
		Domains: []directory.OrgDomain{{Name: "example.test"}},
		Folders: []directory.SharedFolder{{Address: "support@example.test", Replicas: []string{"mx1", "mx2", "mx3"}},
			{Address: "sales@example.test", Replicas: []string{"mx1", "mx2"}}},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 5, 0, 0, 0, time.Local)
	rcpt := func(addr, folder, state, last string, at time.Duration) queue.RcptView {
		return queue.RcptView{Addr: addr, Replica: folder, State: state, LastError: last, Last: now.Add(at)}
	}
	msgs := []queue.View{
		{ID: "A", NextRetry: now.Add(time.Minute), Recipients: []queue.RcptView{
			{Addr: "support@example.test", State: "delivered"},
			rcpt("mx2-store@example.test", "support@example.test", "pending", "451 4.4.0 older", -2*time.Minute),
			rcpt("mx3-store@example.test", "support@example.test", "delivered", "", 0),
		}},
		{ID: "B", NextRetry: now.Add(30 * time.Second), Recipients: []queue.RcptView{
			rcpt("mx2-store@example.test", "support@example.test", "pending", "451 4.4.0 newer", -time.Minute),
			rcpt("mx2-store@example.test", "sales@example.test", "pending", "451 4.4.0 another folder", 0),
		}},
	}
	two, five := 2, 5
	rep := folderReport{Folder: "support@example.test", Server: "mx1", BacklogFrom: "spool"}
	for _, r := range []replicaStatus{{Server: "mx1", Here: true, Messages: &five}, {Server: "mx2", NotAsked: "cannot connect to 127.0.0.1:2726: refused"},
		{Server: "mx3", Messages: &two}} {
		backlog(&r, org, "support@example.test", msgs)
		rep.Replicas = append(rep.Replicas, r)
	}
	var b bytes.Buffer
	writeFolderReport(&b, rep, now)
	want := "shared folder support@example.test: replicas mx1, mx2, mx3 (this server: mx1)\n" +
		"REPLICA    MESSAGES  BACKLOG\n" +
		"mx1 (here)        5        -\n" +
		"mx2               ?        2\n" +
		"    not asked: cannot connect to 127.0.0.1:2726: refused\n" +
		"    last error: 451 4.4.0 newer\n" +
		"    next retry: 2026-12-01 05:00:30 (in 30s)\n" +
		"mx3               2        0\n" +
		"(the server is not running: the backlog was read from the spool)\n"
	if b.String() != want {
		t.Errorf("report:\n%s\nwant:\n%s", b.String(), want)
	}
}

// --json: a replica that could not be asked has "messages": null and
// says why; the others their count.
func TestFolderStatusJSON(t *testing.T) {
	n := 3
	rep := folderReport{Folder: "support@example.test", Server: "mx1", BacklogFrom: "queue", Replicas: []replicaStatus{
		{Server: "mx1", Here: true, Messages: &n}, {Server: "mx2", NotAsked: "cannot connect", Backlog: 1, LastError: "451 4.4.0 x"}}}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"folder":"support@example.test","server":"mx1","replicas":[{"server":"mx1","here":true,"messages":3,"backlog":0},` +
		`{"server":"mx2","messages":null,"not_asked":"cannot connect","backlog":1,"last_error":"451 4.4.0 x"}],"backlog_from":"queue"}`
	if strings.TrimSpace(string(b)) != want {
		t.Errorf("JSON\n%s\nwant\n%s", b, want)
	}
}
