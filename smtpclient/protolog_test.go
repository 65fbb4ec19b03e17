package smtpclient

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"mailward/internal/testkit"
	"mailward/protolog"
)

// The outbound protocol log of real sessions against the fake server:
// AUTH PLAIN and AUTH LOGIN masked, a message by BDAT and one by DATA
// with their content left out.
func TestOutboundProtocolLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "protocol.log")
	l, err := protolog.Open(protolog.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	state := 0
	srv := testkit.StartSMTP(t, testkit.SMTP{
		Extensions: append([]string{"AUTH PLAIN LOGIN", "CHUNKING"}, testkit.DefaultExtensions...),
		Handle: func(s *testkit.SMTPSession, verb, line string) testkit.Reply {
			switch {
			case strings.HasPrefix(line, "AUTH PLAIN "):
				return testkit.Reply{Text: "235 2.7.0 ok"}
			case line == "AUTH LOGIN":
				state = 1
				return testkit.Reply{Text: "334 VXNlcm5hbWU6"}
			case state == 1:
				state = 2
				return testkit.Reply{Text: "334 UGFzc3dvcmQ6"}
			case state == 2:
				state = 0
				return testkit.Reply{Text: "235 2.7.0 ok"}
			}
			return testkit.Reply{}
		},
	})
	plain := base64.StdEncoding.EncodeToString([]byte("\x00user@d.test\x00out-secret"))
	o := opts()
	o.ProtocolLog = l
	env := Envelope{From: "a@b.test", Recipients: []Rcpt{{Addr: "c@d.test"}}}
	body := "Subject: outbound-marker\r\n\r\nconfidential-outbound-text\r\n"

	c := mustDial(t, srv.Addr, o)
	for _, cmd := range []string{"AUTH PLAIN " + plain, "AUTH LOGIN", b64("user@d.test"), b64("out-secret")} {
		if _, err := c.Cmd(testCtx(t), 0, "%s", cmd); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Send(testCtx(t), env, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	o.NoChunking = true
	c = mustDial(t, srv.Addr, o)
	if _, err := c.Send(testCtx(t), env, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	if n := srv.Count(); n != 2 {
		t.Fatalf("the fake got %d messages, want 2", n)
	}

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{plain, "out-secret", b64("out-secret"), b64("user@d.test"), "outbound-marker", "confidential-outbound-text"} {
		if strings.Contains(string(b), s) {
			t.Fatalf("protocol log contains %q:\n%s", s, b)
		}
	}
	re := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (C[0-9a-f]+-\d+) ` + regexp.QuoteMeta(srv.Addr) + ` ([<>=]) (.*)$`)
	var got []string
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		m := re.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("malformed line %q in\n%s", line, b)
		}
		got = append(got, m[2]+" "+m[3])
	}
	ehlo := []string{"> EHLO client.test", "~< 250-.*", "~< 250-AUTH PLAIN LOGIN", "~< 250-CHUNKING", "~< 250-.*", "~< 250-.*", "~< 250-.*", "~< 250-.*", "~< 250 .*"}
	want := append(append([]string{"= outbound to mx.example.test", "~< 220 .*"}, ehlo...),
		"> AUTH PLAIN ***", "< 235 2.7.0 ok",
		"> AUTH LOGIN", "< 334 ***", "> ***", "< 334 ***", "> ***", "< 235 2.7.0 ok",
		"> MAIL FROM:<a@b.test>", "> RCPT TO:<c@d.test>", "~< 250 .*", "~< 250 .*",
		fmt.Sprintf("> BDAT %d LAST", len(body)), "~< 250 .*", "> QUIT", "~< 221 .*", "= closed",
		"= outbound to mx.example.test", "~< 220 .*")
	want = append(append(want, ehlo...),
		"> MAIL FROM:<a@b.test>", "> RCPT TO:<c@d.test>", "> DATA", "~< 250 .*", "~< 250 .*", "~< 354 .*",
		fmt.Sprintf("> [message data, %d octets, not logged]", len(body)), "~< 250 .*", "> QUIT", "~< 221 .*", "= closed")
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i, w := range want {
		ok := got[i] == w
		if re, isRE := strings.CutPrefix(w, "~"); isRE {
			ok = regexp.MustCompile("^" + re + "$").MatchString(got[i])
		}
		if !ok {
			t.Fatalf("line %d: got %q, want %q; whole log:\n%s", i+1, got[i], w, strings.Join(got, "\n"))
		}
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
