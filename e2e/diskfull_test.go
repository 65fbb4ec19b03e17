package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailward/events"
	"mailward/internal/testkit"
)

// A full disk is a temporary condition, never a loss: with the
// mailboxes' file system full, an accepted message waits in the queue
// (4.3.1) and is delivered once there is room; with the spool's file
// system full, DATA is answered 452 4.3.1 — nothing accepted that is not
// on disk — the session goes on, the failure is in the event log (its
// reserve), and mail flows again once there is room. Real file systems:
// two small tmpfs mounts in a private mount namespace.
func TestDiskFullIsTemporary(t *testing.T) {
	testkit.RunInPrivateMounts(t, "TestDiskFullInside", envBinary+"="+binary)
}

func TestDiskFullInside(t *testing.T) {
	testkit.InPrivateMounts(t)
	spool := testkit.MountTmpfs(t, 16<<20)
	boxes := testkit.MountTmpfs(t, 4<<20)
	cfg := testkit.NewConfig()
	cfg.Server.DataDir = filepath.Join(spool, "data")
	cfg.Queue = &testkit.Queue{RetrySchedule: []string{"1s"}}
	cfg.Delivery = &testkit.Delivery{MailboxDir: filepath.Join(boxes, "mail")}
	cfg.Mailboxes = testkit.Mailboxes("alice@example.test")
	s := startServer(t, cfg)
	c := dial(t, s.Addr)
	defer c.Close()
	c.expect("EHLO client.test", 250)
	msg := func(subject string) string { // some 64 KiB: more than a few pages
		return message("a@example.test", "alice@example.test", subject, strings.Repeat("line of text, line of text, line of text\n", 1600))
	}
	c.send("<a@example.test>", []string{"<alice@example.test>"}, msg("first"))
	delivered(t, s, "alice@example.test", 1)

	// The mailboxes' disk is full: accepted, deferred with 4.3.1, kept.
	ballast := testkit.Fill(t, boxes)
	id := c.send("<a@example.test>", []string{"<alice@example.test>"}, msg("mailbox disk full"))
	recs := waitEvents(t, s, events.DeliveryDeferred, id, 1, 10*time.Second)
	if e := recs[0].Fields["error"]; !strings.Contains(e, "4.3.1") {
		t.Errorf("deferral for a full mailbox disk: %q, want 4.3.1", e)
	}
	if len(s.QueueActive()) != 1 {
		t.Fatalf("the deferred message is not in the queue: %v", s.QueueActive())
	}
	os.Remove(ballast)
	delivered(t, s, "alice@example.test", 2)

	// The spool's disk is full: 452 4.3.1 at the end of DATA, the
	// session goes on.
	ballast = testkit.Fill(t, spool)
	c.expect("MAIL FROM:<a@example.test>", 250)
	c.expect("RCPT TO:<alice@example.test>", 250)
	r, err := c.dataErr(msg("spool disk full"))
	if err != nil || r.String() != "452 4.3.1 Insufficient system storage, try again later" {
		t.Fatalf("DATA on a full spool: %v %v", r, err)
	}
	c.expect("RSET", 250)
	if n := len(s.Events(events.SpoolWriteFailed)); n == 0 {
		t.Error("no event 2001 for the spool failure on the full disk")
	}
	os.Remove(ballast)
	c.send("<a@example.test>", []string{"<alice@example.test>"}, msg("room again"))
	delivered(t, s, "alice@example.test", 3)
	c.expect("QUIT", 221)
}
