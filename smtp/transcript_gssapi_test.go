package smtp_test

import (
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"mailward/events"
	"mailward/orgauth"
	"mailward/smtp"
)

// The receive side of X-EXPS GSSAPI and AUTH GSSAPI at the protocol level:
// who is offered it, the RFC 4954 exchange ("334 " for an empty
// challenge, "*" cancels), and the answers that need no KDC (no keytab,
// directory SPN faults, a defective token). Complete Kerberos exchanges
// against a real MIT realm are in e2e/org_kerberos_test.go.

// gssBase: this virtual server answers as mx1.example.test, the directory's
// "mx2"; mx1.org.test is the peer.
const gssBase = baseConfig + `
[organization]
name = "Example"
self = "mx2"
[[organization.server]]
name = "mx1"
fqdn = "mx1.org.test"
spns = ["SMTP/mx1", "SMTP/mx1.org.test", "SMTPSVC/mx1", "SMTPSVC/mx1.org.test"]
[[organization.server]]
name = "mx2"
fqdn = "mx1.example.test"
spns = ["SMTP/mx2", "SMTP/mx1.example.test", "SMTPSVC/mx2", "SMTPSVC/mx1.example.test"]
`

const gssListener = `name = "org"
tls = "none"
org_auth = ["GSSAPI"]`

func ehloGSS(name string, offered bool) string {
	if offered {
		return ehlo(name, "AUTH GSSAPI", "X-EXPS GSSAPI", "XEXCH50")
	}
	return ehlo(name, "XEXCH50")
}

// withGSSAPI sets an acceptor whose keytab is empty (no ticket can pass,
// and none is needed for these tests) and an event log in a file.
func withGSSAPI(acc *orgauth.Acceptor, evPath string) func(*smtp.Options) {
	return func(o *smtp.Options) {
		o.GSSAPI = acc
		if evPath != "" {
			f, err := events.Open(evPath)
			if err != nil {
				panic(err)
			}
			o.Events = events.New(nil, map[string]events.Level{"auth": events.Maximum}, f)
		}
	}
}

