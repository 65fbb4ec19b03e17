package categorize

import (
	"slices"
	"strings"
	"testing"

	"mailward/directory"
	"mailward/orgauth"
	"mailward/queue"
	"mailward/reply"
)

// failBad refuses every remote recipient whose local part starts with
// "bad", as their server would.
func failBad(addr string) reply.Reply {
	if strings.HasPrefix(addr, "bad") {
		return reply.New(550, "5.1.1", "%s... User unknown", addr)
	}
	return reply.New(250, "2.0.0", "relayed")
}

// reportsOrg has a group of each delivery-report setting, each with a
// mailbox here and two outside members that fail.
func reportsOrg(reports, owner string, hidden bool) directory.OrgFile {
	f := org3()
	f.Mailboxes = []directory.OrgMailbox{mailbox("alice@example.test", "mx1")}
	g := group("list@example.test", "alice@example.test", "bad1@remote.test", "bad2@remote.test")
	g.DeliveryReports, g.Owner, g.HideMembership = reports, owner, hidden
	f.DistGroups = []directory.DistributionGroup{g}
	return f
}

// The members' failures are reported as the group says: to the sender
// (default), to the owner, or to nobody; a group's recipient with
// NOTIFY=SUCCESS gets one notice, "expanded", and none for its members.
func TestGroupDeliveryReports(t *testing.T) {
	cases := []struct {
		name, reports, owner string
		to                   []string
	}{
		{"sender", "", "", []string{"sender@remote.test"}},
		{"owner", "owner", "owner@remote.test", []string{"owner@remote.test"}},
		{"none", "none", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := startOrg(t, t.TempDir(), orgSetup{Org: reportsOrg(c.reports, c.owner, false), Self: "mx1", RemoteReply: failBad})
			o.send(queue.Envelope{}, "list@example.test")
			o.settle()
			if got := o.mailboxes(); !slices.Equal(got, []string{"alice@example.test"}) {
				t.Errorf("copies %v", got)
			}
			n := o.notices()
			if got := addrs(n); !slices.Equal(got, c.to) {
				t.Fatalf("notices to %v, want %v", got, c.to)
			}
			for _, x := range n {
				for _, m := range []string{"bad1@remote.test", "bad2@remote.test"} {
					if !strings.Contains(x.Content, "Final-Recipient: rfc822;"+m) {
						t.Errorf("the NDR does not name %s:\n%s", m, x.Content)
					}
				}
			}
		})
	}
	t.Run("NOTIFY=SUCCESS", func(t *testing.T) {
		o := startOrg(t, t.TempDir(), orgSetup{Org: reportsOrg("", "", false), Self: "mx1"})
		o.send(queue.Envelope{}, "list@example.test NOTIFY=SUCCESS,FAILURE")
		o.settle()
		n := o.notices()
		if len(n) != 1 || !strings.Contains(n[0].Content, "Final-Recipient: rfc822;list@example.test") ||
			!strings.Contains(n[0].Content, "Action: expanded") || strings.Count(n[0].Content, "Final-Recipient:") != 1 {
			t.Fatalf("notices %+v, want one 'expanded' notice for list@example.test alone", n)
		}
		for _, s := range o.remoteSent() {
			if s.Rcpt.Notify != "FAILURE" {
				t.Errorf("member %s asks NOTIFY=%q, want FAILURE (the group's notice covers success)", s.Rcpt.Addr, s.Rcpt.Notify)
			}
		}
	})
}

// Hidden membership: the NDR names the group, once, and nothing of
// the members (address, reply, server).
func TestHiddenMembershipNDR(t *testing.T) {
	o := startOrg(t, t.TempDir(), orgSetup{Org: reportsOrg("", "", true), Self: "mx1", RemoteReply: failBad})
	o.send(queue.Envelope{}, "list@example.test")
	o.settle()
	n := o.notices()
	if len(n) != 1 {
		t.Fatalf("%d notices, want one NDR", len(n))
	}
	wantHidden(t, n[0].Content, "list@example.test")
}

// wantHidden checks a notice names group once and no member.
func wantHidden(t *testing.T, ndr, group string) {
	t.Helper()
	if strings.Count(ndr, "Final-Recipient: rfc822;"+group) != 1 || strings.Count(ndr, "Final-Recipient:") != 1 {
		t.Errorf("the NDR does not name %s once, alone:\n%s", group, ndr)
	}
	for _, leak := range []string{"bad1", "bad2", "next.example.net", "User unknown", "alice"} {
		if strings.Contains(ndr, leak) {
			t.Errorf("the NDR for a hidden group shows %q:\n%s", leak, ndr)
		}
	}
}

// A group passed to its expansion server keeps what the server before
// decided about it (the XEXCH50 properties): its members inherit the
// report destination and the hidden group of the outer group that
// reached it, so the NDR goes to that group's owner and names that
// group, not the member.
func TestUpstreamReportSettingsInherited(t *testing.T) {
	f := org3()
	f.Mailboxes = []directory.OrgMailbox{mailbox("carol@example.test", "mx2")}
	inner := group("inner@example.test", "carol@example.test", "bad1@remote.test")
	inner.ExpansionServer = "mx2"
	outer := group("outer@example.test", "inner@example.test")
	outer.HideMembership, outer.DeliveryReports, outer.Owner = true, "owner", "owner@remote.test"
	f.DistGroups = []directory.DistributionGroup{inner, outer}

	o := startOrg(t, t.TempDir(), orgSetup{Org: f, Self: "mx2", RemoteReply: failBad})
	up := props(t, "", orgauth.RcptProp{Address: "inner@example.test", ExpandedFrom: "outer@example.test",
		Groups: []string{"outer@example.test"}, ReportTo: "owner@remote.test", Hidden: "outer@example.test"})
	o.send(queue.Envelope{OrgProps: up}, "inner@example.test")
	o.settle()
	if got := o.mailboxes(); !slices.Equal(got, []string{"carol@example.test"}) {
		t.Errorf("copies %v, want carol's", got)
	}
	n := o.notices()
	if len(n) != 1 || n[0].Rcpt.Addr != "owner@remote.test" {
		t.Fatalf("notices to %v, want one to the owner of outer", addrs(n))
	}
	wantHidden(t, n[0].Content, "outer@example.test")
}
