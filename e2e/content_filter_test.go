package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mailward/events"
	"mailward/internal/testkit"
)

// Content filtering with a real rspamd (docs/filtering.md, "Content
// filtering and the SCL"): the gateway and store thresholds, the scan
// once across the organization and the rescan when XEXCH50 fails, and
// rspamd stopped in the middle of a load.

// contentFilter is [content_filter] on r with the default thresholds
// (gateway 7: GTUBE's 15; store 4: a score of 6 to 8).
func contentFilter(r *testkit.Rspamd) *testkit.ContentFilter {
	return &testkit.ContentFilter{RspamdURL: r.URL, Timeout: "5s"}
}

// scored is a message rspamd (the tests' configuration) scores score.
func scored(from, to, subject, score string) string {
	return testkit.ScoreHeader + ": " + score + "\n" + message(from, to, subject, "content filter test")
}

// junk lists the files in new/ of addr's Junk folder.
func (s *server) junk(addr string) []string {
	m, _ := filepath.Glob(filepath.Join(s.MailboxDir, addr, "Maildir", ".Junk", "new", "*"))
	sort.Strings(m)
	return m
}

// sclHeaders are the SCL header fields of a delivered file.
func sclHeaders(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := strings.Cut(string(b), "\r\n\r\n")
	var out []string
	for _, l := range strings.Split(head, "\r\n") {
		if strings.HasPrefix(strings.ToLower(l), "x-ms-exchange-organization-scl:") {
			out = append(out, l)
		}
	}
	return out
}

// GTUBE is refused at the gateway with 550 5.7.1 before the 250 and
// nothing is stored; a message past rspamd's add_header score (7.5: SCL
// 4) lands in alice's Junk folder; a clean one in her inbox, each with
// its SCL as a header; the session survives the refusal.
func TestContentFilterThresholds(t *testing.T) {
	r := testkit.SharedRspamd(t)
	cfg := testkit.NewConfig()
	cfg.Mailboxes = testkit.Mailboxes("alice@example.test")
	cfg.Diagnostics = map[string]string{"smtp_receive": "medium", "delivery": "medium"}
	cfg.ContentFilter = contentFilter(r)
	s := startServer(t, cfg)

	c := dial(t, s.Addr)
	defer c.Close()
	c.expect("EHLO client.test", 250)
	c.expect("MAIL FROM:<erin@partner.test>", 250)
	c.expect("RCPT TO:<alice@example.test>", 250)
	rep, err := c.dataErr(message("erin@partner.test", "alice@example.test", "gtube", testkit.GTUBE))
	if err != nil {
		t.Fatal(err)
	}
	if rep.String() != "550 5.7.1 Message refused as spam (SCL 7)" {
		t.Fatalf("GTUBE: %q, want the gateway's 550 5.7.1", rep)
	}
	junkID := c.send("<erin@partner.test>", []string{"<alice@example.test>"}, scored("erin@partner.test", "alice@example.test", "junk", "7.5"))
	cleanID := c.send("<erin@partner.test>", []string{"<alice@example.test>"}, message("erin@partner.test", "alice@example.test", "clean", "hello"))
	c.cmd("QUIT")

	testkit.WaitFor(t, 10*time.Second, "the junk and the clean message delivered", func() bool {
		return len(s.junk("alice@example.test")) == 1 && len(s.Maildir("alice@example.test")) == 1
	})
	settleOrg(t, s)
	if h := sclHeaders(t, s.junk("alice@example.test")[0]); len(h) != 1 || h[0] != "X-MS-Exchange-Organization-SCL: 4" {
		t.Errorf("Junk copy's SCL header: %q", h)
	}
	inbox := s.Maildir("alice@example.test")
	if h := sclHeaders(t, inbox[0]); len(h) != 1 || h[0] != "X-MS-Exchange-Organization-SCL: 0" {
		t.Errorf("inbox copy's SCL header: %q", h)
	}
	if b, _ := os.ReadFile(inbox[0]); strings.Contains(string(b), "GTUBE") {
		t.Error("the refused GTUBE message was delivered")
	}
	if recs := s.Events(events.ContentRefused); len(recs) != 1 || recs[0].Fields["scl"] != "7" || !strings.Contains(recs[0].Message, "GTUBE") {
		t.Errorf("event 1063: %+v", recs)
	}
	// 3030 carries the Message-ID the receipt (2000) recorded, so that
	// mailward track shows the Junk delivery (docs/tracking.md).
	queued := s.EventsFor(events.MessageQueued, "queue_id", junkID)
	if recs := s.EventsFor(events.DeliveredToJunk, "queue_id", junkID); len(recs) != 1 || len(queued) != 1 ||
		recs[0].Fields["message_id"] == "" || recs[0].Fields["message_id"] != queued[0].Fields["message_id"] {
		t.Errorf("events 3030 for the junk message: %+v (receipt: %+v)", recs, queued)
	}
	if n := len(s.EventsFor(events.ContentScanned, "queue_id", cleanID)); n != 1 {
		t.Errorf("%d events 1062 for the clean message", n)
	}
}

