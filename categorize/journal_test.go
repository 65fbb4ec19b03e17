package categorize

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mailward/deliver"
	"mailward/directory"
	"mailward/journal"
	"mailward/orgauth"
	"mailward/queue"
)

// journalOrg: alice (proxy a.smith) and bob on mx1, carol on mx2 with
// an alternate; team@ (alice, inner@) expanded anywhere, inner@ (dave)
// expanded by mx2; journal@ on mx1. Rules: alice's mailbox and team's
// members to journal@, the domain partner.test to an external archive.
func journalOrg() directory.OrgFile {
	return directory.OrgFile{
		Mailboxes: []directory.OrgMailbox{
			{Address: "alice@example.test", HomeServer: "mx1", ProxyAddresses: []string{"a.smith@example.test"}},
			{Address: "bob@example.test", HomeServer: "mx1"},
			{Address: "carol@example.test", HomeServer: "mx2", AlternateRecipient: "carol@partner.test"},
			{Address: "dave@example.test", HomeServer: "mx2"},
			{Address: "journal@example.test", HomeServer: "mx1"},
			{Address: "postmaster@example.test", HomeServer: "mx1"},
		},
		DistGroups: []directory.DistributionGroup{
			{Address: "team@example.test", Members: []string{"a.smith@example.test", "inner@example.test"}},
			{Address: "inner@example.test", ExpansionServer: "mx2", Members: []string{"dave@example.test"}},
		},
		JournalRules: []directory.JournalRule{
			{Name: "alice", Mailboxes: []string{"a.smith@example.test"}, Recipient: "journal@example.test"},
			{Name: "team", Group: "team@example.test", Recipient: "journal@example.test"},
			{Name: "partners", Domain: "partner.test", Recipient: "vault@archive.test"},
		},
	}
}

func journalPlan(t *testing.T, self string, f directory.OrgFile, env *queue.Envelope, status []queue.RcptStatus) *plan {
	t.Helper()
	dir := orgRecipients(t, self, f)
	if status == nil {
		status = make([]queue.RcptStatus, len(env.Recipients))
	}
	c := &Categorizer{Dir: dir, Org: dir.Org, Postmaster: "postmaster@example.test"}
	return c.plan(&queue.Message{Env: env, Status: status})
}

func journalRecips(p *plan) []queue.Recipient {
	var out []queue.Recipient
	for _, r := range p.recips {
		if r.Journal != nil {
			out = append(out, r)
		}
	}
	return out
}

// The planner adds one journal recipient per distinct journal address
// (two rules to journal@ make one report), each with the recipients as
// its report lists them — team's members expanded here, inner@'s members
// resolved without expanding it (mx2 does) — recorded with the
// expansion, reported to the postmaster, and routed to its mailbox.
func TestPlanAddsOneJournalRecipientPerAddress(t *testing.T) {
	env := &queue.Envelope{ID: "J1", From: "x@partner.test",
		Recipients: []queue.Recipient{{Addr: "team@example.test"}, {Addr: "bob@example.test"}}}
	p := journalPlan(t, "mx1", journalOrg(), env, nil)
	js := journalRecips(p)
	if len(js) != 2 || js[0].Addr != "journal@example.test" || js[1].Addr != "vault@archive.test" {
		t.Fatalf("journal recipients %+v, want journal@example.test and vault@archive.test", js)
	}
	j := js[0]
	if !slices.Equal(j.Journal.Rules, []string{"alice", "team"}) || j.ReportTo != "postmaster@example.test" ||
		j.Journal.From != "journaling@example.test" {
		t.Errorf("journal@: rules %v, reports to %q, from %q", j.Journal.Rules, j.ReportTo, j.Journal.From)
	}
	var got []string
	for _, r := range j.Journal.Recipients {
		got = append(got, r.Addr+" "+strings.Join(r.Expanded, ">"))
	}
	want := []string{"bob@example.test ", "a.smith@example.test team@example.test", "dave@example.test team@example.test>inner@example.test"}
	if !slices.Equal(got, want) {
		t.Errorf("listed %q, want %q", got, want)
	}
	last := p.exps[len(p.exps)-1]
	if len(last.Add) != 2 || last.Add[0].Journal == nil {
		t.Errorf("the journal recipients are not recorded with the expansion: %+v", p.exps)
	}
	n := len(p.recips)
	if p.copies("journal@example.test") != 1 || !slices.ContainsFunc(p.local, func(l localJob) bool { return l.report && l.index == n-2 }) {
		t.Errorf("journal@ is not delivered here as a report: local %+v", p.local)
	}
	if !slices.ContainsFunc(p.remote, func(j deliver.Job) bool { return j.Index == n-1 }) {
		t.Errorf("vault@archive.test is not sent on: remote %+v", p.remote)
	}
}

// The rules match a message sent by a mailbox in scope too, and nothing
// else: bob to postmaster is journaled by no rule (bob to carol is, by
// the domain rule: carol forwards to carol@partner.test).
func TestPlanJournalSenderAndNoMatch(t *testing.T) {
	env := &queue.Envelope{ID: "J2", From: "alice@example.test", Recipients: []queue.Recipient{{Addr: "bob@example.test"}}}
	if js := journalRecips(journalPlan(t, "mx1", journalOrg(), env, nil)); len(js) != 1 || js[0].Addr != "journal@example.test" {
		t.Errorf("alice's message: journal recipients %+v, want journal@", js)
	}
	env = &queue.Envelope{ID: "J3", From: "bob@example.test", Recipients: []queue.Recipient{{Addr: "postmaster@example.test"}}}
	if js := journalRecips(journalPlan(t, "mx1", journalOrg(), env, nil)); len(js) != 0 {
		t.Errorf("bob to postmaster: journal recipients %+v, want none", js)
	}
	env = &queue.Envelope{ID: "J3", From: "bob@example.test", Recipients: []queue.Recipient{{Addr: "carol@example.test"}}}
	if js := journalRecips(journalPlan(t, "mx2", journalOrg(), env, nil)); len(js) != 1 || js[0].Addr != "vault@archive.test" {
		t.Errorf("bob to carol on mx2: journal recipients %+v, want vault@archive.test (carol forwards to partner.test)", js)
	}
}

