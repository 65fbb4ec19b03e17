package e2e

import (
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
	"mailward/internal/testkit/orgbackend"
)

// KB843106's symptom, both ways: bob authenticates on mx1 and writes to
// staff@, a group that accepts only authenticated senders and that only
// mx2 expands. mx1 passes the group on unexpanded; whether mx2 delivers
// it depends on mx2 learning, from mx1's XEXCH50 properties, that bob
// authenticated.
func TestOrgKB843106RestrictedGroup(t *testing.T) {
	orgbackend.ForEach(t, orgKB843106RestrictedGroup)
}

func orgKB843106RestrictedGroup(t *testing.T, b orgbackend.Backend) {
	setup := func(t *testing.T, mx1FQDN string, mx2Clear bool) (mx1, mx2 *server) {
		d := orgRecipients(t, "mx1", "mx2")
		homed(d, "mx1", "dave@example.test")
		homed(d, "mx2", "carol@example.test")
		d.Mailboxes = append(d.Mailboxes, testkit.OrgMailbox{Address: "bob@example.test", HomeServer: "mx1",
			PasswordHash: bcryptHash(t, "bob-secret")})
		d.DistGroups = []testkit.DistributionGroup{{Address: "staff@example.test",
			Members:         []string{"carol@example.test", "dave@example.test"},
			ExpansionServer: "mx2", AcceptOnlyAuthenticated: true}}
		c1, c2 := withSubmission(orgMember("mx1")), orgMember("mx2")
		c1.Server.FQDN = mx1FQDN
		if mx2Clear {
			// The filter on the way sees commands only in clear.
			c2.VirtualServers[0].TLS = "none"
			c2.ListenOnFreePorts(t)
			d.Servers[1].DeliveryAddress = startXEXCH50Filter(t, c2.VirtualServers[0].Address)
		}
		net := startOrgNetOn(t, b, d, c2, c1)
		return net["mx1"], net["mx2"]
	}
	send := func(t *testing.T, mx1 *server) string {
		return sendAuth(t, mx1.SubmissionAddr, "bob@example.test", "bob-secret", "<bob@example.test>",
			[]string{"<staff@example.test>"}, "to staff")
	}
	// refused checks bob's one non-delivery report: staff@ refused as
	// from an unauthenticated sender, nobody of the group reached.
	refused := func(t *testing.T, mx1, mx2 *server) {
		t.Helper()
		delivered(t, mx1, "bob@example.test", 1)
		settleOrg(t, mx1, mx2)
		copies(t, map[string]int{"bob@example.test": 1, "dave@example.test": 0, "carol@example.test": 0},
			map[string]*server{"bob@example.test": mx1, "dave@example.test": mx1, "carol@example.test": mx2})
		n := parseNDR(t, readFile(t, mx1.Maildir("bob@example.test")[0]))
		if len(n.recipients) != 1 {
			t.Fatalf("the NDR has %d recipients:\n%s", len(n.recipients), n.raw)
		}
		r := n.recipients[0]
		if got := n.finalRecipients(); got[0] != "staff@example.test" || r.Get("Action") != "failed" || r.Get("Status") != "5.7.1" ||
			!strings.Contains(r.Get("Diagnostic-Code"), "staff@example.test accepts mail only from authenticated senders") {
			t.Errorf("NDR for %v: Action %q Status %q Diagnostic-Code %q", got, r.Get("Action"), r.Get("Status"), r.Get("Diagnostic-Code"))
		}
	}

	t.Run("trust working", func(t *testing.T) {
		mx1, mx2 := setup(t, "mx1.example.test", false)
		id := send(t, mx1)
		delivered(t, mx2, "carol@example.test", 1)
		delivered(t, mx1, "dave@example.test", 1)
		settleOrg(t, mx1, mx2)
		copies(t, map[string]int{"carol@example.test": 1, "dave@example.test": 1, "bob@example.test": 0},
			map[string]*server{"carol@example.test": mx2, "dave@example.test": mx1, "bob@example.test": mx1})
		if n := eventCount(mx1, 3005, id); n != 0 {
			t.Errorf("mx1 expanded staff@ itself (%d events 3005); only mx2 may", n)
		}
		if n := eventCount(mx2, 3005, ""); n != 1 {
			t.Errorf("mx2 logged %d expansions, want 1", n)
		}
		if n := eventCount(mx2, 3007, "") + eventCount(mx2, 1027, ""); n != 0 {
			t.Errorf("mx2 refused the group %d time(s)", n)
		}
		if n := eventCount(mx1, 7004, "") + eventCount(mx1, 7006, ""); n != 0 {
			t.Errorf("mx1 logged %d X-EXPS or XEXCH50 failures", n)
		}
	})

	// A wrong FQDN: mx2 takes mx1 for a stranger (no X-EXPS offered, a
	// 504 for XEXCH50 would follow), so it decides at RCPT, as for any
	// anonymous sender, and refuses; mx1 bounces the message to bob.
	t.Run("wrong FQDN", func(t *testing.T) {
		mx1, mx2 := setup(t, "mx1.example.local", false)
		id := send(t, mx1)
		refused(t, mx1, mx2)
		if recs := mx2.Events(1027); len(recs) != 1 || recs[0].Fields["rcpt"] != "staff@example.test" || recs[0].Fields["from"] != "bob@example.test" {
			t.Errorf("mx2 should have refused staff@ at RCPT (event 1027): %+v", recs)
		}
		if len(mx1.Events(7006)) == 0 {
			t.Errorf("mx1 did not log that mx2 did not offer it X-EXPS (7006)")
		}
		waitEvents(t, mx1, 3002, id, 1, 10*time.Second)
		if len(mx2.Events(1712)) != 0 {
			t.Errorf("mx2 accepted properties from a server it does not know")
		}
	})

	// XEXCH50 blocked on the way (a firewall inspecting SMTP): mx1
	// authenticates, so mx2 accepts the group at RCPT to decide later, but
	// the properties never arrive: mx1 logs 7004, and mx2 refuses the
	// group when it expands it (3007) and sends the NDR to bob.
	t.Run("XEXCH50 blocked", func(t *testing.T) {
		mx1, mx2 := setup(t, "mx1.example.test", true)
		id := send(t, mx1)
		refused(t, mx1, mx2)
		if recs := waitEvents(t, mx1, 7004, id, 1, 10*time.Second); !strings.Contains(recs[0].Message, "answered 500") {
			t.Errorf("7004 on mx1: %s", recs[0].Message)
		}
		if recs := mx2.Events(3007); len(recs) != 1 || recs[0].Fields["group"] != "staff@example.test" || recs[0].Fields["from"] != "bob@example.test" {
			t.Errorf("mx2 should have refused staff@ for bob when expanding it (event 3007): %+v", recs)
		}
		if n := eventCount(mx2, 1027, "") + eventCount(mx1, 7006, ""); n != 0 {
			t.Errorf("want X-EXPS to succeed and no RCPT-time refusal; got %d such events", n)
		}
	})
}
