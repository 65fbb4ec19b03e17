package categorize

// Envelope journaling (docs/journaling.md): the first server of the
// organization that categorizes a message adds one journal recipient
// per journal address its rules ask for. Normally decided at receipt and
// written with the message (receipt.go); when the directory could not
// answer then, decided here and recorded with the expansion before any
// delivery (queue.Expand), so that a crash neither loses nor doubles the
// report. The servers after it see message.journaled in the
// XEXCH50 properties and never journal it again (KB843106).

import (
	"bytes"
	"slices"
	"strings"

	"mailward/deliver"
	"mailward/directory"
	"mailward/events"
	"mailward/journal"
	"mailward/queue"
	"mailward/reply"
)

// journalIndex is the recipient a journal recipient's x record hangs on:
// the record needs an index, and the report belongs to the whole
// message, not to one recipient.
const journalIndex = 0

// isReport reports whether recipient i gets a journal report (a journal
// recipient added here) or the message is a journal report from the
// server before us: delivered to the mailbox as it is, never expanded,
// forwarded, journaled or filtered again.
func (p *plan) isReport(i int) bool {
	return p.recips[i].Journal != nil || (p.up != nil && p.up.Message.JournalReport)
}

// journalRecipient routes a journal recipient (or a report's recipient)
// straight to its mailbox: no alternate recipient, no expansion.
func (p *plan) journalRecipient(i int) {
	r := p.recips[i]
	if !p.c.Dir.IsLocalDomain(domainOf(r.Addr)) {
		p.remote = append(p.remote, deliver.Job{Index: i})
		return
	}
	e, err := p.c.Dir.Find(r.Addr)
	switch {
	case err != nil:
		p.result(i, queue.Pending, deliver.LocalHop, reply.New(451, "4.3.0", "directory unavailable: %v", err))
	case e.Kind == directory.MailboxEntry && p.c.Dir.IsHere(e.Mailbox.HomeServer):
		p.local = append(p.local, localJob{index: i, mailbox: e.Mailbox.Address, report: r.Journal != nil})
	case e.Kind == directory.MailboxEntry:
		p.remote = append(p.remote, deliver.Job{Index: i, Server: e.Mailbox.HomeServer})
	case e.Kind == directory.GroupEntry:
		p.result(i, queue.Failed, deliver.LocalHop, reply.New(550, "5.7.1", "journal recipient %s is a distribution group, not a mailbox", r.Addr))
	default:
		p.result(i, queue.Failed, deliver.LocalHop, reply.New(550, "5.1.1", "%s... User unknown", r.Addr))
	}
}

// journal adds the journal recipients the organization's rules ask for,
// once per message per organization.
func (p *plan) journal() {
	var org *directory.Org
	if p.c.Org != nil {
		org = p.c.Org()
	}
	if org == nil || len(org.JournalRules) == 0 {
		return
	}
	id := p.m.Env.ID
	switch {
	case p.m.Env.JournalChecked:
		return // decided at receipt, written with the message (receipt.go)
	case p.up != nil && p.up.Message.JournalReport:
		p.notJournaled("it is a journal report")
		return
	case p.up != nil && p.up.Message.Replication:
		// A shared folder's replication: the post was journaled (if at
		// all) where it was first categorized (docs/shared-folders.md).
		p.notJournaled("it is a shared-folder replication")
		return
	case p.up != nil && p.up.Message.Journaled:
		p.notJournaled("journaled upstream (XEXCH50 message.journaled)")
		return
	case slices.ContainsFunc(p.recips, func(r queue.Recipient) bool { return r.Journal != nil }):
		return // journaled by an earlier attempt here (its x record)
	case p.dirTrouble:
		// The recipients are not all known: an attempt that can see them
		// all decides (the others wait in the queue meanwhile).
		return
	}
	listed := p.journalList(org) // the journal recipients left out
	var addrs []string
	for _, r := range listed {
		addrs = append(addrs, r.Addr)
	}
	if len(listed) == 0 {
		// Mail to the journal mailboxes only (a report that lost its
		// properties on the way among them): journaling it would loop.
		p.notJournaled("its recipients are journal recipients only")
		return
	}
	rules := make([]journal.Rule, len(org.JournalRules))
	for k, r := range org.JournalRules {
		rules[k] = journal.Rule(r)
	}
	to, names := journal.ByRecipient(journal.Match(rules, orgDir{org, map[string]map[string]bool{}}, p.m.Env.From, addrs))
	if len(to) == 0 {
		return
	}
	noUp := p.up == nil && p.fromOrgServer(org)
	postmaster := p.c.Postmaster
	if postmaster == "" {
		postmaster = "postmaster@" + domainOf(org.JournalingAddress())
	}
	var add []queue.Recipient
	for _, a := range to {
		add = append(add, queue.Recipient{Addr: a, ReportTo: postmaster, Journal: &queue.JournalEnvelope{
			From: org.JournalingAddress(), Rules: names[a], Recipients: listed, NoUpstream: noUp}})
	}
	first := len(p.recips)
	p.recips = append(p.recips, add...)
	p.exps = append(p.exps, queue.Expansion{Index: journalIndex, Add: add})
	for k, a := range to {
		p.c.Events.Emit(events.JournalReportQueued, "queue_id", id, "message_id", p.m.MessageID(), "journal_recipient", a, "index", first+k,
			"rules", strings.Join(names[a], ", "), "recipients", len(listed), "without_properties", noUp)
		p.journalRecipient(first + k)
	}
}

