//go:build !mailwardtest

package queue

// loadHold is a test hook that only the e2e tests' build has (see
// loadhold_testhooks.go); here it does nothing.
func loadHold(int) {}
