package testkit

import (
	"sync"
	"testing"
	"time"
)

// pollMax is the longest pause between two polls of a condition: short
// enough that a test goes on soon after the condition holds, long enough
// that a poll loop does not take a core from the server it waits for.
const pollMax = 20 * time.Millisecond

// WaitFor polls cond until it holds, and fails the test ("timed out
// after d waiting for what") when d passes first. It is the one polling
// wait of the tests: a test waits for an outcome it then asserts, never
// for a fixed time it hopes is enough.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Eventually(d, cond) {
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

// Eventually polls cond until it holds or d passes, and reports whether
// it held: [WaitFor] for a caller that goes on either way and asserts
// afterwards what it finds. The pauses between polls grow from 1 ms to
// 20 ms.
func Eventually(d time.Duration, cond func() bool) bool {
	return Poll(d, 0, cond)
}

// Poll is [Eventually] with a fixed pause between polls, for a condition
// that costs the server something to check (a connection it must
// greet or refuse); every = 0 is Eventually's growing pause. The first
// poll is at once, the last one at or after d; the number of polls is
// bounded as well as their time.
func Poll(d, every time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	pause := every
	if every <= 0 {
		pause = time.Millisecond
	}
	for polls := int(d/min(pause, time.Millisecond)) + 2; polls > 0; polls-- {
		if cond() {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		time.Sleep(min(pause, left))
		if every <= 0 {
			pause = min(2*pause, pollMax)
		}
	}
	return false
}

// WaitGroup waits for wg at most d and reports whether it was done: the
// goroutines a test started end, or the test goes on without them.
func WaitGroup(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}
