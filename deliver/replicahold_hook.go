//go:build mailwardtest

package deliver

import (
	"mailward/internal/testhook"
	"os"
	"path/filepath"
)

// replicaHoldEnv holds the sender right after a replica server answered
// 250 to the data of a replication (or of a post sent to the nearest
// replica), before the queue records the delivery,
// so that an e2e test can kill it at exactly that point. "DIR": the
// file DIR/sent is made, then the sender waits until DIR/go exists (a
// minute at most). Only in binaries built with -tags mailwardtest.
const replicaHoldEnv = "MAILWARD_TEST_REPLICA_HOLD"

func replicaSentHold() {
	dir := os.Getenv(replicaHoldEnv)
	if dir == "" {
		return
	}
	os.WriteFile(filepath.Join(dir, "sent"), nil, 0o600)
	gate := filepath.Join(dir, "go")
	testhook.WaitFor(gate)
}