// KB843106 across two organization servers sharing one rspamd, which
// counts its scans: a message from outside, taken by mx1 for alice
// (homed on mx2), is scanned once, on mx1; mx2 trusts the SCL that came
// in XEXCH50 and files it into Junk, with the header written once, by
// mx2. When mx1's FQDN is not the one the organization knows, mx2
// refuses its XEXCH50 (504), the SCL is lost, and mx2 scans the message
// again: two scans, and event 1066 names why.
func TestContentFilterScanOnceAcrossOrg(t *testing.T) {
	for _, c := range []struct {
		name, mx1FQDN string
		scans         int
	}{
		{"trust working", "mx1.example.test", 1},
		{"XEXCH50 refused", "mx1.example.local", 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := testkit.StartRspamd(t)
			d := orgRecipients(t, "mx1", "mx2")
			homed(d, "mx2", "alice@example.test")
			c1, c2 := orgMember("mx1"), orgMember("mx2")
			c1.Server.FQDN = c.mx1FQDN
			for _, cfg := range []*testkit.Config{c1, c2} {
				cfg.ContentFilter = contentFilter(r)
				cfg.Diagnostics["delivery"] = "medium"
			}
			net := startOrgNet(t, d, c2, c1)
			mx1, mx2 := net["mx1"], net["mx2"]
			before := r.Scanned(t)

			cl := dial(t, mx1.Addr)
			cl.expect("EHLO client.test", 250)
			id := cl.send("<erin@partner.test>", []string{"<alice@example.test>"}, scored("erin@partner.test", "alice@example.test", "once", "7.5"))
			cl.cmd("QUIT")
			cl.Close()
			testkit.WaitFor(t, 20*time.Second, "alice's copy in her Junk folder on mx2", func() bool { return len(mx2.junk("alice@example.test")) == 1 })
			settleOrg(t, mx1, mx2)
			if n := r.Scanned(t) - before; n != c.scans {
				t.Errorf("rspamd scanned %d time(s), want %d", n, c.scans)
			}
			if h := sclHeaders(t, mx2.junk("alice@example.test")[0]); len(h) != 1 || h[0] != "X-MS-Exchange-Organization-SCL: 4" {
				t.Errorf("SCL header(s) of alice's copy: %q, want one, mx2's", h)
			}
			if n := len(mx1.EventsFor(events.ContentScanned, "queue_id", id)); n != 1 {
				t.Errorf("mx1 wrote %d events 1062 for %s", n, id)
			}
			trusted, rescanned := mx2.Events(events.ContentTrusted), mx2.Events(events.ContentRescanned)
			if c.scans == 1 {
				if len(trusted) != 1 || trusted[0].Fields["scl"] != "4" || len(rescanned) != 0 || len(mx2.Events(events.ContentScanned)) != 0 {
					t.Errorf("mx2: events 1067 %+v, 1066 %+v, 1062 %d; want the SCL trusted, no scan", trusted, rescanned, len(mx2.Events(events.ContentScanned)))
				}
			} else {
				if len(rescanned) != 1 || rescanned[0].Fields["helo"] != c.mx1FQDN || len(trusted) != 0 {
					t.Errorf("mx2: events 1066 %+v, 1067 %+v; want the rescan named", rescanned, trusted)
				}
				if n := len(mx2.Events(events.XEXCH50Refused)); n != 1 {
					t.Errorf("mx2: %d events 1713 (XEXCH50 refused)", n)
				}
			}
		})
	}
}

