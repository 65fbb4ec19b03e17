package testkit

import (
	"testing"
)

// The tests' rspamd gives the verdicts the content filter's tests rely
// on: GTUBE is rejected at 15, the score header scores its value, a
// plain message scores 0; and /stat counts the scans.
func TestStartRspamd(t *testing.T) {
	r := StartRspamd(t)
	before := r.Scanned(t)
	for _, c := range []struct {
		msg    string
		action string
		score  float64
	}{
		{"Subject: spam\r\n\r\n" + GTUBE + "\r\n", "reject", 15},
		{"Subject: grey\r\n" + ScoreHeader + ": 7.5\r\n\r\nhello\r\n", "add header", 7.5},
		{"Subject: clean\r\n\r\nhello\r\n", "no action", 0},
	} {
		v, err := r.Check([]byte(c.msg))
		if err != nil {
			t.Fatal(err)
		}
		if v["action"] != c.action || v["score"] != c.score {
			t.Errorf("%q: action %v score %v, want %s %v", c.msg, v["action"], v["score"], c.action, c.score)
		}
	}
	if n := r.Scanned(t) - before; n != 3 {
		t.Errorf("/stat counted %d scans, want 3", n)
	}
	r.Stop()
	if _, err := r.Check([]byte("Subject: x\r\n\r\nx\r\n")); err == nil {
		t.Error("rspamd still answers after Stop")
	}
}
