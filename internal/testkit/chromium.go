package testkit

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// RequireChromium returns the path of Debian's chromium, which the
// browser tests drive headless (github.com/chromedp/chromedp), after
// checking that it runs: the test skips, or fails with
// MAILWARD_REQUIRE_COMPONENTS=1, naming the package chromium.
func RequireChromium(t testing.TB) string {
	t.Helper()
	path := RequireProgram(t, "chromium", "chromium")
	RequireCheck(t, "chromium", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, path, "--version").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Chromium") {
			return fmt.Errorf("%s --version: %v: %s", path, err, strings.TrimSpace(string(out)))
		}
		return nil
	})
	return path
}
