package deliver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailward/internal/durable"
)

func TestDeliverWritesNewWithTraceHeaders(t *testing.T) {
	md := NewMaildir(t.TempDir(), "mx1.example.test")
	it := Item{QueueID: "ABC", Index: 2, Arrival: time.Unix(1700000000, 0), From: "a@example.test", Rcpt: "alice@example.test"}
	path, err := md.Deliver(it, strings.NewReader("Subject: x\r\n\r\nhi\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(md.Base, "alice@example.test", "Maildir", "new", "1700000000.MABCR2.mx1.example.test"); path != want {
		t.Fatalf("path %s, want %s", path, want)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "Return-Path: <a@example.test>\r\nDelivered-To: alice@example.test\r\nSubject: x\r\n\r\nhi\r\n" {
		t.Fatalf("content %q", b)
	}
	for _, sub := range []string{"tmp", "cur"} {
		if fi, err := os.Stat(filepath.Join(md.Base, "alice@example.test", "Maildir", sub)); err != nil || !fi.IsDir() {
			t.Fatalf("%s/ missing", sub)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(md.Base, "alice@example.test", "Maildir", "tmp")); len(ents) != 0 {
		t.Fatalf("tmp/ not empty: %v", ents)
	}
}

// A delivery repeated after a crash (Recovered) replaces the copy the
// first attempt left in new/ (its data may not have reached the disk) and
// leaves alone one a reader already moved to cur/: never a duplicate.
func TestRecoveredDeliveryMakesNoDuplicate(t *testing.T) {
	md := NewMaildir(t.TempDir(), "mx1.example.test")
	it := Item{QueueID: "DEF", Index: 0, Arrival: time.Unix(1700000000, 0), Rcpt: "bob@example.test"}
	first, err := md.Deliver(it, strings.NewReader("one"))
	if err != nil {
		t.Fatal(err)
	}
	it.Recovered = true
	if _, err := md.Deliver(it, strings.NewReader("two")); err != nil {
		t.Fatal(err)
	}
	// A mail reader moves the message to cur/ and flags it.
	cur := filepath.Join(filepath.Dir(filepath.Dir(first)), "cur", filepath.Base(first)+":2,S")
	if err := os.Rename(first, cur); err != nil {
		t.Fatal(err)
	}
	if _, err := md.Deliver(it, strings.NewReader("three")); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, sub := range []string{"new", "cur"} {
		ents, _ := os.ReadDir(filepath.Join(filepath.Dir(filepath.Dir(first)), sub))
		n += len(ents)
	}
	if n != 1 {
		t.Fatalf("%d copies, want 1", n)
	}
	if b, _ := os.ReadFile(cur); !strings.HasSuffix(string(b), "two") {
		t.Fatalf("the copy in new/ was not rewritten, or the one in cur/ was touched: %q", b)
	}
}

func TestMailboxPathCannotEscape(t *testing.T) {
	md := NewMaildir("/base", "mx")
	for addr, want := range map[string]string{
		"a/b@example.test":   "/base/a%2Fb@example.test/Maildir",
		"../x@example.test":  "/base/..%2Fx@example.test/Maildir",
		"..":                 "/base/%2E./Maildir",
		"a%2Fb@example.test": "/base/a%252Fb@example.test/Maildir",
	} {
		if got := md.Dir(addr); got != want {
			t.Errorf("Dir(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestDeliverFailureIsTemporary(t *testing.T) {
	base := t.TempDir()
	// A file where the mailbox directory should be: the disk is "broken".
	os.WriteFile(filepath.Join(base, "carol@example.test"), []byte("x"), 0o600)
	md := NewMaildir(base, "mx")
	_, err := md.Deliver(Item{QueueID: "X", Rcpt: "carol@example.test"}, strings.NewReader("x"))
	if err == nil || !strings.Contains(err.Error(), ErrTemporary.Error()) {
		t.Fatalf("want a temporary error, got %v", err)
	}
}

// With a group flush (queue.sync = "syncfs"), Write puts the copy in
// new/ and leaves making it durable to Sync, so that many copies share
// one flush; Deliver is both.
func TestWriteLeavesTheFlushToSync(t *testing.T) {
	md := NewMaildir(t.TempDir(), "mx1.example.test")
	flushes := 0
	md.FSSync = durable.NewGroup(func() error { flushes++; return nil })
	var paths []string
	for i, rcpt := range []string{"alice@example.test", "bob@example.test", "carol@example.test"} {
		p, err := md.Write(Item{QueueID: "GRP", Index: i, Arrival: time.Unix(1700000000, 0), Rcpt: rcpt}, strings.NewReader("hi"))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	if flushes != 0 {
		t.Fatalf("Write flushed %d times", flushes)
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("copy not in new/: %v", err)
		}
	}
	if err := md.Sync(); err != nil || flushes != 1 {
		t.Fatalf("Sync: %v, %d flushes, want 1", err, flushes)
	}
	if _, err := md.Deliver(Item{QueueID: "ONE", Rcpt: "alice@example.test"}, strings.NewReader("x")); err != nil || flushes != 2 {
		t.Fatalf("Deliver: %v, %d flushes, want 2", err, flushes)
	}
}
