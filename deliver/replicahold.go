//go:build !mailwardtest

package deliver

// replicaSentHold is a test hook that only the e2e tests' build has (see
// replicahold_hook.go); here it does nothing.
func replicaSentHold() {}
