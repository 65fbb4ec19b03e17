package e2e

import (
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
	"mailward/internal/testkit/orgbackend"
)

// diag auth names replication lag as the cause, against a real syncrepl
// pair (KB979174): mx1 reads the consumer, mx3 — a new server — reads
// the provider, and replication is paused after mx3 was added on the
// provider only. Each side's diag auth, given the other's configuration
// (--peer-config), says which server the other replica lacks.
func TestLDAPDiagAuthReplicationLag(t *testing.T) {
	pair, mx1, mx3 := startUnreplicatedMX3(t, "c@example.test")
	if pair.Consumer.Has("cn=mx3,ou=servers," + pair.Provider.Suffix) {
		t.Fatal("mx3 reached the consumer while replication was paused")
	}

	// mx3 to mx1: mx1 does not know mx3; it offers X-EXPS to every
	// client (org_auth_offer's default with LDAP) and answers mx3's
	// account with KB979174's 454.
	out, errOut, err := runCLI(mx3, "diag", "auth", mx1.Addr, "--config", mx3.Config, "--peer-config", mx1.Config, "--rcpt", "a@example.test")
	want := "FAIL X-EXPS LOGIN                 454 4.7.0 Temporary authentication failure\n" +
		"     likely cause: server mx3 is not in the peer's directory yet: replication lag? (KB979174) This server's replica knows it; until the peer's replica does, it answers 454 4.7.0 and the mail waits here (with org_auth_offer = \"servers\" it does not offer X-EXPS)\n"
	if err == nil || !strings.Contains(out, want) || !strings.Contains(out, "ok   X-EXPS offered               X-EXPS LOGIN") {
		t.Errorf("diag auth from mx3 to mx1: %v\n%s%s\nwant the tail:\n%s", err, out, errOut, want)
	}

	// mx1 to mx3: mx3 offers X-EXPS (it knows mx1), but mx1 cannot tell
	// how to authenticate to a server its replica does not have.
	out, errOut, err = runCLI(mx1, "diag", "auth", mx3.Addr, "--config", mx1.Config, "--peer-config", mx3.Config, "--rcpt", "c@example.test")
	want = "FAIL X-EXPS                       " + mx3.Addr + " is not a server of the organization in this server's directory (by name or address)\n" +
		"     likely cause: server mx3 is not in this server's directory yet: replication lag? (KB979174) Another replica knows it; wait for replication, or check it\n"
	if err == nil || !strings.HasSuffix(out, want) || !strings.Contains(out, "ok   X-EXPS offered") {
		t.Errorf("diag auth from mx1 to mx3: %v\n%s%s\nwant the tail:\n%s", err, out, errOut, want)
	}

	// Replication resumed: the same check passes both ways (mx1 reads
	// its replica anew every cache_ttl, 1 s).
	pair.ResumeReplication()
	pair.WaitReplicated(t, "cn=mx3,ou=servers,"+pair.Provider.Suffix)
	testkit.WaitFor(t, 15*time.Second, "diag auth from mx3 to mx1 to pass", func() bool {
		_, _, err := runCLI(mx3, "diag", "auth", mx1.Addr, "--config", mx3.Config, "--peer-config", mx1.Config, "--rcpt", "a@example.test")
		return err == nil
	})
	out, errOut, err = runCLI(mx1, "diag", "auth", mx3.Addr, "--config", mx1.Config, "--peer-config", mx3.Config, "--rcpt", "c@example.test")
	if err != nil || !strings.HasSuffix(out, "the organization path works: authenticated, and XEXCH50 accepted\n") {
		t.Errorf("diag auth from mx1 to mx3 after replication: %v\n%s%s", err, out, errOut)
	}
}

// diag auth when this server's own directory is down: the check cannot
// start, and its one step says so.
func TestLDAPDiagAuthDirectoryUnavailable(t *testing.T) {
	b := &orgbackend.LDAP{}
	d := orgRecipients(t, "mx1", "mx2")
	homed(d, "mx2", "b@example.test")
	c1, c2 := orgMember("mx1"), orgMember("mx2")
	c1.ListenOnFreePorts(t)
	mx2 := startOrgNetOn(t, b, d, c2)["mx2"]
	mx1 := startOrgNetOn(t, b, d, c1)["mx1"]
	url := b.Slapd.URL
	b.Slapd.Stop()
	out, errOut, err := runCLI(mx1, "diag", "auth", mx2.Addr, "--config", mx1.Config, "--rcpt", "b@example.test")
	want := "FAIL this server's directory      organization directory: directory unavailable: ldap " + url +
		`: LDAP Result Code 200 "Network Error": dial tcp ` + strings.TrimPrefix(url, "ldap://") + ": connect: connection refused\n" +
		"     likely cause: the directory is unavailable: connection refused; until it answers, organization authentication that needs it gets 454 4.7.0 (KB979174) and RCPT to the organization 451 4.3.0\n"
	if err == nil || out != want {
		t.Errorf("diag auth with the directory down: %v\n%s%s\nwant:\n%s", err, out, errOut, want)
	}
}
