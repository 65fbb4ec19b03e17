//go:build mailwardtest

// Package testhook is what the test hooks of the e2e binary (built with
// -tags mailwardtest, docs/testing.md) share: a hold at a fixed point of
// the server until the test lets it go.
package testhook

import (
	"os"
	"time"
)

// WaitFor waits until the file gate exists, a minute at most, so that a
// test that never opens the gate cannot hold the server for ever.
func WaitFor(gate string) {
	for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(gate); err == nil {
			return
		}
	}
}
