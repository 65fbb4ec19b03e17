package smtp_test

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mailward/config"
	"mailward/directory"
	"mailward/internal/setup"
	"mailward/orgauth"
	"mailward/smtp"
)

// orgBase: mx1 (LOGIN secret "mx1-secret") and mx2 are the organization;
// this server is mx2. groups model KB843106's nesting.
const orgBase = baseConfig + `
[organization]
name = "Example"
self = "mx2"
[[organization.server]]
name = "mx1"
fqdn = "mx1.org.test"
auth = "login"
password_hash = "$2a$10$.OVCvNJWJ/Oq8rRK1B5h1.DZaZXalHwFYqtaiBbingugcFgxnT7oG"
[[organization.server]]
name = "mx2"
fqdn = "mx2.org.test"
auth = "login"
password_hash = "$2a$10$.OVCvNJWJ/Oq8rRK1B5h1.DZaZXalHwFYqtaiBbingugcFgxnT7oG"
[[organization.group]]
name = "domain-servers"
members = ["mx1", "mx2"]
[[organization.group]]
name = "infrastructure"
members = ["domain-servers"]
[[organization.permission]]
right = "send-as"
principal = "domain-servers"
type = "allow"
`

func withOrg(t *testing.T, base string) func(*smtp.Options) {
	return func(o *smtp.Options) {
		cfg, err := config.Parse([]byte(base + "\n[[virtual_server]]\nname = \"x\"\naddress = \"127.0.0.1:0\"\n"))
		if err != nil {
			t.Fatal(err)
		}
		org, err := setup.Organization(cfg)
		if err != nil {
			t.Fatal(err)
		}
		o.Org = org.Trust
	}
}

