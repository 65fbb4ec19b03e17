package queue

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"mailward/reply"
)

// The state file keeps each outcome as a reply, and reads back lines
// written before outcomes were replies.
func TestStateRepliesRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "X.state")
	now := time.Unix(1700000000, 0)
	lines := []string{
		resultLine(Result{Index: 0, State: Failed, Reply: reply.New(550, "5.1.1", "bob@x.test... User unknown"), RemoteMTA: "mx.x.test", Hop: "x.test"}, now),
		resultLine(Result{Index: 1, State: Pending, Reply: reply.Reply{Code: 451, Status: "4.4.0", Lines: []string{"line one", "line\r\ntwo"}}}, now),
		// Older forms: a bare local text with or without a status.
		"r 2 1 1700000000 2.0.0 - local delivered to maildir /m/new/1\n",
		"r 3 0 1700000000 - - - connection refused\n",
	}
	if err := appendState(path, lines); err != nil {
		t.Fatal(err)
	}
	m := &Message{Env: &Envelope{Recipients: make([]Recipient, 4)}, Status: make([]RcptStatus, 4)}
	if err := m.readState(path); err != nil {
		t.Fatal(err)
	}
	st := m.Status
	want := []string{
		"550 5.1.1 bob@x.test... User unknown",
		"451 4.4.0 line one; line  two",
		"250 2.0.0 delivered to maildir /m/new/1",
		"451 4.0.0 connection refused",
	}
	for i, w := range want {
		if got := st[i].Reply.String(); got != w {
			t.Errorf("recipient %d: reply %q, want %q", i, got, w)
		}
	}
	if st[0].RemoteMTA != "mx.x.test" || st[0].Hop != "x.test" || st[0].State != Failed || st[1].State != Pending {
		t.Errorf("fields: %+v", st[:2])
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}
