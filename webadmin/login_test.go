package webadmin

import (
	"testing"
	"time"
)

// TestLoginLimit: max failures from an address or for a name lock it for
// the lockout, whatever the other key; the end of the lockout starts a
// fresh count; a success clears both counts.
func TestLoginLimit(t *testing.T) {
	l := newLoginLimit(3, time.Minute)
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for i := 0; i < 2; i++ {
		if got := l.failed(now, "192.0.2.1", "admin"); len(got) != 0 {
			t.Fatalf("failure %d locked %v", i+1, got)
		}
	}
	if _, locked := l.locked(now, "192.0.2.1", "admin"); locked {
		t.Fatal("locked after 2 of 3 failures")
	}
	got := l.failed(now, "192.0.2.1", "admin")
	if len(got) != 2 || got[0] != "from 192.0.2.1" || got[1] != "as admin" {
		t.Fatalf("the third failure locked %v, want the address and the name", got)
	}
	if until, locked := l.locked(now.Add(30*time.Second), "198.51.100.7", "admin"); !locked || !until.Equal(now.Add(time.Minute)) {
		t.Errorf("the name from another address: locked %v until %v", locked, until)
	}
	if _, locked := l.locked(now.Add(30*time.Second), "192.0.2.1", "other"); !locked {
		t.Errorf("another name from the locked address is not locked")
	}
	if _, locked := l.locked(now.Add(30*time.Second), "198.51.100.7", "other"); locked {
		t.Errorf("an unrelated address and name are locked")
	}
	if _, locked := l.locked(now.Add(61*time.Second), "192.0.2.1", "admin"); locked {
		t.Errorf("still locked after the lockout")
	}
	if got := l.failed(now.Add(62*time.Second), "192.0.2.1", "admin"); len(got) != 0 {
		t.Errorf("one failure after the lockout locked again: %v", got)
	}
	l.failed(now.Add(63*time.Second), "192.0.2.1", "admin")
	l.succeeded("192.0.2.1", "admin")
	if got := l.failed(now.Add(64*time.Second), "192.0.2.1", "admin"); len(got) != 0 {
		t.Errorf("a success did not clear the counts: %v", got)
	}
}