// rspamd killed in the middle of a load of 50 messages over 5 sessions:
// no message that got a 250 is lost, and the others got what
// on_failure says — with "accept" every message is accepted, those after
// the kill with event 1064 and no SCL; with "tempfail" they get 451
// 4.7.1 and are not stored.
func TestContentFilterRspamdStoppedUnderLoad(t *testing.T) {
	for _, mode := range []string{"accept", "tempfail"} {
		t.Run(mode, func(t *testing.T) {
			rs := testkit.StartRspamd(t)
			cfg := testkit.NewConfig()
			cfg.Mailboxes = testkit.Mailboxes("alice@example.test")
			cf := contentFilter(rs)
			cf.Timeout, cf.OnFailure = "2s", mode
			cfg.ContentFilter = cf
			cfg.Diagnostics = map[string]string{"smtp_receive": "medium"} // 1062 for each scanned message
			s := startServer(t, cfg)

			const sessions, each = 5, 10
			var accepted atomic.Int32
			var once sync.Once
			type result struct{ subject, reply string }
			results := make(chan result, sessions*each)
			var wg sync.WaitGroup
			for k := range sessions {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := dialErr(s.Addr)
					if err != nil {
						t.Errorf("session %d: %v", k, err)
						return
					}
					defer c.Close()
					if r, err := c.cmdErr("EHLO client.test"); err != nil || r.Code != 250 {
						t.Errorf("session %d EHLO: %v %v", k, r, err)
						return
					}
					for i := range each {
						subject := fmt.Sprintf("load-%d-%d", k, i)
						rep := "no reply"
						if r, err := c.cmdErr("MAIL FROM:<erin@partner.test>"); err != nil || r.Code != 250 {
							t.Errorf("%s MAIL: %v %v", subject, r, err)
							return
						}
						if r, err := c.cmdErr("RCPT TO:<alice@example.test>"); err != nil || r.Code != 250 {
							t.Errorf("%s RCPT: %v %v", subject, r, err)
							return
						}
						r, err := c.dataErr(message("erin@partner.test", "alice@example.test", subject, "load"))
						if err == nil {
							rep = r.String()
						}
						results <- result{subject, rep}
						if strings.HasPrefix(rep, "250 ") && accepted.Add(1) >= 10 {
							once.Do(rs.Stop)
						}
					}
				}()
			}
			if !testkit.WaitGroup(&wg, 90*time.Second) {
				t.Fatal("the sessions did not end within 90 s")
			}
			close(results)
			var ok, deferred []string
			for res := range results {
				switch {
				case strings.HasPrefix(res.reply, "250 2.6.0 "):
					ok = append(ok, res.subject)
				case mode == "tempfail" && res.reply == "451 4.7.1 Content filter unavailable, try again later":
					deferred = append(deferred, res.subject)
				default:
					t.Errorf("%s: %q", res.subject, res.reply)
				}
			}
			if len(ok)+len(deferred) != sessions*each {
				t.Fatalf("%d accepted + %d deferred of %d", len(ok), len(deferred), sessions*each)
			}
			testkit.WaitFor(t, 30*time.Second, fmt.Sprintf("the %d accepted messages delivered", len(ok)), func() bool {
				return len(s.Maildir("alice@example.test")) >= len(ok)
			})
			settleOrg(t, s)
			got := map[string]bool{}
			for _, f := range s.Maildir("alice@example.test") {
				b, _ := os.ReadFile(f)
				_, subj, _ := strings.Cut(string(b), "Subject: ")
				subj, _, _ = strings.Cut(subj, "\r\n")
				got[subj] = true
			}
			for _, subj := range ok {
				if !got[subj] {
					t.Errorf("%s got a 250 and was not delivered", subj)
				}
			}
			for _, subj := range deferred {
				if got[subj] {
					t.Errorf("%s got a 451 and was delivered", subj)
				}
			}
			if len(got) != len(ok) {
				t.Errorf("%d delivered, %d accepted", len(got), len(ok))
			}
			// 1065 is rate limited (a flood of deferrals says one thing);
			// 1062 and 1064, one per accepted message, are not.
			scanned, open, closed := len(s.Events(events.ContentScanned)), len(s.Events(events.ContentFailedOpen)), len(s.Events(events.ContentFailedClosed))
			switch mode {
			case "accept":
				if open == 0 || scanned < 10 || open+scanned != len(ok) || closed != 0 || len(deferred) != 0 {
					t.Errorf("accept: %d accepted, %d events 1062, %d 1064, %d 1065, %d deferred; want every accepted message scanned or unscanned with 1064, none deferred",
						len(ok), scanned, open, closed, len(deferred))
				}
			case "tempfail":
				if len(deferred) == 0 || closed == 0 || closed > len(deferred) || open != 0 || scanned != len(ok) {
					t.Errorf("tempfail: %d accepted, %d deferred, %d events 1062, %d 1065, %d 1064", len(ok), len(deferred), scanned, closed, open)
				}
			}
			t.Logf("%s: %d accepted, %d deferred, %d events 1062, %d 1064, %d 1065", mode, len(ok), len(deferred), scanned, open, closed)
		})
	}
}

