package peers

import (
	"testing"

	"mailward/internal/testkit"
)

// Require is for tests that start a private instance: it skips the test
// when Postfix is not installed or the test does not run as root, or
// fails it when MAILWARD_REQUIRE_COMPONENTS=1 (see internal/testkit),
// naming the package to install.
func Require(t testing.TB) {
	t.Helper()
	testkit.RequireCheck(t, Package, CheckInstalled)
	testkit.RequireRoot(t, rootReason)
}
