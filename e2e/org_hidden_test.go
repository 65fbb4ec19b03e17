package e2e

import (
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
	"mailward/internal/testkit/orgbackend"
)

// Hidden membership never leaks to the sender: a group with
// hide_membership, whose members are on two servers and outside (a
// partner's server that refuses one of them), is named in the reports
// instead of its members — the non-delivery report for the refused
// member (neither its address, nor the partner's reply, nor its server),
// the success notice (NOTIFY=SUCCESS: "expanded" for the group, RFC 3464
// §2.3.3) — and EXPN lists nobody, on either server. The group is
// expanded by the server the message comes in by, or passed on to its
// expansion server, which sends the reports.
func TestOrgHiddenMembershipNeverLeaks(t *testing.T) {
	orgbackend.ForEach(t, func(t *testing.T, b orgbackend.Backend) {
		t.Run("expanded by the first server", func(t *testing.T) { hiddenMembership(t, b, "mx1") })
		t.Run("expanded by its expansion server", func(t *testing.T) { hiddenMembership(t, b, "mx2") })
	})
}

func hiddenMembership(t *testing.T, b orgbackend.Backend, expander string) {
	partner := testkit.StartSMTP(t, testkit.SMTP{Addr: "127.0.0.3:0", Name: "mail.partner.test",
		Handle: func(s *testkit.SMTPSession, verb, line string) testkit.Reply {
			if verb == "RCPT" && strings.Contains(line, "gone@partner.test") {
				return testkit.Reply{Text: "550 5.1.1 <gone@partner.test>... User unknown at mail.partner.test"}
			}
			return testkit.Reply{}
		}})
	d := orgRecipients(t, "mx1", "mx2")
	homed(d, "mx1", "sender@example.test", "m1@example.test")
	homed(d, "mx2", "m2@example.test")
	d.DistGroups = []testkit.DistributionGroup{{Address: "secret@example.test", HideMembership: true,
		Members: []string{"m1@example.test", "m2@example.test", "ok@partner.test", "gone@partner.test"}}}
	if expander != "mx1" {
		d.DistGroups[0].ExpansionServer = expander
	}
	cfgs := []*testkit.Config{orgMember("mx1"), orgMember("mx2")}
	for _, c := range cfgs {
		c.Routes = []testkit.Route{{Domain: "partner.test", SmartHost: partner.Addr}}
	}
	net := startOrgNetOn(t, b, d, cfgs...)
	mx1, mx2 := net["mx1"], net["mx2"]

	members := []string{"m1@example.test", "m2@example.test", "ok@partner.test", "gone@partner.test", "partner.test", "127.0.0.3"}
	for name, s := range net {
		c := dial(t, s.Addr)
		c.expect("EHLO client.test", 250)
		r := c.cmd("EXPN secret@example.test")
		c.Close()
		if r.Code != 502 {
			t.Errorf("%s: EXPN secret@: got %q, want 502", name, r)
		}
		for _, m := range members {
			if strings.Contains(strings.Join(r.Lines, "\n"), m) {
				t.Errorf("%s: EXPN names %s: %q", name, m, r)
			}
		}
	}

	sendAnon(t, mx1.Addr, "<sender@example.test>", []string{"<secret@example.test> NOTIFY=SUCCESS,FAILURE"}, "to the secret group")
	delivered(t, mx1, "m1@example.test", 1)
	delivered(t, mx2, "m2@example.test", 1)
	delivered(t, mx1, "sender@example.test", 2) // the success notice and the NDR
	testkit.WaitFor(t, 10*time.Second, "the partner's copy for ok@", func() bool { return partner.Count() == 1 })
	settleOrg(t, mx1, mx2)
	copies(t, map[string]int{"sender@example.test": 2, "m1@example.test": 1, "m2@example.test": 1},
		map[string]*server{"sender@example.test": mx1, "m1@example.test": mx1, "m2@example.test": mx2})

	actions := map[string]string{}
	for _, f := range mx1.Maildir("sender@example.test") {
		raw := readFile(t, f)
		for _, m := range members {
			if strings.Contains(raw, m) {
				t.Errorf("a report to the sender names %s:\n%s", m, raw)
			}
		}
		n := parseNDR(t, raw)
		for i, r := range n.recipients {
			actions[r.Get("Action")] = n.finalRecipients()[i]
		}
	}
	if actions["expanded"] != "secret@example.test" || actions["failed"] != "secret@example.test" || len(actions) != 2 {
		t.Errorf("the reports' recipients by action: %v; want expanded and failed, both for secret@example.test", actions)
	}
	if n := eventCount(net[expander], 3005, ""); n != 1 {
		t.Errorf("%s logged %d expansions of the group, want 1", expander, n)
	}

}
