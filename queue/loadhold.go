//go:build !mailward_testhooks

package queue

// loadHold is a test hook that only the e2e tests' build has (see
// loadhold_testhooks.go); here it does nothing.
func loadHold(int) {}
