package dsn

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"mailward/reply"
)

// FuzzBuild checks that Build never panics and that whatever it returns
// without an error is a well-formed notice: CRLF only, lines within 998,
// parseable by net/mail and mime/multipart, two or three parts, and the
// delivery-status fields intact whatever the inputs held, and no more
// of the original returned than the limit.
func FuzzBuild(f *testing.F) {
	f.Add("mail.example.test", "postmaster@example.test", "bob@example.org", "Q1", "env",
		"alice@example.test", "rfc822;Alice@Example.test", "failed", "5.1.1",
		"550 5.1.1 alice@example.test... User unknown", "mx2.example.net",
		[]byte(original), false, int64(1709287200), uint16(0))
	f.Add("mail.example.test", "", "bob@example.org", "", "",
		"carol@example.test", "", "delayed", "4.4.1",
		"421 try later\r\nInjected: yes", "", []byte(original), true, int64(0), uint16(40))
	f.Add("m", "p", "t", "", "", "r", "", "delivered", "2.0.0", "", "", []byte{}, false, int64(-1), uint16(1))
	f.Add("mx\r\n", "a>b\n", "\x00\xff", "q\r", "e\n", "r\r\nX: y", "x", "relayed", "2.1.5",
		"\xff\xfe\r\r\n\n--=_mailward_", "\t", []byte("\n\n\r\rbody"), true, int64(253402300800), uint16(3))
	f.Add("mail.example.test", "p", "t", "", "", "r", "", "expanded", "5.999.999",
		strings.Repeat("x", 2000), strings.Repeat("y ", 600), []byte("H: v\r\n"+strings.Repeat("z", 100)), false, int64(1), uint16(0))
	f.Add("", "", "", "", "", "", "", "", "", "", "", []byte(nil), false, int64(0), uint16(0))
	f.Add("mail.example.test", "p", "t", "", "", "r", "", "failed", "5.1.1", "", "",
		[]byte("A: 1\r\n folded\r\nB: 2\r\n\r\nline one\r\nline two\r\n"), true, int64(1), uint16(20))

	f.Fuzz(func(t *testing.T, mta, from, to, queueID, envID, final, orcpt, action, status, diag, remote string, orig []byte, full bool, sec int64, limit uint16) {
		at := time.Unix(sec%(1<<40), 0).UTC()
		r := Report{
			ReportingMTA: mta, From: from, To: to, QueueID: queueID, EnvID: envID,
			ArrivalDate: at, Date: at, Original: orig, FullMessage: full, ReturnLimit: int(limit),
			Recipients: []Recipient{{
				Final: final, Original: orcpt, Action: action, Status: status,
				Diagnostic: diag, RemoteMTA: remote, LastAttempt: at, WillRetryUntil: at,
			}},
		}
		out, err := Build(r)
		if err != nil {
			if out != nil || !strings.HasPrefix(err.Error(), "dsn: ") {
				t.Fatalf("error %q with output %q", err, out)
			}
			return
		}
		if e := lineEndingError(out); e != "" {
			t.Fatalf("%s in\n%q", e, out)
		}
		p, err := parseNotice(out)
		if err != nil {
			t.Fatalf("%v in\n%q", err, out)
		}
		if len(p.parts) < 2 || len(p.parts) > 3 {
			t.Fatalf("%d parts", len(p.parts))
		}
		if len(p.parts) == 2 && len(bytes.TrimSpace(orig)) > 0 && full && limit == 0 {
			t.Fatalf("FullMessage with a non-empty original but no third part")
		}
		// Whatever RET says, no more of the original than the limit.
		if len(p.parts) == 3 && limit > 0 && len(p.parts[2].body) > int(limit) {
			t.Fatalf("returned %d bytes of the original over a limit of %d", len(p.parts[2].body), limit)
		}
		g := statusGroups(t, p.parts[1].body)
		if len(g) != 2 {
			t.Fatalf("%d delivery-status groups, want 2:\n%q", len(g), p.parts[1].body)
		}
		if !strings.HasPrefix(g[1].Get("Final-Recipient"), "rfc822;") || g[1].Get("Action") == "" || !reply.ValidStatus(g[1].Get("Status")) {
			t.Fatalf("bad recipient group %v", g[1])
		}
		// Only the returned original may hold 8-bit data.
		for i, pt := range p.parts[:2] {
			if !sevenBit(pt.body) {
				t.Fatalf("part %d is not 7bit", i+1)
			}
		}
	})
}
