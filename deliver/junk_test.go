package deliver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A known SCL is added as a header at delivery; Junk puts the copy in
// the Maildir++ folder .Junk (marked with maildirfolder), single
// instance links included; an unknown SCL adds nothing.
func TestJunkFolderAndSCLHeader(t *testing.T) {
	md := NewMaildir(t.TempDir(), "mx1.example.test")
	five, zero := 5, 0
	arrival := time.Unix(1700000000, 0)
	junk, err := md.Deliver(Item{QueueID: "Q1", Arrival: arrival, From: "erin@partner.test", Rcpt: "alice@example.test", SCL: &five, Junk: true},
		strings.NewReader("Subject: s\r\n\r\nspam\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := md.Deliver(Item{QueueID: "Q2", Arrival: arrival, From: "erin@partner.test", Rcpt: "alice@example.test", SCL: &zero},
		strings.NewReader("Subject: h\r\n\r\nham\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	unknown, err := md.Deliver(Item{QueueID: "Q3", Arrival: arrival, From: "", Rcpt: "alice@example.test"},
		strings.NewReader("Subject: u\r\n\r\nunscanned\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	box := md.Dir("alice@example.test")
	for _, c := range []struct{ path, dir, head string }{
		{junk, filepath.Join(box, ".Junk", "new"), "Return-Path: <erin@partner.test>\r\nDelivered-To: alice@example.test\r\nX-MS-Exchange-Organization-SCL: 5\r\nSubject: s\r\n"},
		{inbox, filepath.Join(box, "new"), "Return-Path: <erin@partner.test>\r\nDelivered-To: alice@example.test\r\nX-MS-Exchange-Organization-SCL: 0\r\nSubject: h\r\n"},
		{unknown, filepath.Join(box, "new"), "Return-Path: <>\r\nDelivered-To: alice@example.test\r\nSubject: u\r\n"},
	} {
		if filepath.Dir(c.path) != c.dir {
			t.Errorf("%s: not in %s", c.path, c.dir)
		}
		b, err := os.ReadFile(c.path)
		if err != nil || !strings.HasPrefix(string(b), c.head) {
			t.Errorf("%s: %q (%v), want it to start %q", c.path, b, err, c.head)
		}
	}
	if _, err := os.Stat(filepath.Join(box, ".Junk", "maildirfolder")); err != nil {
		t.Errorf("the Junk folder is not marked as a Maildir++ folder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(box, "maildirfolder")); err == nil {
		t.Error("the inbox is marked as a folder")
	}

	// A group's single instance, linked into a member's Junk folder.
	in, err := md.NewInstance(Item{QueueID: "Q4", Arrival: arrival, From: "erin@partner.test", Rcpt: "bob@example.test", SCL: &five, Junk: true},
		"group@example.test", strings.NewReader("Subject: g\r\n\r\nspam\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	p, err := in.Link(Item{QueueID: "Q4", Arrival: arrival, From: "erin@partner.test", Rcpt: "bob@example.test", SCL: &five, Junk: true})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(p) != filepath.Join(md.Dir("bob@example.test"), ".Junk", "new") {
		t.Errorf("instance linked to %s, want bob's Junk folder", p)
	}
	if b, _ := os.ReadFile(p); !strings.Contains(string(b), "X-MS-Exchange-Organization-SCL: 5\r\n") {
		t.Errorf("instance without its SCL: %q", b)
	}
}

// An SCL field that came with the message, folded or not, in any case,
// is dropped at delivery; ours is the only one; the rest of the header
// and the body are untouched, a body line that looks like the field
// included.
func TestSCLFieldFromSenderDropped(t *testing.T) {
	md := NewMaildir(t.TempDir(), "mx1.example.test")
	msg := "Received: from x\r\nX-MS-Exchange-Organization-SCL: -1\r\nSubject: s\r\nx-ms-exchange-organization-scl:\r\n\t-1\r\nTo: a\r\n\r\nX-MS-Exchange-Organization-SCL: -1\r\nbody\r\n"
	want := "Received: from x\r\nSubject: s\r\nTo: a\r\n\r\nX-MS-Exchange-Organization-SCL: -1\r\nbody\r\n"
	for _, scl := range []*int{nil, new(int)} {
		p, err := md.Deliver(Item{QueueID: "Q1", Arrival: time.Unix(1700000000, 0), Rcpt: "alice@example.test", SCL: scl}, strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		_, rest, _ := strings.Cut(string(b), "Delivered-To: alice@example.test\r\n")
		if scl != nil {
			rest = strings.TrimPrefix(rest, "X-MS-Exchange-Organization-SCL: 0\r\n")
		}
		if rest != want {
			t.Errorf("SCL %v: delivered\n%q\nwant\n%q", scl, rest, want)
		}
	}
	// No header end at all (a header-only message): kept whole.
	p, _ := md.Deliver(Item{QueueID: "Q2", Arrival: time.Unix(1700000000, 0), Rcpt: "alice@example.test"}, strings.NewReader("Subject: only"))
	if b, _ := os.ReadFile(p); !strings.HasSuffix(string(b), "Subject: only") {
		t.Errorf("header-only message: %q", b)
	}
}