func upstreamProps(t *testing.T, m orgauth.MessageProp) []byte {
	b, err := (&orgauth.Props{Message: m}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Once per message per organization: not when the server before us
// journaled it, not when an earlier attempt here did, not for a report
// (delivered to its mailbox as it is, not forwarded to carol's
// alternate), not for mail to the journal mailbox only.
func TestPlanJournalsOnce(t *testing.T) {
	env := &queue.Envelope{ID: "J4", From: "alice@example.test", OrgProps: upstreamProps(t, orgauth.MessageProp{Journaled: true}),
		Recipients: []queue.Recipient{{Addr: "bob@example.test"}}}
	if js := journalRecips(journalPlan(t, "mx1", journalOrg(), env, nil)); len(js) != 0 {
		t.Errorf("journaled upstream: journal recipients %+v, want none", js)
	}
	env = &queue.Envelope{ID: "J5", From: "alice@example.test", Recipients: []queue.Recipient{{Addr: "bob@example.test"},
		{Addr: "journal@example.test", Journal: &queue.JournalEnvelope{From: "journaling@example.test"}}}}
	status := []queue.RcptStatus{{State: queue.Delivered, Hop: "local"}, {}}
	if p := journalPlan(t, "mx1", journalOrg(), env, status); len(journalRecips(p)) != 1 || len(p.exps) != 0 {
		t.Errorf("journaled by an earlier attempt: recipients %+v, expansions %+v; want no second journal recipient", p.recips, p.exps)
	}
	env = &queue.Envelope{ID: "J6", From: "postmaster@example.test", OrgProps: upstreamProps(t, orgauth.MessageProp{Journaled: true, JournalReport: true}),
		Recipients: []queue.Recipient{{Addr: "carol@example.test"}}}
	p := journalPlan(t, "mx2", journalOrg(), env, nil)
	if len(journalRecips(p)) != 0 || len(p.recips) != 1 || p.copies("carol@example.test") != 1 {
		t.Errorf("a report: recipients %+v, local %+v; want carol's mailbox only, no alternate, no journaling", p.recips, p.local)
	}
	env = &queue.Envelope{ID: "J7", From: "a.smith@example.test", Recipients: []queue.Recipient{{Addr: "journal@example.test"}}}
	if js := journalRecips(journalPlan(t, "mx1", journalOrg(), env, nil)); len(js) != 0 {
		t.Errorf("mail to the journal mailbox only: journal recipients %+v, want none", js)
	}
}

// Through the queue and the Maildirs: the journal mailbox gets one file,
// the report, which parses back to the message's envelope with the
// original unchanged; a crash after the x record and a restart deliver
// it under the same name (one report, never two).
func TestJournalReportDeliveredOnceAcrossCrash(t *testing.T) {
	f := org3()
	f.Mailboxes = journalOrg().Mailboxes
	f.JournalRules = journalOrg().JournalRules[:1]
	dir := t.TempDir()
	first := startOrg(t, dir, orgSetup{Org: f, Self: "mx1", Crash: crashOnce()})
	id := first.send(queue.Envelope{From: "x@remote.test"}, "bob@example.test", "a.smith@example.test")
	first.waitCrash()
	second := startOrg(t, dir, orgSetup{Org: f, Self: "mx1"})
	second.settle()
	files := second.copies("journal@example.test")
	if len(files) != 1 {
		t.Fatalf("journal mailbox holds %v, want one report", files)
	}
	b, err := os.ReadFile(filepath.Join(second.c.Maildir.Dir("journal@example.test"), "new", files[0]))
	if err != nil {
		t.Fatal(err)
	}
	// The Maildir adds Return-Path and Delivered-To before the report.
	_, rest, _ := strings.Cut(string(b), "Delivered-To: journal@example.test\r\n")
	rep, err := journal.Parse([]byte(rest))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range rep.Recipients {
		lines = append(lines, l.Field+": "+l.Addr)
	}
	if !slices.Equal(lines, []string{"To: bob@example.test", "Bcc: a.smith@example.test"}) || rep.Sender != "x@remote.test" ||
		!strings.Contains(string(rep.Original), "Subject: group mail\r\n") || !strings.HasPrefix(b2s(b), "Return-Path: <postmaster@example.test>") {
		t.Errorf("report of %s: sender %q, lines %q, original %q, file starts %q", id, rep.Sender, lines, rep.Original, b[:40])
	}
	if len(second.copies("bob@example.test")) != 1 || len(second.copies("alice@example.test")) != 1 {
		t.Errorf("copies: bob %v, alice %v; want one each", second.copies("bob@example.test"), second.copies("alice@example.test"))
	}
	if ns := second.notices(); len(ns) != 0 {
		t.Errorf("notices %+v, want none", ns)
	}
}

func b2s(b []byte) string { return string(b) }
