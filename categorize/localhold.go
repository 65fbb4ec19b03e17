//go:build !mailwardtest

package categorize

// localHold is a test hook that only the e2e tests' build has (see
// localhold_hook.go); here it does nothing.
func localHold(int) {}