const orgListener = `name = "org"
tls = "none"
org_auth = ["LOGIN"]`

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func blob(t *testing.T) string {
	scl := 3
	b, err := (&orgauth.Props{Envelope: orgauth.EnvelopeProp{AuthSender: "alice@example.test"},
		Message: orgauth.MessageProp{SCL: &scl, Journaled: true}}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func ehloOrg(name string, xexps bool) string {
	if xexps {
		return ehlo(name, "X-EXPS LOGIN", "XEXCH50")
	}
	return ehlo(name, "XEXCH50")
}

// KB843106 end to end at the protocol level: an organization server
// authenticates with X-EXPS, passes properties with XEXCH50, and they are
// attached to the queued message.
func TestTranscriptXEXCH50FromAuthenticatedPeer(t *testing.T) {
	ts := startServerWith(t, orgBase, orgListener, withOrg(t, orgBase))
	p := blob(t)
	play(t, ts.addr, greeting+ehloOrg("mx1.org.test", true)+`
C: X-EXPS LOGIN
S: 334 VXNlcm5hbWU6
C: `+b64("mx1")+`
S: 334 UGFzc3dvcmQ6
C: `+b64("mx1-secret")+`
S: 235 2.7.0 Authentication successful
C: MAIL FROM:<alice@example.test>
S: 250 2.1.0 alice@example.test....Sender OK
C: XEXCH50 10 2
S: 503 5.5.1 Need RCPT before XEXCH50
C: RCPT TO:<bob@example.test>
S: 250 2.1.5 bob@example.test
`+xexch50(p)+`C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
W: Subject: org\r\n\r\nx\r\n.\r\n
S~ 250 2\.6\.0 [0-9A-F]{19} Queued mail for delivery`)
	q := ts.queued(t)
	b, _ := os.ReadFile(filepath.Join(ts.dir, "queue", "active", q[0].ID))
	if !strings.Contains(string(b), "\nxexch50 "+base64.StdEncoding.EncodeToString([]byte(p))+"\n") {
		t.Fatalf("properties not attached to the queued envelope:\n%s", b)
	}
}

// KB843106's failure modes, each with the answer the article describes.
func TestTranscriptXEXCH50Refusals(t *testing.T) {
	t.Run("stranger: no X-EXPS offered, 504 on XEXCH50", func(t *testing.T) {
		ts := startServerWith(t, orgBase, orgListener, withOrg(t, orgBase))
		play(t, ts.addr, greeting+ehloOrg("mail.stranger.test", false)+`
C: X-EXPS LOGIN
S: 504 5.7.4 X-EXPS is only for servers of the organization; EHLO name mail.stranger.test is not one
C: MAIL FROM:<x@stranger.test>
S: 250 2.1.0 x@stranger.test....Sender OK
C: RCPT TO:<bob@example.test>
S: 250 2.1.5 bob@example.test
C: XEXCH50 100 2
S: 504 Need to authenticate first`)
	})
	t.Run("organization server that did not authenticate", func(t *testing.T) {
		ts := startServerWith(t, orgBase, orgListener, withOrg(t, orgBase))
		play(t, ts.addr, greeting+ehloOrg("mx1.org.test", true)+`
C: MAIL FROM:<alice@example.test>
S: 250 2.1.0 alice@example.test....Sender OK
C: RCPT TO:<bob@example.test>
S: 250 2.1.5 bob@example.test
C: XEXCH50 100 2
S: 504 Need to authenticate first`)
	})
	t.Run("wrong secret: 535; unknown account: 454 temporary", func(t *testing.T) {
		ts := startServerWith(t, orgBase, orgListener, withOrg(t, orgBase))
		play(t, ts.addr, greeting+ehloOrg("mx1.org.test", true)+`
C: X-EXPS LOGIN `+b64("mx1")+`
S: 334 UGFzc3dvcmQ6
C: `+b64("wrong")+`
S: 535 5.7.8 Authentication credentials invalid
C: X-EXPS LOGIN `+b64("mx9")+`
S: 334 UGFzc3dvcmQ6
C: `+b64("mx1-secret")+`
S: 454 4.7.0 Temporary authentication failure`)
	})
	t.Run("directory unavailable (LDAP copy expired): 454 temporary, even for the right secret", func(t *testing.T) {
		down := func(o *smtp.Options) {
			o.Org.(*orgauth.Trust).Available = func() error {
				return fmt.Errorf("%w: ldap://127.0.0.1:1: connection refused", directory.ErrUnavailable)
			}
		}
		ts := startServerWith(t, orgBase, orgListener, withOrg(t, orgBase), down)
		play(t, ts.addr, greeting+ehloOrg("mx1.org.test", true)+`
C: X-EXPS LOGIN `+b64("mx1")+`
S: 334 UGFzc3dvcmQ6
C: `+b64("mx1-secret")+`
S: 454 4.7.0 Temporary authentication failure`)
	})
	for _, deny := range []string{"domain-servers", "infrastructure", "mx1"} {
		t.Run("DENY send-as on "+deny, func(t *testing.T) {
			base := orgBase + "[[organization.permission]]\nright = \"send-as\"\nprincipal = \"" + deny + "\"\ntype = \"deny\"\n"
			ts := startServerWith(t, base, orgListener, withOrg(t, base))
			play(t, ts.addr, greeting+ehloOrg("mx1.org.test", true)+`
`+xexpsMX1+`C: MAIL FROM:<alice@example.test>
S: 250 2.1.0 alice@example.test....Sender OK
C: RCPT TO:<bob@example.test>
S: 250 2.1.5 bob@example.test
C: XEXCH50 100 2
S~ 550 5\.7\.1 Permission denied: SendAs is denied for mx1 \(DENY send-as on "`+deny+`" .*\)`)
		})
	}
}

// KB843106: with STARTTLS, authentication must come after TLS; a
// session that does STARTTLS and skips X-EXPS fails XEXCH50 with 504.
func TestTranscriptXEXCH50NeedsAuthAfterSTARTTLS(t *testing.T) {
	ts := startServerWith(t, orgBase, `name = "org"
tls = "starttls"
org_auth = ["LOGIN"]`, withOrg(t, orgBase))
	play(t, ts.addr, greeting+ehlo("mx1.org.test", "STARTTLS", "XEXCH50")+`C: X-EXPS LOGIN
S: 538 5.7.11 Encryption required: STARTTLS, then EHLO, then X-EXPS
C: STARTTLS
S: 220 2.0.0 Ready to start TLS
TLS
`+ehloOrg("mx1.org.test", true)+`C: MAIL FROM:<alice@example.test>
S: 250 2.1.0 alice@example.test....Sender OK
C: RCPT TO:<bob@example.test>
S: 250 2.1.5 bob@example.test
C: XEXCH50 100 2
S: 504 Need to authenticate first`)
}
