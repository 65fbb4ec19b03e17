//go:build !mailwardtest

package setup

import "testing"

// The production binary has no clock hook: the variable the end-to-end
// tests' build reads is ignored.
func TestNoClockHookInProduction(t *testing.T) {
	t.Setenv("MAILWARD_TEST_CLOCK_OFFSET", "10m")
	clock, err := testClock()
	if clock != nil || err != nil {
		t.Fatalf("production build has a clock hook (clock set: %t, err %v)", clock != nil, err)
	}
}
