package categorize

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailward/directory"
	"mailward/internal/testkit"
	"mailward/queue"
)

// instanceOrg is mx1 with a group of three mailboxes homed on it.
func instanceOrg() directory.OrgFile {
	f := org3()
	f.Mailboxes = []directory.OrgMailbox{mailbox("a@example.test", "mx1"), mailbox("b@example.test", "mx1"),
		mailbox("c@example.test", "mx1")}
	f.DistGroups = []directory.DistributionGroup{group("g@example.test", "a@example.test", "b@example.test", "c@example.test")}
	return f
}

// copyOf is the one file in a mailbox's new/, with its content.
func (o *orgServer) copyOf(addr string) (os.FileInfo, string) {
	o.t.Helper()
	c := o.copies(addr)
	if len(c) != 1 {
		o.t.Fatalf("%s: copies %v, want one", addr, c)
	}
	path := filepath.Join(o.c.Maildir.Dir(addr), "new", c[0])
	fi, err := os.Stat(path)
	if err != nil {
		o.t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		o.t.Fatal(err)
	}
	return fi, string(b)
}

// The members of a group delivered here share one instance (the same
// file, hard-linked into each new/), whose Delivered-To names the group;
// a member addressed directly as well gets the copy of the address the
// sender used, its own. Without single_instance each member has its own
// file with itself in Delivered-To.
func TestGroupMembersShareOneInstance(t *testing.T) {
	for _, single := range []bool{true, false} {
		o := startOrg(t, t.TempDir(), orgSetup{Org: instanceOrg(), Self: "mx1", SingleInstance: single})
		o.send(queue.Envelope{}, "b@example.test", "g@example.test")
		o.settle()
		a, aText := o.copyOf("a@example.test")
		b, bText := o.copyOf("b@example.test")
		c, cText := o.copyOf("c@example.test")
		if !strings.HasPrefix(bText, "Return-Path: <sender@remote.test>\r\nDelivered-To: b@example.test\r\n") || os.SameFile(a, b) {
			t.Errorf("single_instance=%v: b, addressed directly, got %q (shared: %v), want a copy of its own", single, bText[:60], os.SameFile(a, b))
		}
		if single {
			if !os.SameFile(a, c) || a.Sys() == nil {
				t.Errorf("a and c do not share the instance")
			}
			for _, text := range []string{aText, cText} {
				if !strings.HasPrefix(text, "Return-Path: <sender@remote.test>\r\nDelivered-To: g@example.test\r\n") {
					t.Errorf("the instance begins %q, want Delivered-To naming the group", text[:60])
				}
			}
			if _, err := os.Stat(filepath.Join(o.dir, "mailboxes", ".instances")); err == nil {
				ents, _ := os.ReadDir(filepath.Join(o.dir, "mailboxes", ".instances"))
				if len(ents) != 0 {
					t.Errorf("the instance's own name is left: %v", ents)
				}
			}
		} else {
			if os.SameFile(a, c) {
				t.Errorf("single_instance off: a and c share a file")
			}
			if !strings.Contains(aText, "Delivered-To: a@example.test\r\n") || !strings.Contains(cText, "Delivered-To: c@example.test\r\n") {
				t.Errorf("single_instance off: Delivered-To does not name the member: %q, %q", aText[:60], cText[:60])
			}
		}
		o.stop()
	}
}

// An instance that cannot be written defers every member that would
// have shared it (451, retried): none is reported delivered, nothing is
// lost.
func TestInstanceFailureDefers(t *testing.T) {
	dir := t.TempDir()
	// .instances is a file: the instance cannot be made.
	if err := os.MkdirAll(filepath.Join(dir, "mailboxes"), 0o700); err != nil {
		t.Fatal(err)
	}
	o := startOrg(t, dir, orgSetup{Org: instanceOrg(), Self: "mx1", SingleInstance: true})
	if err := os.WriteFile(filepath.Join(dir, "mailboxes", ".instances"), []byte("in the way"), 0o600); err != nil {
		t.Fatal(err)
	}
	id := o.send(queue.Envelope{}, "g@example.test")
	var v queue.View
	testkit.WaitFor(t, 10*time.Second, "the first attempt", func() bool {
		var ok bool
		v, ok = o.q.Message(id)
		return ok && !v.InFlight && len(v.Recipients) == 4 && v.Recipients[1].Attempts > 0
	})
	for _, r := range v.Recipients[1:] {
		if r.State != "pending" || !strings.HasPrefix(r.LastError, "451 ") {
			t.Errorf("%s: %s, %q; want pending with 451", r.Addr, r.State, r.LastError)
		}
		if c := o.copies(r.Addr); len(c) != 0 {
			t.Errorf("%s: copies %v, want none", r.Addr, c)
		}
	}
}
