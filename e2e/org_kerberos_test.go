package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"mailward/internal/testkdc"
	"mailward/internal/testkit"
)

// The organization of e2e/org_test.go with Kerberos instead of LOGIN: a
// real MIT realm (internal/testkdc: krb5kdc on a free loopback port),
// both servers' directory entries say auth = "gssapi", each server has
// its own keytab, and mx1 relays to mx2 with X-EXPS GSSAPI. The tests
// FAIL (never skip) when the MIT programs are missing.

const krbRealm = "EXAMPLE.TEST"

// krbDirectory is the shared organization directory: both servers take
// Kerberos, with the four SPNs KB979174 asks for.
const krbDirectory = `
[[server]]
name = "mx1"
fqdn = "mx1.example.test"
auth = "gssapi"
spns = ["SMTP/mx1", "SMTP/mx1.example.test", "SMTPSVC/mx1", "SMTPSVC/mx1.example.test"]
[[server]]
name = "mx2"
fqdn = "mx2.example.test"
addresses = ["127.0.0.1"]
auth = "gssapi"
spns = ["SMTP/mx2", "SMTP/mx2.example.test", "SMTPSVC/mx2", "SMTPSVC/mx2.example.test"]
`

// krbMX2 is orgMX2 taking X-EXPS GSSAPI with its keytab mx2.keytab in
// the realm whose krb5.conf is krb5Conf.
func krbMX2(krb5Conf string) *testkit.Config {
	c := orgMX2()
	c.VirtualServers[0].OrgAuth = []string{"GSSAPI"}
	c.Organization.Keytab, c.Organization.Krb5Conf, c.Organization.Realm = "mx2.keytab", krb5Conf, krbRealm
	return c
}

// krbMX1 is orgMX1 for mx1 authenticating with Kerberos (mx1.keytab)
// instead of a secret.
func krbMX1(smartHost, krb5Conf string) *testkit.Config {
	c := orgMX1("mx1.example.test", smartHost, "mx1")
	c.Organization.PasswordFile = ""
	c.Organization.Keytab, c.Organization.Krb5Conf, c.Organization.Realm = "mx1.keytab", krb5Conf, krbRealm
	return c
}

var mx2Principals = []string{"SMTP/mx2.example.test", "SMTPSVC/mx2.example.test", "smtp/mx2.example.test"}