// notJournaled notes (event 3012) why a message is not journaled here;
// JournalAtReceipt writes it once the message is committed.
func (p *plan) notJournaled(reason string) {
	p.notJournaledWhy = reason
	p.c.Events.Emit(events.JournalNotRepeated, "queue_id", p.m.Env.ID, "message_id", p.m.MessageID(), "reason", reason)
}

// fromOrgServer reports whether the message came from another server of
// the organization (by its EHLO name).
func (p *plan) fromOrgServer(org *directory.Org) bool {
	_, ok := org.ServerByFQDN(p.m.Env.Helo)
	return ok
}

// journalList is the message's recipients as its report lists them:
// every recipient once (by mailbox), a group expanded here by its
// members, a group passed on unexpanded by the members its expansion
// server will reach (the directory is the organization's: resolved
// here, not expanded), with the groups each came through.
func (p *plan) journalList(org *directory.Org) []queue.JournalRecipient {
	var out []queue.JournalRecipient
	seen := map[string]bool{}
	add := func(addr string, groups, fwd []string) {
		id := p.identity(addr)
		if seen[id] || org.IsJournalRecipient(addr) {
			return
		}
		seen[id] = true
		out = append(out, queue.JournalRecipient{Addr: addr, Expanded: groups, Forwarded: fwd})
	}
	var members func(g *directory.DistributionGroup, chain []string)
	members = func(g *directory.DistributionGroup, chain []string) {
		chain = append(slices.Clone(chain), g.Address)
		for _, a := range g.Members {
			if e := org.Find(a); e.Kind == directory.GroupEntry {
				if !slices.Contains(chain, e.Group.Address) {
					members(e.Group, chain)
				}
				continue
			}
			add(a, chain, nil)
		}
	}
	for _, r := range p.recips {
		if r.Journal != nil || r.Replica != "" {
			continue // added here for the report, or for a folder's replication
		}
		if e, err := p.c.Dir.Find(r.Addr); err == nil && e.Kind == directory.GroupEntry && p.c.Dir.IsLocalDomain(domainOf(r.Addr)) {
			g := e.Group
			switch {
			case !p.c.Dir.IsHere(g.ExpansionServer):
				members(g, r.ExpandedFrom)
				continue
			case p.expanded[g.Address]:
				continue // its members follow as recipients of their own
			}
		}
		add(r.Addr, r.ExpandedFrom, r.ForwardedFrom)
	}
	return out
}

// orgDir is the organization directory as journal rules see it; a
// group's members are looked up once per message.
type orgDir struct {
	o      *directory.Org
	groups map[string]map[string]bool
}

func (d orgDir) Identity(a string) string { return d.o.Identity(a) }

func (d orgDir) InGroup(g, id string) bool {
	set, ok := d.groups[g]
	if !ok {
		set = d.o.MemberIdentities(g)
		d.groups[g] = set
	}
	return set[id]
}

// writeReport writes a journal recipient's report into its Maildir,
// named by queue ID and index as any copy (a repeat replaces it); it is
// durable once Maildir.Sync returns.
func (c *Categorizer) writeReport(m *queue.Message, i int, mailbox string) queue.Result {
	b, err := deliver.JournalReport(m, i)
	if err != nil {
		return queue.Result{Index: i, State: queue.Pending, Reply: reply.New(451, "4.3.0", "%v", err), Hop: deliver.LocalHop}
	}
	it := c.item(m, i, mailbox)
	it.From = m.Env.Recipients[i].ReportTo
	// The report is the archive's record, not the message: no SCL, never Junk.
	it.SCL, it.Junk = nil, false
	path, err := c.Maildir.Write(it, bytes.NewReader(b))
	if err != nil {
		return localFailure(i, err)
	}
	return queue.Result{Index: i, State: queue.Delivered, Reply: reply.New(250, "2.0.0", "journal report delivered to maildir %s", path), Hop: deliver.LocalHop}
}
