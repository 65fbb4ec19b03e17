package testkdc

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRealmLifecycle starts a realm, adds principals, takes keytabs, gets
// a ticket with kinit, and survives a stop/restart on the same port.
func TestRealmLifecycle(t *testing.T) {
	Require(t)
	k, err := Start("EXAMPLE.TEST", WithDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()

	for _, p := range []string{"SMTP/mx1.example.test", "SMTP/mx2.example.test"} {
		if err := k.AddPrincipal(p, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.AddPrincipal("SMTP/mx1.example.test", ""); err == nil {
		t.Fatal("adding an existing principal: no error")
	}
	if err := k.AddPrincipal("alice", "s3cret pw"); err != nil {
		t.Fatal(err)
	}
	kt := filepath.Join(k.Dir, "mx1.keytab")
	if err := k.Keytab(kt, "SMTP/mx1.example.test"); err != nil {
		t.Fatal(err)
	}
	if err := k.Keytab(filepath.Join(k.Dir, "x.keytab"), "nosuch/x"); err == nil {
		t.Fatal("keytab for a missing principal: no error")
	}
	cc := filepath.Join(k.Dir, "cc")
	if err := k.Kinit(cc, kt, "SMTP/mx1.example.test"); err != nil {
		t.Fatal(err)
	}

	// A second virtual server on the KDC's port must be refused.
	if err := portFree(k.Port); err == nil {
		t.Fatal("portFree on the running KDC's port: no error")
	}

	if err := k.Stop(); err != nil {
		t.Fatal(err)
	}
	if k.Running() {
		t.Fatal("running after Stop")
	}
	if err := k.Kinit(cc, kt, "SMTP/mx1.example.test"); err == nil {
		t.Fatal("kinit with the KDC stopped: no error")
	}
	if err := k.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := k.Kinit(cc, kt, "SMTP/mx1.example.test"); err != nil {
		t.Fatal(err)
	}
	klist, _ := lookProgram("klist")
	cmd := exec.Command(klist, "-c", "FILE:"+cc)
	cmd.Env = append(os.Environ(), k.Env()...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST") {
		t.Fatalf("klist: %v\n%s", err, out)
	}
	if err := k.DeletePrincipal("SMTP/mx2.example.test"); err != nil {
		t.Fatal(err)
	}
	if err := k.DeletePrincipal("SMTP/mx2.example.test"); err == nil {
		t.Fatal("deleting a missing principal: no error")
	}
}

// TestBusyPortRefused: a realm never starts on a port something holds.
func TestBusyPortRefused(t *testing.T) {
	Require(t)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	if err := portFree(port); err == nil {
		t.Fatal("portFree on a held UDP port: no error")
	}
}