// startRealm starts EXAMPLE.TEST with mx1's and mx2's principals.
func startRealm(t *testing.T, opts ...testkdc.Option) *testkdc.KDC {
	t.Helper()
	testkdc.Require(t) // names the missing programs and the apt-get line
	k, err := testkdc.Start(krbRealm, append(opts, testkdc.WithDir(filepath.Join(t.TempDir(), "kdc")))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	for _, p := range append([]string{"SMTP/mx1.example.test"}, mx2Principals...) {
		if err := k.AddPrincipal(p, ""); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// krbServer writes the directory and the server's keytab (kadmin ktadd)
// beside its configuration and starts it.
func krbServer(t *testing.T, k *testkdc.KDC, cfg *testkit.Config, directory, keytab string, principals []string, env []string) *server {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "organization.toml"), []byte(directory), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := k.Keytab(filepath.Join(dir, keytab), principals...); err != nil {
		t.Fatal(err)
	}
	return startServerEnv(t, dir, cfg, env)
}

// startKrbOrg starts mx2 (directory mx2Dir) and mx1 (krbDirectory,
// environment mx1Env) on realm k.
func startKrbOrg(t *testing.T, k *testkdc.KDC, mx2Dir string, mx1Env []string) (mx1, mx2 *server) {
	t.Helper()
	mx2 = krbServer(t, k, krbMX2(k.Config), mx2Dir, "mx2.keytab", mx2Principals, nil)
	mx1 = krbServer(t, k, krbMX1(mx2.Addr, k.Config), krbDirectory, "mx1.keytab",
		[]string{"SMTP/mx1.example.test"}, mx1Env)
	return mx1, mx2
}

// kb979174 is the queue viewer's last error for a primary answer.
func kb979174(primary string) string {
	return `451 4.4.0 Primary target IP address responded with: "` + primary + `." Attempted failover to alternate host, ` +
		`but that did not succeed. Either there are no alternate hosts, or delivery failed to all alternate hosts.`
}

// The properties arrive on mx2 after X-EXPS GSSAPI (event 1712 at
// maximum), and mx1 logs no authentication trouble.
func TestOrgKerberosPropertiesArrive(t *testing.T) {
	k := startRealm(t)
	mx1, mx2 := startKrbOrg(t, k, krbDirectory, nil)
	relayMsg(t, mx1, "<alice@relay.example.test>", "<bob@example.test>", "kerberos")
	delivered(t, mx2, "bob@example.test", 1)
	if r := mx2.EventsFor(1031, "mechanism", "X-EXPS GSSAPI"); len(r) != 1 || r[0].Fields["user"] != "mx1" ||
		r[0].Fields["principal"] != "SMTP/mx1.example.test@EXAMPLE.TEST" {
		t.Errorf("mx2 did not log mx1's Kerberos authentication: %+v", r)
	}
	if recs := mx2.Events(1712); len(recs) != 1 || recs[0].Fields["server"] != "mx1" {
		t.Errorf("mx2 did not accept organization properties from mx1: %+v", recs)
	}
	if n := len(mx1.Events(7004)) + len(mx1.Events(7006)); n != 0 {
		t.Errorf("mx1 logged %d XEXCH50/auth failures: %+v %+v", n, mx1.Events(7004), mx1.Events(7006))
	}
	// A second message reuses the cached tickets (no KDC needed) and
	// authenticates again on a new session or rides the cached one.
	if err := k.Stop(); err != nil {
		t.Fatal(err)
	}
	relayMsg(t, mx1, "<alice@relay.example.test>", "<bob@example.test>", "kerberos 2")
	delivered(t, mx2, "bob@example.test", 2)
}

// The KDC is down before mx1 ever logged in: mx1 cannot get a ticket, so
// it never sends X-EXPS; the message stays queued with KB979174's last
// error, whose primary answer is the local KRB5_KDC_UNREACH failure (mx2
// is never asked). Delivered after the KDC comes back.
func TestOrgKerberosKDCDown(t *testing.T) {
	k := startRealm(t)
	mx1, mx2 := startKrbOrg(t, k, krbDirectory, nil)
	if err := k.Stop(); err != nil {
		t.Fatal(err)
	}
	id := relayMsg(t, mx1, "<alice@relay.example.test>", "<bob@example.test>", "kdc down")
	prefix := kb979174("Kerberos authentication to mx2.example.test failed here, before X-EXPS: orgauth: KRB5_KDC_UNREACH: ")
	prefix = prefix[:strings.Index(prefix, "KRB5_KDC_UNREACH: ")+len("KRB5_KDC_UNREACH: ")]
	suffix := `." Attempted failover to alternate host, but that did not succeed. Either there are no alternate hosts, or delivery failed to all alternate hosts.`
	var got string
	testkit.WaitFor(t, 10*time.Second, "KB979174's last error naming KRB5_KDC_UNREACH", func() bool {
		got, _ = queueLastError(t, mx1, mx2.Addr, id)
		return strings.HasPrefix(got, prefix) && strings.HasSuffix(got, suffix)
	})
	t.Logf("last error: %s", got)
	if r := mx1.Events(7006); len(r) == 0 || !strings.Contains(r[0].Message, "KRB5_KDC_UNREACH") {
		t.Errorf("mx1 event 7006 should name KRB5_KDC_UNREACH: %+v", r)
	}
	if len(mx2.Maildir("bob@example.test")) != 0 || len(mx1.QueueActive()) != 1 {
		t.Fatalf("the message should wait in mx1's queue (mx1 queue %v)", mx1.QueueActive())
	}
	if len(mx2.Events(1031))+len(mx2.Events(1035)) != 0 {
		t.Errorf("mx2 was asked to authenticate although mx1 had no ticket")
	}
	// mailward diag auth names the cause the way an administrator needs it.
	out, err := mx1.Run("diag", "auth", mx2.Addr, "--config", mx1.Config, "--rcpt", "bob@example.test")
	if err == nil || !strings.Contains(out, "FAIL X-EXPS") || !strings.Contains(out, "the KDC cannot be reached") {
		t.Errorf("diag auth with the KDC down:\n%s", out)
	}
	if err := k.Restart(); err != nil {
		t.Fatal(err)
	}
	delivered(t, mx2, "bob@example.test", 1)
	out, err = mx1.Run("diag", "auth", mx2.Addr, "--config", mx1.Config, "--rcpt", "bob@example.test")
	if err != nil || !strings.Contains(out, "the organization path works") {
		t.Errorf("diag auth with the KDC back (%v):\n%s", err, out)
	}
}

// KB979174's 454 from the receiving server, for each directory/realm
// fault: mx1 keeps the message with the exact last error, mx2 logs event
// 1035 naming the cause.
func TestOrgKerberos454(t *testing.T) {
	missing := strings.Replace(krbDirectory, `"SMTP/mx2.example.test", `, "", 1)
	duplicate := strings.Replace(krbDirectory, `"SMTPSVC/mx1.example.test"]`, `"SMTPSVC/mx1.example.test", "SMTP/mx2.example.test"]`, 1)
	for _, tc := range []struct {
		name      string
		directory string
		mx1Env    []string
		prepare   func(t *testing.T, k *testkdc.KDC)
		wantError string // event 1035's error on mx2
		check     func(t *testing.T, k *testkdc.KDC, mx1, mx2 *server)
	}{{
		// mx1's clock is 10 minutes ahead (test hook on its Kerberos
		// clock: a Go binary's clock cannot be shifted from outside).
		name: "clock skew", directory: krbDirectory, mx1Env: []string{"MAILWARD_TEST_CLOCK_OFFSET=10m"},
		wantError: "KRB_AP_ERR_SKEW",
		check: func(t *testing.T, k *testkdc.KDC, mx1, mx2 *server) {
			// The clock is fixed: the next retry delivers.
			mx1.Env = nil
			mx1.Restart()
			delivered(t, mx2, "bob@example.test", 1)
		},
	}, {
		// SMTP/mx2.example.test is gone from the realm and from mx2's
		// entry; mx1 falls back to SMTPSVC/mx2.example.test, mx2 sees its
		// entry lacks the SPN.
		name: "missing SPN", directory: missing,
		prepare: func(t *testing.T, k *testkdc.KDC) {
			if err := k.DeletePrincipal("SMTP/mx2.example.test"); err != nil {
				t.Fatal(err)
			}
		},
		wantError: "missing SPN SMTP/mx2.example.test",
		check: func(t *testing.T, k *testkdc.KDC, mx1, mx2 *server) {
			// The realm refused SMTP/ and issued SMTPSVC/.
			log := readFile(t, filepath.Join(k.Dir, "kdc.log"))
			if !strings.Contains(log, "SMTP/mx1.example.test@EXAMPLE.TEST for SMTP/mx2.example.test@EXAMPLE.TEST, Server not found") ||
				!regexp.MustCompile(`ISSUE: .* SMTP/mx1.example.test@EXAMPLE.TEST for SMTPSVC/mx2.example.test@EXAMPLE.TEST`).MatchString(log) {
				t.Errorf("the KDC log does not show SMTP/ refused and SMTPSVC/ issued:\n%s", log)
			}
			out, err := mx2.Run("diag", "spn", "--server", "mx2", "--config", mx2.Config)
			if err == nil || !strings.Contains(out, "SMTP/mx2.example.test  MISSING") {
				t.Errorf("diag spn --server mx2 (err %v):\n%s", err, out)
			}
		},
	}, {
		name: "duplicate SPN", directory: duplicate,
		wantError: "duplicate SPN SMTP/mx2.example.test (registered on mx1, mx2)",
		check: func(t *testing.T, k *testkdc.KDC, mx1, mx2 *server) {
			out, err := mx2.Run("diag", "spn", "--duplicates", "--config", mx2.Config)
			if err == nil || !strings.Contains(out, "found 1 group(s) of duplicate SPNs.") {
				t.Errorf("diag spn --duplicates (err %v):\n%s", err, out)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			k := startRealm(t)
			mx1, mx2 := startKrbOrg(t, k, tc.directory, tc.mx1Env)
			if tc.prepare != nil {
				tc.prepare(t, k) // after the keytabs were taken
			}
			id := relayMsg(t, mx1, "<alice@relay.example.test>", "<bob@example.test>", tc.name)
			want := kb979174("454 4.7.0 Temporary authentication failure")
			var got string
			testkit.WaitFor(t, 10*time.Second, "KB979174's last error", func() bool {
				got, _ = queueLastError(t, mx1, mx2.Addr, id)
				return got == want
			})
			recs := mx2.Events(1035)
			if len(recs) == 0 || recs[0].Fields["error"] != tc.wantError {
				t.Fatalf("mx2 event 1035 should name %q: %+v", tc.wantError, recs)
			}
			wantMsg := "Inbound authentication failed with error " + tc.wantError +
				" for Receive connector default. The authentication mechanism is GSSAPI. The source IP address of the client who tried to authenticate is [127.0.0.1]."
			if recs[0].Message != wantMsg {
				t.Errorf("event 1035 message:\n got %s\nwant %s", recs[0].Message, wantMsg)
			}
			if r := mx1.Events(7006); len(r) == 0 || !strings.Contains(r[0].Message, "454 4.7.0 Temporary authentication failure") {
				t.Errorf("mx1 event 7006: %+v", r)
			}
			if len(mx2.Maildir("bob@example.test")) != 0 || len(mx1.QueueActive()) != 1 {
				t.Fatal("the message should wait in mx1's queue")
			}
			t.Logf("1035: %s (detail: %s)", recs[0].Message, recs[0].Fields["detail"])
			if tc.check != nil {
				tc.check(t, k, mx1, mx2)
			}
		})
	}
}

// A KDC whose clock is 10 minutes ahead (krb5kdc -T 600): mx1's Kerberos
// library refuses the KDC's reply, so the failure is local to mx1
// (KRB_AP_ERR_SKEW before X-EXPS) and the message stays queued.
func TestOrgKerberosKDCClockSkew(t *testing.T) {
	k := startRealm(t, testkdc.WithClockOffset(600))
	mx1, mx2 := startKrbOrg(t, k, krbDirectory, nil)
	id := relayMsg(t, mx1, "<alice@relay.example.test>", "<bob@example.test>", "kdc skew")
	prefix := `451 4.4.0 Primary target IP address responded with: "Kerberos authentication to mx2.example.test failed here, before X-EXPS: orgauth: KRB_AP_ERR_SKEW: `
	var got string
	testkit.WaitFor(t, 10*time.Second, "KB979174's last error naming KRB_AP_ERR_SKEW", func() bool {
		got, _ = queueLastError(t, mx1, mx2.Addr, id)
		return strings.HasPrefix(got, prefix)
	})
	t.Logf("last error: %s", got)
	if len(mx2.Maildir("bob@example.test")) != 0 {
		t.Fatal("delivered despite the skew")
	}
}

// pyGSSAPIClient is an SMTP client on MIT's GSS-API (python3-gssapi):
// EHLO, STARTTLS, EHLO, then AUTH GSSAPI per RFC 4954/4752 over a raw
// socket (smtplib has no GSSAPI). mode "initial" sends the first token
// on the AUTH line, "bare" after an empty 334, "stranger" only tries.
const pyGSSAPIClient = `
import base64, socket, ssl, sys
import gssapi
addr, helo, mode = sys.argv[1], sys.argv[2], sys.argv[3]
host, port = addr.rsplit(":", 1)
sock = socket.create_connection((host, int(port)), timeout=15)
f = sock.makefile("rb")
def reply():
    lines = []
    while True:
        l = f.readline()
        if not l: sys.exit("connection closed after %r" % lines)
        l = l.decode().rstrip("\r\n")
        lines.append(l)
        if len(l) < 4 or l[3] != "-":
            return int(l[:3]), lines
def cmd(line):
    sock.sendall(line.encode() + b"\r\n")
    return reply()
def want(code, got):
    if got[0] != code: sys.exit("want %d, got %r" % (code, got[1]))
    return got[1]
want(220, reply())
want(250, cmd("EHLO " + helo))
want(220, cmd("STARTTLS"))
tls = ssl.create_default_context()
tls.check_hostname = False
tls.verify_mode = ssl.CERT_NONE
sock = tls.wrap_socket(sock, server_hostname="mx2.example.test")
f = sock.makefile("rb")
lines = want(250, cmd("EHLO " + helo))
auth = [l[4:] for l in lines if l[4:].upper().startswith("AUTH ")]
print("AUTH-LINE " + (auth[0] if auth else "none"), flush=True)
if mode == "stranger":
    print("STRANGER %s" % cmd("AUTH GSSAPI")[1][-1], flush=True)
    cmd("QUIT"); sys.exit(0)
F = gssapi.RequirementFlag
ctx = gssapi.SecurityContext(name=gssapi.Name("smtp@mx2.example.test", gssapi.NameType.hostbased_service),
    usage="initiate", flags=F.mutual_authentication | F.integrity | F.replay_detection | F.out_of_sequence_detection)
tok = base64.b64encode(ctx.step()).decode()
if mode == "initial":
    got = cmd("AUTH GSSAPI " + tok)
else:
    if want(334, cmd("AUTH GSSAPI"))[-1] != "334 ": sys.exit("want an empty challenge '334 '")
    got = cmd(tok)
chal = base64.b64decode(want(334, got)[-1][4:])
if not ctx.complete:
    ctx.step(chal)
if not ctx.complete: sys.exit("context not complete after the AP-REP")
offer = ctx.unwrap(base64.b64decode(want(334, cmd(""))[-1][4:])).message
if len(offer) != 4 or not (offer[0] & 1): sys.exit("bad security-layer offer " + offer.hex())
got = cmd(base64.b64encode(ctx.wrap(bytes([1, 0, 0, 0]), False).message).decode())
print("RESULT %s" % got[1][-1], flush=True)
print("TOKEN %d" % len(tok), flush=True)
cmd("QUIT")
`

// MIT interoperability: an MIT GSS-API client (python3-gssapi, ticket
// from kinit -k -t with mx1's keytab, asking for smtp@mx2.example.test as
// SASL clients do) authenticates to mailward's AUTH GSSAPI, offered to an
// organization server's EHLO name and to no one else.
func TestOrgKerberosMITClient(t *testing.T) {
	py := testkdc.RequirePythonGSSAPI(t)
	k := startRealm(t)
	mx1, mx2 := startKrbOrg(t, k, krbDirectory, nil)
	cc := filepath.Join(t.TempDir(), "mx1.ccache")
	if err := k.Kinit(cc, filepath.Join(mx1.Dir, "mx1.keytab"), "SMTP/mx1.example.test"); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "client.py")
	if err := os.WriteFile(script, []byte(pyGSSAPIClient), 0o600); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "KRB5") {
			env = append(env, e)
		}
	}
	env = append(append(env, k.Env()...), "KRB5CCNAME=FILE:"+cc)
	run := func(helo, mode string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, py, script, mx2.Addr, helo, mode)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("python (%s, %s): %v\n%s", helo, mode, err, out)
		}
		return string(out)
	}
	for _, mode := range []string{"bare", "initial"} {
		out := run("mx1.example.test", mode)
		t.Logf("%s:\n%s", mode, out)
		if !strings.Contains(out, "AUTH-LINE AUTH GSSAPI\n") || !strings.Contains(out, "RESULT 235 2.7.0 Authentication successful") {
			t.Fatalf("%s: want AUTH GSSAPI offered and 235:\n%s", mode, out)
		}
	}
	if r := mx2.EventsFor(1031, "mechanism", "AUTH GSSAPI"); len(r) != 2 || r[0].Fields["user"] != "mx1" {
		t.Errorf("mx2 event 1031 for AUTH GSSAPI: %+v", r)
	}
	out := run("stranger.example.net", "stranger")
	if !strings.Contains(out, "AUTH-LINE none") || !strings.Contains(out, "STRANGER 504 5.7.4") {
		t.Errorf("a stranger must not be offered GSSAPI:\n%s", out)
	}
}
