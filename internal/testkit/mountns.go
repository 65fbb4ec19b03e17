package testkit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// envMountNS marks a test binary re-executed in a private mount
// namespace by RunInPrivateMounts.
const envMountNS = "MAILWARD_TESTKIT_MOUNTNS"

// RunInPrivateMounts runs the test function named test of the current
// test binary again, under unshare(1) in a private mount namespace, so
// that it can mount small file systems (a full disk on demand) without
// touching the machine's. env is added to its environment. The child
// test must start with InPrivateMounts. It needs root and util-linux;
// without them the calling test skips or fails as for any missing
// component.
func RunInPrivateMounts(t testing.TB, test string, env ...string) {
	t.Helper()
	RequireRoot(t, "mounting a file system in a private mount namespace")
	Require(t, "util-linux", "unshare")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private",
		os.Args[0], "-test.run=^"+test+"$", "-test.v", "-test.count=1", "-test.timeout=170s")
	cmd.Env = append(append(os.Environ(), envMountNS+"=1"), env...)
	b, err := cmd.CombinedOutput()
	out := string(b)
	switch {
	case err == nil && strings.Contains(out, "--- PASS: "+test):
		t.Logf("%s in a private mount namespace:\n%s", test, out)
	case strings.Contains(out, "--- SKIP: "+test):
		unavailable(t, "the test in a private mount namespace skipped:\n"+out)
	case !strings.Contains(out, "=== RUN   "+test):
		unavailable(t, fmt.Sprintf("no private mount namespace (unshare --mount): %v\n%s", err, out))
	default:
		t.Fatalf("%s in a private mount namespace: %v\n%s", test, err, out)
	}
}

// InPrivateMounts skips the test unless RunInPrivateMounts started it:
// a test that mounts file systems runs only there.
func InPrivateMounts(t testing.TB) {
	t.Helper()
	if os.Getenv(envMountNS) != "1" {
		t.Skip("runs only in a private mount namespace, started by RunInPrivateMounts")
	}
}

// MountTmpfs mounts a tmpfs of size bytes on a new directory and returns
// it (inside RunInPrivateMounts only). It is unmounted at the end of the
// test.
func MountTmpfs(t testing.TB, size int64) string {
	t.Helper()
	InPrivateMounts(t)
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	return mnt
}

// Fill writes a ballast file in dir until its file system is full and
// returns the file's path: removing it makes the room again.
func Fill(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "ballast")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for i := 0; i < 1<<16; i++ {
		if _, err := f.Write(buf); err != nil {
			if !strings.Contains(err.Error(), "no space") {
				t.Fatalf("filling %s: %v", dir, err)
			}
			break
		}
	}
	// The last partial blocks too, byte-sized.
	small := make([]byte, 512)
	for i := 0; i < 1<<10; i++ {
		if _, err := f.Write(small); err != nil {
			break
		}
	}
	return p
}
