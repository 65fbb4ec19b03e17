package e2e

// Refused messages must not leave their content in the queue's pool of
// recycled files (queue/spare/): an anonymous client could fill the disk
// with it, and old mail would stay readable there.

import (
	"mailward/internal/testkit"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// spareConfig: alice is local, and messages over 1 MiB are refused
// after DATA (a message reaches its queue file once it passes 256 KiB).
func spareConfig() *testkit.Config {
	c := testkit.NewConfig()
	c.Mailboxes = testkit.Mailboxes("alice@example.test")
	c.VirtualServers[0].MaxMessageSize = 1 << 20
	return c
}

// spareContent sums the sizes and the disk blocks of the files in
// queue/spare/.
func spareContent(t *testing.T, s *server) (files int, size, disk int64) {
	t.Helper()
	dir := filepath.Join(s.DataDir, "queue", "spare")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		var st syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(dir, e.Name()), &st); err != nil {
			continue // taken by a new message right now
		}
		files++
		size += st.Size
		disk += st.Blocks * 512
	}
	return files, size, disk
}

// TestRefusedMessagesLeaveNoContent: twenty 2 MiB messages refused at the
// end of DATA for exceeding a 1 MiB max_message_size (each spills its
// first MiB into a queue file, since it is too big to be held in
// memory) leave nothing in queue/spare/; content planted there before a
// restart is gone after it; and the pool still serves new mail.
func TestRefusedMessagesLeaveNoContent(t *testing.T) {
	s := startServer(t, spareConfig())
	body := strings.Repeat(strings.Repeat("x", 99)+"\n", (2<<20)/100)
	for i := 0; i < 20; i++ {
		// A session per message: each refusal counts against max_errors.
		c := dial(t, s.Addr)
		c.expect("EHLO client.test", 250)
		c.expect("MAIL FROM:<someone@elsewhere.test>", 250)
		c.expect("RCPT TO:<alice@example.test>", 250)
		r, err := c.dataErr(message("someone@elsewhere.test", "alice@example.test", "too-big", body))
		if err != nil {
			t.Fatalf("message %d: DATA: %v", i, err)
		}
		if r.Code != 552 {
			t.Fatalf("message %d: end of DATA %q, want 552 (max_message_size)", i, r)
		}
		c.Close()
	}
	files, size, disk := spareContent(t, s)
	t.Logf("after 20 refused 2 MiB messages: %d spare file(s), %d bytes of content, %d bytes of disk", files, size, disk)
	if files == 0 {
		t.Errorf("queue/spare/ is empty: the refused messages' files were not recycled")
	}
	if size != 0 || disk != 0 {
		t.Errorf("queue/spare/ holds %d bytes of content (%d bytes of disk) after refused messages, want none", size, disk)
	}

	// Content left in spare/ (by an older mailward, or a kill between a
	// finished message's move and its truncation) is cleared at start.
	if !s.signal(syscall.SIGTERM, stopTimeout) {
		t.Fatal("mailward did not stop on SIGTERM")
	}
	planted := filepath.Join(s.DataDir, "queue", "spare", "PLANTED")
	if err := os.WriteFile(planted, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s.start()
	if files, size, disk = spareContent(t, s); size != 0 || disk != 0 {
		t.Errorf("after a restart queue/spare/ holds %d bytes of content (%d bytes of disk) in %d file(s), want none", size, disk, files)
	}

	// The pool still works: a message is accepted and delivered.
	c := dial(t, s.Addr)
	c.expect("EHLO client.test", 250)
	c.send("<someone@elsewhere.test>", []string{"<alice@example.test>"}, message("someone@elsewhere.test", "alice@example.test", "fits", "small"))
	c.expect("QUIT", 221)
	c.Close()
	testkit.WaitFor(t, 10*time.Second, "delivery to alice", func() bool { return len(s.Maildir("alice@example.test")) == 1 })
	testkit.WaitFor(t, 10*time.Second, "the queue to empty", func() bool { return len(s.QueueActive()) == 0 })
	// Its file is retired right after the delivery is recorded.
	testkit.WaitFor(t, 5*time.Second, "queue/spare/ to hold no content", func() bool {
		_, size, disk := spareContent(t, s)
		return size == 0 && disk == 0
	})
}