func readEvents(t *testing.T, path string, id int) []events.Record {
	t.Helper()
	recs, err := events.Read(path, events.Filter{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestTranscriptGSSAPIOffer(t *testing.T) {
	acc := &orgauth.Acceptor{Keytab: keytab.New()}
	ts := startServerWith(t, gssBase, gssListener, withOrg(t, gssBase), withGSSAPI(acc, ""))
	// Offered to a server of the organization, as AUTH and X-EXPS.
	play(t, ts.addr, greeting+ehloGSS("mx1.org.test", true))
	// Not to a stranger; and refused if it tries.
	play(t, ts.addr, greeting+ehloGSS("mail.stranger.test", false)+`
C: AUTH GSSAPI
S: 504 5.7.4 GSSAPI is only for servers of the organization; EHLO name mail.stranger.test is not one
C: X-EXPS GSSAPI
S: 504 5.7.4 X-EXPS is only for servers of the organization; EHLO name mail.stranger.test is not one`)
}

func TestTranscriptGSSAPIExchange(t *testing.T) {
	evPath := filepath.Join(t.TempDir(), "events.log")
	acc := &orgauth.Acceptor{Keytab: keytab.New()}
	ts := startServerWith(t, gssBase, gssListener, withOrg(t, gssBase), withGSSAPI(acc, evPath))
	garbage := base64.StdEncoding.EncodeToString([]byte{0x60, 0x03, 1, 2, 3})
	play(t, ts.addr, greeting+ehloGSS("mx1.org.test", true)+`
# RFC 4954: no initial response, an empty challenge is "334 ".
C: X-EXPS GSSAPI
S: 334 
C: *
S: 501 5.0.0 Authentication cancelled
C: AUTH GSSAPI
S: 334 
C: not base64!
S: 501 5.5.2 Cannot decode response
# A defective token is refused for good: 535.
C: X-EXPS GSSAPI `+garbage+`
S: 535 5.7.8 Authentication credentials invalid
C: AUTH GSSAPI =
S: 535 5.7.8 Authentication credentials invalid
C: MAIL FROM:<a@org.test>
S: 250 2.1.0 a@org.test....Sender OK
C: AUTH GSSAPI
S: 503 5.5.1 AUTH not permitted during a mail transaction`)
	recs := readEvents(t, evPath, events.OrgAuthFailed)
	if len(recs) != 2 || recs[0].Fields["error"] != "GSS_S_DEFECTIVE_TOKEN" || recs[0].Fields["server"] != "mx1" ||
		recs[0].Fields["mechanism"] != "X-EXPS GSSAPI" || recs[1].Fields["mechanism"] != "AUTH GSSAPI" {
		t.Fatalf("event 1704: %+v", recs)
	}
}

// KB979174: what makes GSSAPI fail temporarily on this side, found
// before any token is read: no keytab, a duplicate or a missing SPN.
func TestTranscriptGSSAPITemporary(t *testing.T) {
	dup := gssBase + "[[organization.server]]\nname = \"mx3\"\nfqdn = \"mx3.org.test\"\nspns = [\"SMTP/mx1.example.test\"]\n"
	missing := strings.Replace(gssBase, `"SMTP/mx1.example.test", `, "", 1)
	for _, tc := range []struct {
		name, base string
		acc        *orgauth.Acceptor
		want       string
	}{
		{"no keytab", gssBase, nil, "NoKeytab"},
		{"duplicate SPN", dup, &orgauth.Acceptor{Keytab: keytab.New()}, "duplicate SPN SMTP/mx1.example.test (registered on mx2, mx3)"},
		{"missing SPN", missing, &orgauth.Acceptor{Keytab: keytab.New()}, "missing SPN SMTP/mx1.example.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evPath := filepath.Join(t.TempDir(), "events.log")
			ts := startServerWith(t, tc.base, gssListener, withOrg(t, tc.base), withGSSAPI(tc.acc, evPath))
			play(t, ts.addr, greeting+ehloGSS("mx1.org.test", true)+`
C: X-EXPS GSSAPI
S: 454 4.7.0 Temporary authentication failure
C: AUTH GSSAPI
S: 454 4.7.0 Temporary authentication failure`)
			recs := readEvents(t, evPath, events.OrgAuthTemporary)
			if len(recs) != 2 || recs[0].Fields["error"] != tc.want {
				t.Fatalf("event 1035 should name %q: %+v", tc.want, recs)
			}
			want := "Inbound authentication failed with error " + tc.want + " for Receive connector org. The authentication mechanism is GSSAPI. The source IP address of the client who tried to authenticate is [127.0.0.1]."
			if recs[0].Message != want {
				t.Fatalf("event 1035:\n got %s\nwant %s", recs[0].Message, want)
			}
		})
	}
}

// ServerByPrincipal: the principal's instance names the server; other
// principals, realms and authorization identities are refused.
func TestServerByPrincipal(t *testing.T) {
	opt := smtp.Options{}
	withOrg(t, gssBase)(&opt)
	tr := opt.Org.(*orgauth.Trust)
	tr.Realm = "EXAMPLE.TEST"
	for _, tc := range []struct {
		principal, authzid, want string
	}{
		{"SMTP/mx1.org.test@EXAMPLE.TEST", "", "mx1"},
		{"smtp/MX1.org.test@EXAMPLE.TEST", "", "mx1"},
		{"SMTPSVC/mx1.org.test@EXAMPLE.TEST", "mx1", "mx1"},
		{"MX1$@EXAMPLE.TEST", "", "mx1"},
		{"SMTP/mx1.org.test@OTHER.TEST", "", ""},
		{"SMTP/mx9.org.test@EXAMPLE.TEST", "", ""},
		{"HTTP/mx1.org.test@EXAMPLE.TEST", "", ""},
		{"alice@EXAMPLE.TEST", "", ""},
		{"SMTP/mx1.org.test@EXAMPLE.TEST", "postmaster@example.test", ""},
	} {
		got, err := tr.ServerByPrincipal(tc.principal, tc.authzid)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("ServerByPrincipal(%q, %q) = %q, %v; want %q", tc.principal, tc.authzid, got, err, tc.want)
		}
	}
}
