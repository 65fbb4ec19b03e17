//go:build !mailwardtest

package setup

import (
	"time"
)

// testClock is nil in the production binary: its clock is the system's.
// (The test build, tag mailwardtest, can shift it: clock_test_hook.go.)
func testClock() (func() time.Time, error) { return nil, nil }
