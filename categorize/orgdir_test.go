package categorize

import (
	"testing"

	"mailward/directory"
	"mailward/queue"
)

// orgRecipients is an organization directory of two servers, mx1 and
// mx2, with the recipients of f, as server self sees it. It is not
// validated, so that a test can give it what config check refuses (a
// nesting cycle), as a directory that is not checked at start (LDAP)
// could hold.
func orgRecipients(t *testing.T, self string, f directory.OrgFile) *directory.Recipients {
	t.Helper()
	f.Servers = append(f.Servers,
		directory.OrgServer{Name: "mx1", FQDN: "mx1.example.test", DeliveryAddress: "127.0.0.1:2725"},
		directory.OrgServer{Name: "mx2", FQDN: "mx2.example.test", DeliveryAddress: "127.0.0.1:2726"})
	if len(f.Domains) == 0 {
		f.Domains = []directory.OrgDomain{{Name: "example.test"}}
	}
	o, err := directory.NewOrg("Example", f, "")
	if err != nil {
		t.Fatal(err)
	}
	return &directory.Recipients{Local: directory.New(nil, nil, ""), Org: func() *directory.Org { return o }, Self: self}
}

// planFor runs the planner on a message from sender to rcpts, as a
// first attempt, without delivering anything.
func planFor(c *Categorizer, sender string, rcpts ...string) *plan {
	env := &queue.Envelope{ID: "T1", From: sender}
	for _, r := range rcpts {
		env.Recipients = append(env.Recipients, queue.Recipient{Addr: r})
	}
	return c.plan(&queue.Message{Env: env, Status: make([]queue.RcptStatus, len(rcpts))})
}

// copies counts the copies a plan makes for addr: local deliveries and
// jobs to other servers.
func (p *plan) copies(addr string) int {
	n := 0
	for _, l := range p.local {
		if l.mailbox == addr {
			n++
		}
	}
	for _, j := range p.remote {
		if p.recips[j.Index].Addr == addr {
			n++
		}
	}
	return n
}
