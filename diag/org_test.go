package diag

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"strings"
	"testing"
	"time"

	"mailward/config"
	"mailward/directory"
	"mailward/internal/setup"
	"mailward/internal/testkit"
	"mailward/orgauth"
)

// spnOrg is a directory in a state a real one can be in (KB979174): mx1
// lacks SMTPSVC/<fqdn>, and mx2 also holds mx1's SMTP/<fqdn>.
func spnOrg() *directory.Org {
	o := &directory.Org{Name: "Example", Servers: []directory.OrgServer{
		{Name: "mx1", FQDN: "mx1.example.test", Auth: "gssapi",
			SPNs: []string{"SMTP/mx1", "SMTP/mx1.example.test", "SMTPSVC/mx1"}},
		{Name: "mx2", FQDN: "mx2.example.test", Auth: "gssapi",
			SPNs: []string{"SMTP/mx2", "SMTP/mx2.example.test", "SMTPSVC/mx2", "SMTPSVC/mx2.example.test", "SMTP/mx1.example.test"}},
	}}
	o.Normalize()
	return o
}

func cleanOrg() *directory.Org {
	o := &directory.Org{Name: "Example"}
	for _, n := range []string{"mx1", "mx2"} {
		s := directory.OrgServer{Name: n, FQDN: n + ".example.test", Auth: "gssapi"}
		s.SPNs = directory.ExpectedSPNs(&s)
		o.Servers = append(o.Servers, s)
	}
	o.Normalize()
	return o
}

func TestWriteSPNReport(t *testing.T) {
	var b bytes.Buffer
	n, err := WriteSPNReport(&b, spnOrg(), OrgSPNs(spnOrg()), "")
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if n != 3 {
		t.Errorf("problems = %d, want 3 (two duplicates, one missing):\n%s", n, out)
	}
	for _, want := range []string{
		"Registered ServicePrincipalNames for mx1 (mx1.example.test):\n",
		"\tSMTP/mx1.example.test  DUPLICATE: also on mx2\n",
		"\tSMTPSVC/mx1.example.test  MISSING: Kerberos authentication to this name fails (454 4.7.0)\n",
		"Registered ServicePrincipalNames for mx2 (mx2.example.test):\n",
		"\tSMTP/mx1.example.test  DUPLICATE: also on mx1\n",
		"\tSMTPSVC/mx2.example.test\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "MISSING") != 1 || strings.Count(out, "DUPLICATE") != 2 {
		t.Errorf("want 1 MISSING and 2 DUPLICATE lines:\n%s", out)
	}

	// One server, by name or by FQDN: only its lines and problems.
	for _, which := range []string{"mx1", "MX1.example.test"} {
		b.Reset()
		n, err = WriteSPNReport(&b, spnOrg(), OrgSPNs(spnOrg()), which)
		if err != nil || n != 2 {
			t.Errorf("%s: problems = %d, %v; want 2", which, n, err)
		}
		if strings.Contains(b.String(), "mx2 (") {
			t.Errorf("%s: report lists mx2:\n%s", which, b.String())
		}
	}

	b.Reset()
	if n, err = WriteSPNReport(&b, cleanOrg(), OrgSPNs(cleanOrg()), ""); err != nil || n != 0 {
		t.Errorf("clean directory: problems = %d, %v", n, err)
	}
	if strings.Contains(b.String(), "MISSING") || strings.Contains(b.String(), "DUPLICATE") {
		t.Errorf("clean directory reported problems:\n%s", b.String())
	}

	if _, err = WriteSPNReport(io.Discard, spnOrg(), OrgSPNs(spnOrg()), "mx9"); err == nil || !strings.Contains(err.Error(), `no server "mx9"`) {
		t.Errorf("unknown server: err = %v", err)
	}
}

