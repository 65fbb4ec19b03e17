//go:build mailwardtest

package setup

import (
	"fmt"
	"os"
	"time"
)

// clockOffsetEnv shifts the clock this server's Kerberos acceptor and
// initiator use (a Go duration, "10m"), to stand in for a server whose
// clock is off: a Go binary's clock cannot be shifted from outside. Only
// binaries built with the tag mailwardtest (the end-to-end tests' build)
// read it; the production binary has no such switch.
const clockOffsetEnv = "MAILWARD_TEST_CLOCK_OFFSET"

func testClock() (func() time.Time, error) {
	v := os.Getenv(clockOffsetEnv)
	if v == "" {
		return nil, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", clockOffsetEnv, err)
	}
	return func() time.Time { return time.Now().Add(d) }, nil
}
