package testkit

import (
	"strings"
	"testing"
	"time"
)

func TestEventually(t *testing.T) {
	n := 0
	if !Eventually(time.Second, func() bool { n++; return n == 3 }) || n != 3 {
		t.Errorf("a condition true at the third poll: held after %d polls", n)
	}
	start := time.Now()
	n = 0
	if Eventually(50*time.Millisecond, func() bool { n++; return false }) {
		t.Error("a false condition held")
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 2*time.Second {
		t.Errorf("gave up after %v, want 50ms", d)
	}
	if n < 2 || n > 52 {
		t.Errorf("%d polls in 50ms", n)
	}
	if Eventually(0, func() bool { return false }) || !Eventually(0, func() bool { return true }) {
		t.Error("a zero wait polls once")
	}
}

func TestWaitFor(t *testing.T) {
	f := run(func(tb testing.TB) { WaitFor(tb, 20*time.Millisecond, "the moon", func() bool { return false }) })
	if !f.failed || f.returned || !strings.Contains(f.msg, "timed out after 20ms waiting for the moon") {
		t.Errorf("failed=%v returned=%v msg %q", f.failed, f.returned, f.msg)
	}
	f = run(func(tb testing.TB) { WaitFor(tb, time.Second, "nothing", func() bool { return true }) })
	if !f.returned || f.failed {
		t.Errorf("a condition that holds ended the test: %q", f.msg)
	}
}

func TestPollEvery(t *testing.T) {
	n := 0
	start := time.Now()
	if Poll(250*time.Millisecond, 100*time.Millisecond, func() bool { n++; return false }) {
		t.Error("a false condition held")
	}
	// At 0, 100, 200 and 250 ms.
	if d := time.Since(start); n < 3 || n > 4 || d > 2*time.Second {
		t.Errorf("%d polls in %v, want 4 in 250ms", n, d)
	}
}
