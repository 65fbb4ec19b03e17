package testkit

import (
	"context"
	"errors"
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
	// --propagation unchanged: changing the root's propagation fails where
	// "/" is not a mount point (a chroot, as scripts/check-fresh.sh runs
	// the suite in); MountFS makes its own directory private instead.
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "unchanged",
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
	dir, _ := MountFS(t, "tmpfs", size)
	return dir
}

// MountFS mounts a new file system of type fsType ("tmpfs", or "ext4" on
// a loop image: the usual data_dir file system) of size bytes on a new
// directory, inside RunInPrivateMounts only. For ext4 it also returns a
// function that unmounts and mounts it again, so that what a test reads
// next comes from the disk, not the page cache. It is unmounted at the
// end of the test.
func MountFS(t testing.TB, fsType string, size int64) (dir string, remount func()) {
	t.Helper()
	InPrivateMounts(t)
	base := t.TempDir()
	mnt := filepath.Join(base, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	// A private bind mount of the test's own directory first: what is
	// mounted below it then never propagates to the machine's mount
	// namespace, whatever the propagation of "/" is.
	if err := syscall.Mount(base, base, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind-mount %s: %v", base, err)
	}
	if err := syscall.Mount("", base, "", syscall.MS_PRIVATE, ""); err != nil {
		t.Fatalf("make %s private: %v", base, err)
	}
	t.Cleanup(func() { syscall.Unmount(base, syscall.MNT_DETACH) })
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	switch fsType {
	case "tmpfs":
		if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
			t.Fatalf("mount tmpfs: %v", err)
		}
		return mnt, nil
	case "ext4":
		Require(t, "e2fsprogs", "mkfs.ext4")
		Require(t, "mount", "mount")
		img := filepath.Join(base, "fs.img")
		if err := os.WriteFile(img, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(img, size); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-m", "0", "-b", "4096", img).CombinedOutput(); err != nil {
			t.Fatalf("mkfs.ext4: %v\n%s", err, out)
		}
		mount := func() error {
			if out, err := exec.Command("mount", "-t", "ext4", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		}
		if err := mount(); err != nil {
			unavailable(t, "mounting an ext4 image needs loop devices: "+err.Error())
		}
		return mnt, func() {
			t.Helper()
			if err := syscall.Unmount(mnt, 0); err != nil {
				t.Fatalf("unmount: %v", err)
			}
			if err := mount(); err != nil {
				t.Fatalf("mount again: %v", err)
			}
		}
	}
	t.Fatalf("MountFS: unknown file system type %q", fsType)
	return "", nil
}

// Fill writes a ballast file in dir until its file system is full, down
// to the last byte, checks that a new file cannot take a byte either, and
// returns the ballast's path: removing it makes the room again.
func Fill(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "ballast")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for _, size := range []int{64 << 10, 4096, 1} {
		for range 1 << 16 {
			if _, err := f.Write(buf[:size]); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("filling %s: %v", dir, err)
				}
				break
			}
		}
	}
	f.Sync()
	if err := os.WriteFile(filepath.Join(dir, "probe"), []byte("x"), 0o600); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("%s is not full: a new file took a byte (%v)", dir, err)
	}
	return p
}