// A hung rspamd (its processes stopped: connections accepted, never
// answered) costs a session no more than content_filter.timeout: with
// "tempfail" the message gets 451 4.7.1 at the timeout and nothing is
// stored; with "accept" it is delivered without an SCL. When rspamd
// answers again, scanning resumes.
func TestContentFilterRspamdHung(t *testing.T) {
	for _, mode := range []string{"tempfail", "accept"} {
		t.Run(mode, func(t *testing.T) {
			rs := testkit.StartRspamd(t)
			cfg := testkit.NewConfig()
			cfg.Mailboxes = testkit.Mailboxes("alice@example.test")
			cfg.ContentFilter = &testkit.ContentFilter{RspamdURL: rs.URL, Timeout: "1s", OnFailure: mode}
			cfg.Diagnostics = map[string]string{"smtp_receive": "medium"} // 1062
			s := startServer(t, cfg)
			c := dial(t, s.Addr)
			defer c.Close()
			c.expect("EHLO client.test", 250)

			rs.Freeze(t)
			c.expect("MAIL FROM:<erin@partner.test>", 250)
			c.expect("RCPT TO:<alice@example.test>", 250)
			start := time.Now()
			rep, err := c.dataErr(message("erin@partner.test", "alice@example.test", "hung", "rspamd hung"))
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 8*time.Second {
				t.Errorf("the final reply took %s with a timeout of 1s", d)
			}
			want := "451 4.7.1 Content filter unavailable, try again later"
			if mode == "accept" {
				queueID(t, rep)
			} else if rep.String() != want {
				t.Errorf("reply %q, want %q", rep, want)
			}

			rs.Thaw(t)
			id := c.send("<erin@partner.test>", []string{"<alice@example.test>"}, message("erin@partner.test", "alice@example.test", "thawed", "rspamd back"))
			c.cmd("QUIT")
			n := 1
			if mode == "accept" {
				n = 2
			}
			testkit.WaitFor(t, 10*time.Second, "delivery", func() bool { return len(s.Maildir("alice@example.test")) == n })
			settleOrg(t, s)
			if got := len(s.EventsFor(events.ContentScanned, "queue_id", id)); got != 1 {
				t.Errorf("%d events 1062 for the message after the thaw: scanning did not resume", got)
			}
			for _, f := range s.Maildir("alice@example.test") {
				h := sclHeaders(t, f)
				b, _ := os.ReadFile(f)
				hung := strings.Contains(string(b), "Subject: hung")
				if hung && len(h) != 0 || !hung && (len(h) != 1 || h[0] != "X-MS-Exchange-Organization-SCL: 0") {
					t.Errorf("%s (hung: %v): SCL headers %q", filepath.Base(f), hung, h)
				}
			}
		})
	}
}
