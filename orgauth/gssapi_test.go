package orgauth

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailward/internal/testkdc"
)

// These tests run against a real MIT realm (internal/testkdc) and, for
// interoperability, MIT's GSS-API library through python3-gssapi. They
// fail — never skip — when the programs are missing, naming the packages.

const (
	testRealm  = "EXAMPLE.TEST"
	clientName = "SMTP/mx1.example.test"
	serverHost = "mx2.example.test"
)

type realm struct {
	kdc      *testkdc.KDC
	dir      string
	clientKT string // SMTP/mx1.example.test
	serverKT string // SMTP/, SMTPSVC/, smtp/ mx2.example.test
}

// newRealm starts a realm of its own for one test: the sending server
// mx1 and the receiving server mx2 with its three SPNs.
func newRealm(t *testing.T, opts ...testkdc.Option) *realm {
	t.Helper()
	testkdc.Require(t)
	dir := t.TempDir()
	k, err := testkdc.Start(testRealm, append(opts, testkdc.WithDir(filepath.Join(dir, "kdc")))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	r := &realm{kdc: k, dir: dir, clientKT: filepath.Join(dir, "client.keytab"), serverKT: filepath.Join(dir, "server.keytab")}
	for _, p := range []string{clientName, "SMTP/" + serverHost, "SMTPSVC/" + serverHost, "smtp/" + serverHost} {
		if err := k.AddPrincipal(p, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.Keytab(r.clientKT, clientName); err != nil {
		t.Fatal(err)
	}
	if err := k.Keytab(r.serverKT, "SMTP/"+serverHost, "SMTPSVC/"+serverHost, "smtp/"+serverHost); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *realm) initiator(t *testing.T) *Initiator {
	t.Helper()
	kt, err := LoadKeytab(r.clientKT)
	if err != nil {
		t.Fatal(err)
	}
	i := &Initiator{Krb5Conf: r.kdc.Config, Keytab: kt, Principal: clientName, Realm: testRealm}
	t.Cleanup(i.Close)
	return i
}

func (r *realm) acceptorFrom(t *testing.T, path string) *Acceptor {
	t.Helper()
	kt, err := LoadKeytab(path)
	if err != nil {
		t.Fatal(err)
	}
	return &Acceptor{Keytab: kt}
}

// exchange runs a whole SASL exchange between our two sides, in memory.
func exchange(c *ClientSession, s *ServerSession) error {
	resp, err := c.Start()
	if err != nil {
		return err
	}
	for range 5 {
		chal, sdone, err := s.Step(resp)
		if err != nil {
			return err
		}
		if sdone {
			return nil
		}
		var cdone bool
		resp, cdone, err = c.Step(chal)
		if err != nil {
			return err
		}
		_ = cdone
	}
	return errors.New("exchange did not finish in 5 steps")
}

func asAuthError(t *testing.T, err error) *AuthError {
	t.Helper()
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an *AuthError", err, err)
	}
	t.Logf("%s (kind %v, temporary %v)", ae, ae.Kind, ae.Temporary())
	return ae
}

// TestGSSAPIRoundTrip: our initiator and our acceptor complete RFC 4752,
// for each SPN form the acceptor takes, and the acceptor names the client.
func TestGSSAPIRoundTrip(t *testing.T) {
	r := newRealm(t)
	ini := r.initiator(t)
	ini.AuthzID = "postmaster@example.test"
	acc := r.acceptorFrom(t, r.serverKT)
	for _, svc := range []string{"SMTP", "SMTPSVC", "smtp"} {
		t.Run(svc, func(t *testing.T) {
			c, err := ini.NewClientSession(svc, serverHost)
			if err != nil {
				t.Fatal(err)
			}
			s := acc.NewServerSession("SMTP", serverHost)
			if s.Principal() != "" {
				t.Fatal("Principal before authentication")
			}
			if err := exchange(c, s); err != nil {
				t.Fatal(err)
			}
			if got, want := s.Principal(), clientName+"@"+testRealm; got != want {
				t.Fatalf("Principal() = %q, want %q", got, want)
			}
			if got := s.AuthzID(); got != "postmaster@example.test" {
				t.Fatalf("AuthzID() = %q", got)
			}
			if s.TicketEnd().Before(time.Now()) {
				t.Fatalf("TicketEnd %v in the past", s.TicketEnd())
			}
		})
	}
}

// TestClockSkew: an initiator whose clock is 10 minutes off is refused as
// KRB_AP_ERR_SKEW, temporarily; within the allowed skew it passes.
func TestClockSkew(t *testing.T) {
	r := newRealm(t)
	acc := r.acceptorFrom(t, r.serverKT)
	for _, tc := range []struct {
		shift time.Duration
		ok    bool
	}{{10 * time.Minute, false}, {-10 * time.Minute, false}, {4 * time.Minute, true}} {
		t.Run(tc.shift.String(), func(t *testing.T) {
			ini := r.initiator(t)
			ini.Clock = func() time.Time { return time.Now().Add(tc.shift) }
			c, err := ini.NewClientSession("SMTP", serverHost)
			if err != nil {
				t.Fatal(err)
			}
			err = exchange(c, acc.NewServerSession("SMTP", serverHost))
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			ae := asAuthError(t, err)
			if ae.Kind != ClockSkew || ae.KerberosCode != 37 || !ae.Temporary() || ae.Name() != "KRB_AP_ERR_SKEW" {
				t.Fatalf("got %v (kind %v, code %d, temporary %v, name %s)", ae, ae.Kind, ae.KerberosCode, ae.Temporary(), ae.Name())
			}
		})
	}
	// The acceptor's own clock counts, not the machine's.
	t.Run("acceptor clock", func(t *testing.T) {
		acc2 := r.acceptorFrom(t, r.serverKT)
		acc2.Clock = func() time.Time { return time.Now().Add(-7 * time.Minute) }
		c, err := r.initiator(t).NewClientSession("SMTP", serverHost)
		if err != nil {
			t.Fatal(err)
		}
		ae := asAuthError(t, exchange(c, acc2.NewServerSession("SMTP", serverHost)))
		if ae.Kind != ClockSkew {
			t.Fatalf("got %v", ae)
		}
	})
}

// TestKDCClockSkew: a KDC whose clock is 10 minutes ahead (krb5kdc -T)
// makes the initiator fail with a clock-skew error before any SMTP
// exchange, and that is temporary.
func TestKDCClockSkew(t *testing.T) {
	r := newRealm(t, testkdc.WithClockOffset(600))
	_, err := r.initiator(t).NewClientSession("SMTP", serverHost)
	ae := asAuthError(t, err)
	if ae.Kind != ClockSkew || !ae.Temporary() {
		t.Fatalf("got %v (kind %v)", ae, ae.Kind)
	}
}

// TestWrongKeytab: the receiving server holds a keytab for another
// principal only: KRB_AP_ERR_NOKEY, temporary.
func TestWrongKeytab(t *testing.T) {
	r := newRealm(t)
	other := filepath.Join(r.dir, "mx3.keytab")
	if err := r.kdc.AddPrincipal("SMTP/mx3.example.test", ""); err != nil {
		t.Fatal(err)
	}
	if err := r.kdc.Keytab(other, "SMTP/mx3.example.test"); err != nil {
		t.Fatal(err)
	}
	c, err := r.initiator(t).NewClientSession("SMTP", serverHost)
	if err != nil {
		t.Fatal(err)
	}
	ae := asAuthError(t, exchange(c, r.acceptorFrom(t, other).NewServerSession("SMTP", "")))
	if ae.Kind != NoKey || ae.KerberosCode != 45 || !ae.Temporary() || ae.Name() != "KRB_AP_ERR_NOKEY" {
		t.Fatalf("got %v (kind %v, code %d)", ae, ae.Kind, ae.KerberosCode)
	}
	if !strings.Contains(ae.Error(), "SMTP/mx3.example.test@EXAMPLE.TEST") {
		t.Fatalf("error does not say what the keytab holds: %v", ae)
	}
}

// TestStaleKeytab: the account is re-keyed (ktadd again) after the
// receiving server took its keytab: KRB_AP_ERR_BADKEYVER, temporary.
func TestStaleKeytab(t *testing.T) {
	r := newRealm(t)
	acc := r.acceptorFrom(t, r.serverKT) // kvno 2
	if err := r.kdc.Keytab(filepath.Join(r.dir, "new.keytab"), "SMTP/"+serverHost); err != nil {
		t.Fatal(err) // kvno 3 now
	}
	c, err := r.initiator(t).NewClientSession("SMTP", serverHost)
	if err != nil {
		t.Fatal(err)
	}
	ae := asAuthError(t, exchange(c, acc.NewServerSession("SMTP", serverHost)))
	if ae.Kind != StaleKeytab || ae.KerberosCode != 44 || !ae.Temporary() {
		t.Fatalf("got %v (kind %v, code %d)", ae, ae.Kind, ae.KerberosCode)
	}
	// The re-exported keytab works.
	acc = r.acceptorFrom(t, filepath.Join(r.dir, "new.keytab"))
	c, err = r.initiator(t).NewClientSession("SMTP", serverHost)
	if err != nil {
		t.Fatal(err)
	}
	if err := exchange(c, acc.NewServerSession("SMTP", serverHost)); err != nil {
		t.Fatal(err)
	}
}

// TestWrongHost: a ticket for mx2 presented to a session for mx3.
func TestWrongHost(t *testing.T) {
	r := newRealm(t)
	c, err := r.initiator(t).NewClientSession("SMTP", serverHost)
	if err != nil {
		t.Fatal(err)
	}
	ae := asAuthError(t, exchange(c, r.acceptorFrom(t, r.serverKT).NewServerSession("SMTP", "mx3.example.test")))
	if ae.Kind != WrongPrincipal || ae.KerberosCode != 35 {
		t.Fatalf("got %v (kind %v)", ae, ae.Kind)
	}
}

// TestUnknownService: no SPN registered for the target: the initiator's
// error names KDC_ERR_S_PRINCIPAL_UNKNOWN and is temporary.
func TestUnknownService(t *testing.T) {
	r := newRealm(t)
	_, err := r.initiator(t).NewClientSession("SMTP", "mx9.example.test")
	ae := asAuthError(t, err)
	if ae.Kind != NoSuchService || ae.KerberosCode != 7 || !ae.Temporary() ||
		!strings.Contains(ae.Error(), "KDC_ERR_S_PRINCIPAL_UNKNOWN") || !strings.Contains(ae.Error(), "SMTP/mx9.example.test") {
		t.Fatalf("got %v (kind %v, code %d)", ae, ae.Kind, ae.KerberosCode)
	}
	// Principals are case-sensitive in MIT: SMTP/MX2... is not SMTP/mx2...
	_, err = r.initiator(t).NewClientSession("SMTP", "MX2.EXAMPLE.TEST")
	if ae := asAuthError(t, err); ae.Kind != NoSuchService {
		t.Fatalf("upper-case host: got %v", ae)
	}
	// A principal deleted from the realm is unknown too.
	if err := r.kdc.DeletePrincipal("SMTPSVC/" + serverHost); err != nil {
		t.Fatal(err)
	}
	_, err = r.initiator(t).NewClientSession("SMTPSVC", serverHost)
	if ae := asAuthError(t, err); ae.Kind != NoSuchService {
		t.Fatalf("deleted principal: got %v", ae)
	}
}

// TestKDCDown: with the KDC stopped the initiator fails temporarily
// (KRB5_KDC_UNREACH); after a restart it succeeds.
func TestKDCDown(t *testing.T) {
	r := newRealm(t)
	if err := r.kdc.Stop(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := r.initiator(t).NewClientSession("SMTP", serverHost)
	ae := asAuthError(t, err)
	if ae.Kind != KDCUnreachable || !ae.Temporary() || ae.Name() != "KRB5_KDC_UNREACH" {
		t.Fatalf("got %v (kind %v)", ae, ae.Kind)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a stopped KDC took %v to notice", d)
	}
	if err := r.kdc.Restart(); err != nil {
		t.Fatal(err)
	}
	c, err := r.initiator(t).NewClientSession("SMTP", serverHost)
	if err != nil {
		t.Fatal(err)
	}
	if err := exchange(c, r.acceptorFrom(t, r.serverKT).NewServerSession("SMTP", serverHost)); err != nil {
		t.Fatal(err)
	}
}

// TestReplay: the same AP-REQ presented twice to one acceptor.
func TestReplay(t *testing.T) {
	r := newRealm(t)
	acc := r.acceptorFrom(t, r.serverKT)
	c, err := r.initiator(t).NewClientSession("SMTP", serverHost)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Start()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := acc.NewServerSession("SMTP", serverHost).Step(tok); err != nil {
		t.Fatal(err)
	}
	_, _, err = acc.NewServerSession("SMTP", serverHost).Step(tok)
	ae := asAuthError(t, err)
	if ae.Kind != Replay || ae.KerberosCode != 34 || !ae.Temporary() {
		t.Fatalf("got %v", ae)
	}
}

// TestTamperedLayer: a security-layer answer altered in transit is an
// integrity failure, not temporary; garbage is Malformed.
func TestTamperedLayer(t *testing.T) {
	r := newRealm(t)
	acc := r.acceptorFrom(t, r.serverKT)
	run := func(mangle func([]byte) []byte) error {
		c, err := r.initiator(t).NewClientSession("SMTP", serverHost)
		if err != nil {
			t.Fatal(err)
		}
		s := acc.NewServerSession("SMTP", serverHost)
		resp, err := c.Start()
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < 3; n++ {
			if n == 2 {
				resp = mangle(resp)
			}
			chal, done, err := s.Step(resp)
			if err != nil || done {
				return err
			}
			if resp, _, err = c.Step(chal); err != nil {
				t.Fatal(err)
			}
		}
		return errors.New("not finished")
	}
	ae := asAuthError(t, run(func(b []byte) []byte { b = append([]byte{}, b...); b[16] ^= 1; return b }))
	if ae.Kind != Integrity || ae.Temporary() || ae.Name() != "GSS_S_BAD_SIG" {
		t.Fatalf("tampered: got %v", ae)
	}
	ae = asAuthError(t, run(func([]byte) []byte { return []byte("hello") }))
	if ae.Kind != Malformed || ae.Temporary() {
		t.Fatalf("garbage: got %v", ae)
	}
	// A garbage first token.
	_, _, err := acc.NewServerSession("SMTP", serverHost).Step([]byte{0x60, 0x03, 1, 2, 3})
	if ae := asAuthError(t, err); ae.Kind != Malformed || ae.Name() != "GSS_S_DEFECTIVE_TOKEN" {
		t.Fatalf("garbage AP-REQ: got %v", ae)
	}
}

// --- MIT interoperability through python3-gssapi -------------------------
