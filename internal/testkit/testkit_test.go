package testkit

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fakeTB records how a helper ended the test. Skipf and Fatalf end the
// goroutine as the real ones do (runtime.Goexit), so code after them
// must not run; anything else testing.TB has panics (nil embedded TB).
type fakeTB struct {
	testing.TB
	skipped, failed, returned bool
	msg                       string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls fn with a fake TB in a goroutine of its own (Goexit ends it)
// and reports what happened.
func run(fn func(testing.TB)) *fakeTB {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
		f.returned = true
	}()
	<-done
	return f
}

const (
	noProgram = "mailward-testkit-no-such-program"
	noPackage = "mailward-no-such-package"
)

func TestRequireMissingSkipsOrFails(t *testing.T) {
	for _, tc := range []struct {
		env        string
		skip, fail bool
	}{
		{env: "", skip: true},
		{env: "0", skip: true},
		{env: "1", fail: true},
		{env: "yes", fail: true}, // a typo must not turn failures into skips
	} {
		t.Run("env="+tc.env, func(t *testing.T) {
			t.Setenv(EnvRequireComponents, tc.env)
			f := run(func(tb testing.TB) { Require(tb, noPackage, "sh", noProgram) })
			if f.skipped != tc.skip || f.failed != tc.fail || f.returned {
				t.Fatalf("skipped=%v failed=%v returned=%v, want skipped=%v failed=%v and no return (msg %q)",
					f.skipped, f.failed, f.returned, tc.skip, tc.fail, f.msg)
			}
			for _, want := range []string{"missing component: " + noProgram + " not found", "apt-get install -y " + noPackage} {
				if !strings.Contains(f.msg, want) {
					t.Errorf("message %q lacks %q", f.msg, want)
				}
			}
			if tc.env == "yes" && !strings.Contains(f.msg, EnvRequireComponents+"=yes") {
				t.Errorf("message does not name the bad value: %q", f.msg)
			}
		})
	}
}

func TestRequireFoundReturnsPaths(t *testing.T) {
	t.Setenv(EnvRequireComponents, "1")
	var paths []string
	f := run(func(tb testing.TB) { paths = Require(tb, "coreutils", "sh", "true") })
	if !f.returned || f.skipped || f.failed {
		t.Fatalf("Require with present programs ended the test: %q", f.msg)
	}
	if len(paths) != 2 || filepath.Base(paths[0]) != "sh" || filepath.Base(paths[1]) != "true" || !filepath.IsAbs(paths[1]) {
		t.Fatalf("paths %q", paths)
	}
}

// TestLookProgramSystemDirs: a program in /usr/sbin or /sbin is found with
// a PATH that lacks them (a non-root shell's PATH).
func TestLookProgramSystemDirs(t *testing.T) {
	var name string
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				name = e.Name()
				break
			}
		}
		if name != "" {
			break
		}
	}
	if name == "" {
		t.Skip("no executable in /usr/sbin or /sbin to look for")
	}
	t.Setenv("PATH", t.TempDir())
	p, err := LookProgram(name)
	if err != nil || filepath.Base(p) != name {
		t.Fatalf("LookProgram(%q) with an empty PATH: %q, %v", name, p, err)
	}
	if _, err := LookProgram(noProgram); err == nil {
		t.Fatalf("LookProgram(%q): no error", noProgram)
	}
	if _, err := LookProgram("./" + noProgram); err == nil {
		t.Fatalf("LookProgram with a slash: no error")
	}
}

func TestRequireCheck(t *testing.T) {
	t.Setenv(EnvRequireComponents, "")
	f := run(func(tb testing.TB) { RequireCheck(tb, "python3-gssapi", func() error { return nil }) })
	if !f.returned {
		t.Fatalf("a passing check ended the test: %q", f.msg)
	}
	f = run(func(tb testing.TB) {
		RequireCheck(tb, "python3-gssapi", func() error { return errors.New("python3 cannot import gssapi") })
	})
	want := "missing component: python3 cannot import gssapi; install with: apt-get install -y python3-gssapi"
	if !f.skipped || f.msg != want {
		t.Fatalf("skipped=%v msg %q, want a skip with %q", f.skipped, f.msg, want)
	}
	t.Setenv(EnvRequireComponents, "1")
	f = run(func(tb testing.TB) {
		RequireCheck(tb, "python3-gssapi", func() error { return errors.New("python3 cannot import gssapi") })
	})
	if !f.failed || f.msg != want {
		t.Fatalf("failed=%v msg %q, want a failure with the same message %q", f.failed, f.msg, want)
	}
}

func TestRequireRoot(t *testing.T) {
	t.Setenv(EnvRequireComponents, "1")
	f := run(func(tb testing.TB) { RequireRoot(tb, "master(8) must start as root") })
	if os.Geteuid() == 0 {
		if !f.returned {
			t.Fatalf("RequireRoot as root ended the test: %q", f.msg)
		}
		return
	}
	if !f.failed || !strings.Contains(f.msg, "master(8) must start as root") {
		t.Fatalf("RequireRoot as uid %d: failed=%v msg %q", os.Geteuid(), f.failed, f.msg)
	}
}

// helperEnv marks the subprocess in which TestHelperProcess does its work.
const helperEnv = "MAILWARD_TESTKIT_HELPER"

// TestHelperProcess is not a test of its own: TestRealTestSkipsOrFails
// runs it in a subprocess of this test binary.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process for TestRealTestSkipsOrFails; does nothing on its own")
	}
	Require(t, noPackage, noProgram)
	fmt.Println("AFTER-REQUIRE") // must not be reached
}

// TestRealTestSkipsOrFails checks both modes with the real testing
// package: the test binary run on TestHelperProcess reports SKIP (exit 0)
// without the variable and FAIL (exit 1) with it, and never goes on
// past Require.
func TestRealTestSkipsOrFails(t *testing.T) {
	for _, tc := range []struct {
		env    string
		result string
		exit   int
	}{
		{env: "", result: "--- SKIP: TestHelperProcess", exit: 0},
		{env: "1", result: "--- FAIL: TestHelperProcess", exit: 1},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnv+"=1", EnvRequireComponents+"="+tc.env)
		out, err := cmd.CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		s := string(out)
		if code != tc.exit || !strings.Contains(s, tc.result) || strings.Contains(s, "AFTER-REQUIRE") ||
			!strings.Contains(s, "apt-get install -y "+noPackage) {
			t.Errorf("%s=%q: exit %d, want %d with %q and the apt-get line:\n%s", EnvRequireComponents, tc.env, code, tc.exit, tc.result, s)
		}
	}
}