func TestWriteDuplicateSPNs(t *testing.T) {
	var b bytes.Buffer
	if n := WriteDuplicateSPNs(&b, cleanOrg().Name, OrgSPNs(cleanOrg())); n != 0 {
		t.Errorf("clean directory: %d groups", n)
	}
	if want := "Checking organization \"Example\" for duplicate SPNs\nfound 0 group(s) of duplicate SPNs.\n"; b.String() != want {
		t.Errorf("clean directory:\n got %q\nwant %q", b.String(), want)
	}
	b.Reset()
	if n := WriteDuplicateSPNs(&b, spnOrg().Name, OrgSPNs(spnOrg())); n != 1 {
		t.Errorf("duplicates: %d groups, want 1", n)
	}
	out := b.String()
	if !strings.Contains(out, "smtp/mx1.example.test is registered on: mx1, mx2\n") ||
		!strings.HasSuffix(out, "found 1 group(s) of duplicate SPNs.\n") {
		t.Errorf("duplicates report:\n%s", out)
	}
}

// fqdnConfig is a configuration for mx1 with the given fqdn, self and an
// extra virtual server line; the organization knows mx1 as mx1.example.test.
func fqdnConfig(t *testing.T, fqdn, self, vserverExtra string) (*config.Config, *directory.Org) {
	t.Helper()
	conf := `
[server]
fqdn = "` + fqdn + `"
[[domain]]
name = "example.test"
[[virtual_server]]
name = "default"
address = "127.0.0.1:0"
tls = "none"
` + vserverExtra + `
[organization]
name = "Example"
self = "` + self + `"
[[organization.server]]
name = "mx1"
fqdn = "mx1.example.test"
[[organization.server]]
name = "mx2"
fqdn = "mx2.example.test"
`
	cfg, err := config.Parse([]byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	org, err := setup.OrgDirectory(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, org
}

// namesOf are the names a configuration gives its server.
func namesOf(cfg *config.Config) Names {
	n := Names{Outbound: cfg.Server.FQDN, Self: cfg.Organization.Self}
	for _, l := range cfg.VirtualServers {
		n.VirtualServers = append(n.VirtualServers, VirtualServerName{l.Name, l.FQDN})
	}
	return n
}

func TestWriteFQDNReport(t *testing.T) {
	for _, tc := range []struct {
		name, fqdn, self, extra string
		problems                int
		want                    []string
	}{
		{"consistent", "mx1.example.test", "mx1", "", 0, []string{
			"directory entry mx1: fqdn mx1.example.test\n",
			"virtual server default: greets and sends EHLO as mx1.example.test\n",
			"0 problem(s) found\n"}},
		{"self not set", "mx1.example.test", "", "", 1, []string{
			"PROBLEM: organization.self is not set"}},
		{"self unknown", "mx1.example.test", "mx9", "", 1, []string{
			`PROBLEM: organization.self "mx9" is not a server of the organization`}},
		{"virtual server fqdn differs", "mx1.example.test", "mx1", `fqdn = "smtp.example.test"`, 1, []string{
			"virtual server default: greets and sends EHLO as smtp.example.test  PROBLEM: not mx1.example.test",
			"1 problem(s) found\n"}},
		{"server fqdn differs", "mx1.example.local", "mx1", "", 2, []string{
			"as mx1.example.local  PROBLEM: not mx1.example.test, the name the organization knows",
			"PROBLEM: outbound EHLO name mx1.example.local is not mx1.example.test",
			"2 problem(s) found\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, org := fqdnConfig(t, tc.fqdn, tc.self, tc.extra)
			var b bytes.Buffer
			if n := WriteFQDNReport(&b, namesOf(cfg), org); n != tc.problems {
				t.Errorf("problems = %d, want %d:\n%s", n, tc.problems, b.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("report lacks %q:\n%s", w, b.String())
				}
			}
		})
	}

	// Without an organization every peer is external: nothing to check.
	cfg, err := config.Parse([]byte("[server]\nfqdn = \"mx1.example.test\"\n[[domain]]\nname = \"example.test\"\n[[virtual_server]]\nname = \"d\"\naddress = \"127.0.0.1:0\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	org, _ := setup.OrgDirectory(cfg)
	var b bytes.Buffer
	if n := WriteFQDNReport(&b, namesOf(cfg), org); n != 0 || !strings.Contains(b.String(), "no organization configured") {
		t.Errorf("no organization: %d problems:\n%s", n, b.String())
	}
}

func TestParseGreetingTime(t *testing.T) {
	want := time.Date(2026, 11, 23, 4, 45, 17, 0, time.UTC)
	for _, g := range []string{
		// mailward's own greeting (smtp/session.go).
		"220 mx2.example.test ESMTP mailward ready at " + want.Format(time.RFC1123Z),
		// Exchange's.
		"220 mx2.example.test Microsoft ESMTP MAIL Service ready at Mon, 23 Nov 2026 04:45:17 +0000",
		// An offset other than UTC is the same instant.
		"220 mx2.example.test ESMTP ready at Mon, 23 Nov 2026 05:45:17 +0100",
		// Zone name instead of an offset (RFC 1123 with "UTC").
		"220 mx2.example.test ESMTP ready at Mon, 23 Nov 2026 04:45:17 UTC",
	} {
		got, ok := ParseGreetingTime(g)
		if !ok || !got.Equal(want) {
			t.Errorf("ParseGreetingTime(%q) = %v, %v; want %v", g, got, ok, want)
		}
	}
	for _, g := range []string{
		"220 mx.example.net ESMTP Postfix (Debian/GNU)",
		"220 mx.example.net ESMTP",
		"",
		"220 mx.example.net ready at yesterday",
	} {
		if got, ok := ParseGreetingTime(g); ok {
			t.Errorf("ParseGreetingTime(%q) = %v, true; want no date", g, got)
		}
	}
}

// orgPeer is a fake SMTP server standing for an organization peer, with
// the behaviours diag auth must tell apart.
type orgPeer struct {
	offerXEXPS    bool   // advertise X-EXPS LOGIN
	xexpsReply    string // "" = 334 then 235; else the reply to X-EXPS
	dropAtXEXCH50 bool   // close the connection instead of answering XEXCH50
	greeting      string // "" = with the current date
}

func (p orgPeer) start(t *testing.T) *testkit.SMTPServer {
	t.Helper()
	ext := []string{"PIPELINING", "XEXCH50"}
	if p.offerXEXPS {
		ext = []string{"PIPELINING", "X-EXPS LOGIN", "XEXCH50"}
	}
	return testkit.StartSMTP(t, testkit.SMTP{Name: "mx2.example.test", Extensions: ext,
		Greeting: func(int) testkit.Reply {
			if p.greeting != "" {
				return testkit.Reply{Text: p.greeting}
			}
			return testkit.Reply{Text: "220 mx2.example.test ESMTP ready at " + time.Now().UTC().Format(time.RFC1123Z)}
		},
		Handle: func(s *testkit.SMTPSession, verb, line string) testkit.Reply {
			switch verb {
			case "X-EXPS":
				if p.xexpsReply != "" {
					return testkit.Reply{Text: p.xexpsReply}
				}
				if _, ok := s.Ask("334 UGFzc3dvcmQ6"); !ok {
					return testkit.Reply{Hangup: true}
				}
				return testkit.Reply{Text: "235 2.7.0 Authentication successful"}
			case "XEXCH50":
				if p.dropAtXEXCH50 {
					return testkit.Reply{Hangup: true} // as a firewall that kills the session on an unknown verb
				}
				return s.XEXCH50(line)
			}
			return testkit.Reply{}
		}})
}

func authCheck(t *testing.T, addr string) ([]AuthStep, string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	steps := RunAuthCheck(ctx, AuthOptions{Addr: addr, HeloName: "mx1.example.test", Self: "mx1",
		Secret: "mx1-secret", Rcpt: "bob@example.test", Timeout: 5 * time.Second})
	var b bytes.Buffer
	ok := WriteAuthReport(&b, steps)
	return steps, b.String(), ok
}

func firstFail(steps []AuthStep) (AuthStep, bool) {
	for _, s := range steps {
		if !s.OK {
			return s, true
		}
	}
	return AuthStep{}, false
}

func TestRunAuthCheck(t *testing.T) {
	t.Run("X-EXPS not offered", func(t *testing.T) {
		steps, report, ok := authCheck(t, orgPeer{}.start(t).Addr)
		f, failed := firstFail(steps)
		if ok || !failed || f.Name != "X-EXPS offered" {
			t.Fatalf("first FAIL = %+v, want X-EXPS offered:\n%s", f, report)
		}
		for _, w := range []string{"our EHLO name mx1.example.test is not a server of the organization", "FQDN", "org_auth"} {
			if !strings.Contains(f.Advice, w) {
				t.Errorf("advice lacks %q: %s", w, f.Advice)
			}
		}
		if !strings.Contains(report, "FAIL X-EXPS offered") || !strings.Contains(report, "likely cause: ") ||
			!strings.Contains(report, "consequence: mail is delivered without its organization properties: journal reports will be duplicated, restricted groups will refuse") {
			t.Errorf("report:\n%s", report)
		}
	})

	t.Run("454 to X-EXPS", func(t *testing.T) {
		p := orgPeer{offerXEXPS: true, xexpsReply: "454 4.7.0 Temporary authentication failure"}
		steps, report, ok := authCheck(t, p.start(t).Addr)
		f, failed := firstFail(steps)
		if ok || !failed || f.Name != "X-EXPS LOGIN" || !strings.HasPrefix(f.Reply, "454 4.7.0") {
			t.Fatalf("first FAIL = %+v:\n%s", f, report)
		}
		for _, w := range []string{"replication", "clock", "SPN", "1035"} {
			if !strings.Contains(f.Advice, w) {
				t.Errorf("advice lacks %q: %s", w, f.Advice)
			}
		}
	})

	t.Run("connection dropped at XEXCH50", func(t *testing.T) {
		steps, report, ok := authCheck(t, orgPeer{offerXEXPS: true, dropAtXEXCH50: true}.start(t).Addr)
		f, failed := firstFail(steps)
		if ok || !failed || f.Name != "XEXCH50" {
			t.Fatalf("first FAIL = %+v:\n%s", f, report)
		}
		if !strings.Contains(report, "consequence: mail is delivered without its organization properties: journal reports will be duplicated") {
			t.Errorf("report does not name the consequence:\n%s", report)
		}
		if !strings.Contains(f.Advice, "the verb was blocked or the connection dropped") ||
			!strings.Contains(f.Advice, "not a refusal") {
			t.Errorf("advice: %s", f.Advice)
		}
		// The steps before it passed: authentication worked.
		var names []string
		for _, s := range steps {
			names = append(names, s.Name)
		}
		if got := strings.Join(names, ","); !strings.Contains(got, "X-EXPS LOGIN") {
			t.Errorf("steps: %s", got)
		}
	})

	t.Run("all accepted", func(t *testing.T) {
		peer := orgPeer{offerXEXPS: true}.start(t)
		steps, report, ok := authCheck(t, peer.Addr)
		if !ok {
			t.Fatalf("check failed:\n%s", report)
		}
		if _, failed := firstFail(steps); failed {
			t.Fatalf("a step failed:\n%s", report)
		}
		if !strings.HasSuffix(report, "the organization path works: authenticated, and XEXCH50 accepted\n") {
			t.Errorf("report:\n%s", report)
		}
		blobs := peer.Blobs()
		if len(blobs) != 1 {
			t.Fatalf("peer got %d blobs", len(blobs))
		}
		props, err := orgauth.Decode(blobs[0])
		if err != nil || props.Envelope.OriginServer != "mx1" {
			t.Errorf("blob %q: %+v, %v", blobs[0], props, err)
		}
		// LOGIN sends the server name, then its secret.
		want := []string{"X-EXPS LOGIN " + base64.StdEncoding.EncodeToString([]byte("mx1")),
			base64.StdEncoding.EncodeToString([]byte("mx1-secret")), "MAIL FROM:<>", "RCPT TO:<bob@example.test>"}
		got := strings.Join(peer.Commands(), "\n")
		for _, w := range want {
			if !strings.Contains(got, w+"\n") {
				t.Errorf("peer did not get %q:\n%s", w, got)
			}
		}
	})

	t.Run("clock skew", func(t *testing.T) {
		p := orgPeer{offerXEXPS: true,
			greeting: "220 mx2.example.test ESMTP ready at " + time.Now().Add(-10*time.Minute).UTC().Format(time.RFC1123Z)}
		steps, report, _ := authCheck(t, p.start(t).Addr)
		f, failed := firstFail(steps)
		if !failed || f.Name != "clock" || !strings.Contains(f.Advice, "KRB_AP_ERR_SKEW") {
			t.Fatalf("first FAIL = %+v:\n%s", f, report)
		}
	})
}
