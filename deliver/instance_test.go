package deliver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// One instance, linked into several mailboxes: the same file in each
// new/, under each mailbox's own name, with Delivered-To naming what
// they share; durable without a group flush as Write's copies are.
// Linked again after a crash (Recovered), a name already in new/ is
// replaced by the new instance (its data may not have reached the disk)
// and a copy a reader took into cur/ is left alone: never a duplicate.
// Close removes only the instance's own name.
func TestInstanceLinkedIntoMailboxes(t *testing.T) {
	base := t.TempDir()
	md := NewMaildir(base, "mx1.example.test")
	it := func(i int, rcpt string) Item {
		return Item{QueueID: "ABC", Index: i, Arrival: time.Unix(1700000000, 0), From: "s@remote.test", Rcpt: rcpt}
	}
	in, err := md.NewInstance(it(1, "a@example.test"), "g@example.test", strings.NewReader("Subject: x\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	pa, err := in.Link(it(1, "a@example.test"))
	if err != nil {
		t.Fatal(err)
	}
	pb, err := in.Link(it(2, "b@example.test"))
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	a, _ := os.Stat(pa)
	b, _ := os.Stat(pb)
	if a == nil || b == nil || !os.SameFile(a, b) {
		t.Fatalf("%s and %s are not one instance", pa, pb)
	}
	if filepath.Base(pb) != "1700000000.MABCR2.mx1.example.test" || filepath.Base(filepath.Dir(pb)) != "new" {
		t.Errorf("b's copy is %s", pb)
	}
	text, _ := os.ReadFile(pa)
	if string(text) != "Return-Path: <s@remote.test>\r\nDelivered-To: g@example.test\r\nSubject: x\r\n\r\nbody\r\n" {
		t.Errorf("instance %q", text)
	}
	if ents, _ := os.ReadDir(filepath.Join(base, instanceDir)); len(ents) != 0 {
		t.Errorf("Close left %v", ents)
	}

	// After a crash: a reads hers (cur/), b's stays in new/.
	cur := filepath.Join(filepath.Dir(filepath.Dir(pa)), "cur", filepath.Base(pa)+":2,S")
	if err := os.Rename(pa, cur); err != nil {
		t.Fatal(err)
	}
	again, err := md.NewInstance(it(1, "a@example.test"), "g@example.test", strings.NewReader("again"))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	for i, rcpt := range []string{"a@example.test", "b@example.test"} {
		x := it(i+1, rcpt)
		x.Recovered = true
		if _, err := again.Link(x); err != nil {
			t.Fatal(err)
		}
	}
	for _, rcpt := range []string{"a@example.test", "b@example.test"} {
		n := 0
		for _, sub := range []string{"new", "cur", "tmp"} {
			ents, _ := os.ReadDir(filepath.Join(md.Dir(rcpt), sub))
			n += len(ents)
		}
		if n != 1 {
			t.Errorf("%s: %d files, want its one copy", rcpt, n)
		}
	}
	if b, _ := os.ReadFile(pb); !strings.HasSuffix(string(b), "again") {
		t.Errorf("b's copy was not replaced by the new instance: %q", b)
	}
	if b, _ := os.ReadFile(cur); !strings.HasSuffix(string(b), "body\r\n") {
		t.Errorf("a's copy in cur/ was touched: %q", b)
	}
}

// RemoveInstances (at start) removes the names of instances a crash
// left; the mailboxes' links keep the data.
func TestRemoveInstancesKeepsLinks(t *testing.T) {
	md := NewMaildir(t.TempDir(), "mx1.example.test")
	it := Item{QueueID: "ABC", Index: 1, Arrival: time.Unix(1700000000, 0), Rcpt: "a@example.test"}
	in, err := md.NewInstance(it, "g@example.test", strings.NewReader("kept"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := in.Link(it)
	if err != nil {
		t.Fatal(err)
	}
	if err := md.RemoveInstances(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(md.Base, instanceDir)); !os.IsNotExist(err) {
		t.Errorf(".instances still there: %v", err)
	}
	if b, _ := os.ReadFile(p); !strings.HasSuffix(string(b), "kept") {
		t.Errorf("the mailbox's copy is gone: %q", b)
	}
}
