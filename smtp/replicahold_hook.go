//go:build mailwardtest

package smtp

import (
	"mailward/internal/testhook"
	"os"
	"path/filepath"
)

// replicaDataHoldEnv holds the receiving side of a replication after
// its data was read and before it is queued and answered, so that an
// e2e test can kill the receiver in the middle of the transaction.
// "DIR": the file DIR/held is made, then the session waits until DIR/go
// exists (a minute at most). Only in binaries built with -tags
// mailwardtest.
const replicaDataHoldEnv = "MAILWARD_TEST_REPLICA_DATA_HOLD"

func replicaDataHold() {
	dir := os.Getenv(replicaDataHoldEnv)
	if dir == "" {
		return
	}
	os.WriteFile(filepath.Join(dir, "held"), nil, 0o600)
	gate := filepath.Join(dir, "go")
	testhook.WaitFor(gate)
}
