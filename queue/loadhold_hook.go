//go:build mailwardtest

package queue

import (
	"mailward/internal/testhook"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// loadHoldEnv holds the spool loader at fixed points, so that an e2e test
// can look at a server whose spool is still loading however fast the
// machine is. "N:DIR": the loader waits before listing active/ until the
// file DIR/list exists, and before loading message N (counted from 0)
// until DIR/load exists; each wait ends after a minute regardless. Only in
// binaries built with -tags mailwardtest.
const loadHoldEnv = "MAILWARD_TEST_LOAD_HOLD"

// loadHold waits at point i: -1 before the listing, else before loading
// message i.
func loadHold(i int) {
	v := os.Getenv(loadHoldEnv)
	if v == "" {
		return
	}
	ns, dir, _ := strings.Cut(v, ":")
	n, err := strconv.Atoi(ns)
	if err != nil || dir == "" {
		return
	}
	gate := ""
	switch i {
	case -1:
		gate = filepath.Join(dir, "list")
	case n:
		gate = filepath.Join(dir, "load")
	default:
		return
	}
	testhook.WaitFor(gate)
}
