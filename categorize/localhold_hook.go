//go:build mailwardtest

package categorize

import (
	"mailward/internal/testhook"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// localHoldEnv holds local delivery at a fixed point, so that an e2e test
// can kill the server in the middle of a big group's copies however fast
// the machine is. "N:DIR": every local copy of an attempt from the Nth on
// (counted from 0, in the attempt's order) waits until the file DIR/go
// exists; each wait ends after a minute regardless. Only in binaries
// built with -tags mailwardtest.
const localHoldEnv = "MAILWARD_TEST_LOCAL_HOLD"

func localHold(k int) {
	ns, dir, _ := strings.Cut(os.Getenv(localHoldEnv), ":")
	n, err := strconv.Atoi(ns)
	if err != nil || dir == "" || k < n {
		return
	}
	gate := filepath.Join(dir, "go")
	testhook.WaitFor(gate)
}
