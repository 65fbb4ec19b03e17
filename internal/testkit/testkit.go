// Package testkit is the one home for test helpers that more than one
// package uses. A helper that a second package needs moves here; it is
// not copied into another package's _test.go files. (Helpers that only
// drive one real component, such as the Postfix peer in internal/peers or
// the Kerberos realm in internal/testkdc, stay with that component and
// build on this package.)
//
// # Real components: skip, or fail
//
// Many tests run against real programs from Debian packages (Postfix,
// swaks, MIT Kerberos, python3-gssapi, ...), never against mocks. Before
// using one, a test asks for it with [Require], [RequireProgram],
// [RequireCheck] or [RequireRoot]. When the component is missing:
//
//   - by default the test is skipped (t.Skipf), with a message naming the
//     Debian package to install ("apt-get install -y PKG"), so that a
//     plain `go test ./...` on a machine without them still runs the rest
//     and says what it left out (go test -v shows the skips);
//   - with MAILWARD_REQUIRE_COMPONENTS=1 in the environment the test fails
//     (t.Fatalf) with the same message. ./scripts/test.sh, and so CI,
//     sets it: there a missing component is a broken set-up, and a skip
//     would hide tests that never ran.
//
// docs/testing.md lists the packages and why each is needed.
//
// # The test library
//
//   - [WaitFor] (and [Eventually], [Poll], [WaitGroup]): the one bounded
//     wait for an outcome; no test sleeps a fixed time hoping it is enough.
//   - [StartSMTP]: the one fake SMTP server: a sink that records what it
//     is sent, a [SMTPHandler] for scripted replies, delays, hang-ups,
//     STARTTLS, X-EXPS and XEXCH50, greetings per connection, or a Script
//     that checks a client's every line.
//   - [FreePort] and [ListenSamePort]: loopback ports for servers.
//   - [NewConfig] and [Config]: the one builder of mailward configuration
//     files, from Go values; [OrgDirectory] likewise for the organization
//     directory file (servers, rights, recipients).
//
// Certificates come from internal/certs (certs.NewSelfSigned in memory,
// certs.SelfSigned on disk), never from a test's own x509 code.
//
// Every package's tests may import testkit, so testkit imports only the
// standard library and go-toml, which import nothing of mailward: the one
// mailward package that "go list -deps ./internal/testkit" lists is
// testkit itself. (Its own tests may import more.)
package testkit

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// EnvRequireComponents is the environment variable that turns a missing
// component from a skip into a failure: "1" fails, "" or "0" skips.
const EnvRequireComponents = "MAILWARD_REQUIRE_COMPONENTS"

// systemDirs are searched after PATH: Debian installs postfix, smtp-sink
// and krb5kdc in /usr/sbin, which the PATH of a non-root shell (and of
// some minimal environments) lacks.
var systemDirs = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// LookProgram finds an executable by name: on PATH first, then in the
// system directories (/usr/sbin, /sbin, ...). A name with a slash is
// checked as it is. It needs no test, so component packages use it too.
func LookProgram(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	} else if strings.Contains(name, "/") {
		return "", err
	}
	for _, dir := range systemDirs {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH or in %s", name, strings.Join(systemDirs, ", "))
}

// Require finds each program (see [LookProgram]) and returns their paths
// in the order given. If any is missing, the test skips or fails (see the
// package documentation) with a message naming pkg, the Debian package
// that installs them; pkg may name several packages separated by spaces.
func Require(t testing.TB, pkg string, programs ...string) []string {
	t.Helper()
	paths := make([]string, len(programs))
	var missing []string
	for i, name := range programs {
		p, err := LookProgram(name)
		if err != nil {
			missing = append(missing, name)
			continue
		}
		paths[i] = p
	}
	if len(missing) > 0 {
		Missing(t, pkg, "%s not found (searched PATH and %s)", strings.Join(missing, ", "), strings.Join(systemDirs, ", "))
	}
	return paths
}

// RequireProgram is [Require] for one program: it returns its path.
func RequireProgram(t testing.TB, pkg, program string) string {
	t.Helper()
	return Require(t, pkg, program)[0]
}

// RequireCheck is for components that are not programs: a Perl or Python
// module, a system account, a program's optional feature. check returns
// nil when the component is usable, or an error saying what is missing;
// on an error the test skips or fails, naming pkg as [Require] does.
func RequireCheck(t testing.TB, pkg string, check func() error) {
	t.Helper()
	if err := check(); err != nil {
		Missing(t, pkg, "%v", err)
	}
}

// RequireRoot skips or fails the test (as a missing component does) when
// it does not run as root; why says what needs root. CI runs as root.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, fmt.Sprintf("root (this runs as uid %d): %s; run the tests as root, as CI does", os.Geteuid(), why))
	}
}

// Missing reports that a component from the Debian package pkg is not
// usable: what is printf-style text saying what is missing. It skips or
// fails the test (see the package documentation) and does not return.
// Most callers want [Require] or [RequireCheck].
func Missing(t testing.TB, pkg, format string, args ...any) {
	t.Helper()
	unavailable(t, fmt.Sprintf(format, args...)+"; install with: apt-get install -y "+pkg)
}

// Strict reports whether a missing component fails the test
// (MAILWARD_REQUIRE_COMPONENTS=1) rather than skipping it. Any value
// other than "", "0" and "1" is an error, so that a typo cannot quietly
// turn failures back into skips.
func Strict() (bool, error) {
	switch v := os.Getenv(EnvRequireComponents); v {
	case "", "0":
		return false, nil
	case "1":
		return true, nil
	default:
		return true, errors.New(EnvRequireComponents + "=" + v + ": want 1 (a missing component fails the test) or 0/unset (it skips)")
	}
}

// unavailable ends the test: Skipf by default, Fatalf in strict mode,
// with the same message either way.
func unavailable(t testing.TB, msg string) {
	t.Helper()
	msg = "missing component: " + msg
	strict, err := Strict()
	if err != nil {
		t.Fatalf("%s (and %v)", msg, err)
	}
	if strict {
		t.Fatalf("%s", msg)
	}
	t.Skipf("%s", msg)
}
