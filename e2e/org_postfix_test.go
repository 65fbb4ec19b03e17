package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"mailward/internal/peers"
	"mailward/internal/testkit"
)

// KB843106: a server outside the organization (Debian's Postfix) is sent
// no XEXCH50 and no X-EXPS, and the mail is delivered. mx1 has a full
// organization configured; Postfix is simply not in it.
func TestOrgExternalPostfixGetsNoXEXCH50(t *testing.T) {
	p := startPostfix(t, peers.PostfixOptions{MyHostname: "postfix.partner.test", MyDomain: "partner.test", Mailboxes: []string{"carol"}})
	cfg := orgMX1("mx1.example.test", "[127.0.0.1]:"+strconv.Itoa(p.Port), "mx1")
	cfg.Routes[0].Domain = "partner.test"
	// mx2's address moves off 127.0.0.1, where this Postfix listens: an
	// organization server is recognised by name or address.
	mx1 := startOrgServer(t, cfg, strings.Replace(orgDirectory, `addresses = ["127.0.0.1"]`, `addresses = ["127.0.0.2"]`, 1))
	id := relayMsg(t, mx1, "<alice@relay.example.test>", "<carol@partner.test>", "external")
	testkit.WaitFor(t, 20*time.Second, "the message in Postfix's Maildir", func() bool {
		n, _ := p.MaildirCount("carol")
		return n == 1
	})
	waitEvents(t, mx1, 3000, id, 1, 5*time.Second)
	for _, ev := range []int{7004, 7006, 7010} {
		if n := len(mx1.Events(ev)); n != 0 {
			t.Errorf("event %d written %d times for an external peer", ev, n)
		}
	}
	// Nothing of the organization verbs may reach Postfix (its log shows
	// the session).
	if strings.Contains(strings.ToUpper(p.Log()), "XEXCH50") || strings.Contains(strings.ToUpper(p.Log()), "X-EXPS") {
		t.Errorf("Postfix saw an organization verb:\n%s", p.Log())
	}
}
