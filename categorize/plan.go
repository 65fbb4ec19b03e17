package categorize

import (
	"slices"
	"strings"

	"mailward/deliver"
	"mailward/directory"
	"mailward/events"
	"mailward/orgauth"
	"mailward/queue"
	"mailward/reply"
)

// The hops of outcomes the categorizer decides itself (queue.ExpandedHop).
const (
	ExpandedHop  = queue.ExpandedHop
	ForwardedHop = queue.ForwardedHop
)

// plan is what one attempt decides for a message's pending recipients:
// outcomes known now, recipients added by expansions and forwarding
// (recorded with Expand before anything is delivered), local copies and
// remote jobs. Added recipients are decided in the same attempt, so a
// group's members are delivered at once.
type plan struct {
	c             *Categorizer
	m             *queue.Message
	up            *orgauth.Props // what the server before us decided
	authenticated bool           // the sender authenticated, here or upstream

	recips   []queue.Recipient // the message's, then the added ones
	exps     []queue.Expansion
	added    int
	claimed  map[string]int  // a mailbox (or address) → the first index that gets its copy
	expanded map[string]bool // groups expanded for this message

	results []queue.Result
	local   []localJob
	remote  []deliver.Job

	dirTrouble bool // a lookup failed: the recipients are not all known

	notJournaledWhy string // journal.go
}

func (c *Categorizer) plan(m *queue.Message) *plan {
	p := &plan{c: c, m: m, recips: append([]queue.Recipient(nil), m.Env.Recipients...),
		claimed: map[string]int{}, expanded: map[string]bool{}}
	if m.Env.OrgProps != nil {
		// Accepted only from an authenticated server of the
		// organization holding send-as (KB843106), so trusted.
		p.up, _ = orgauth.Decode(m.Env.OrgProps)
	}
	p.authenticated = m.Env.AuthUser != "" || (p.up != nil && p.up.Envelope.AuthSender != "")
	// What the server before us decided about a recipient holds for what
	// it brings here: a group passed to its expansion server gives its
	// members the groups it came through (a cycle back to them is seen),
	// its report destination and its hidden group (no NDR from here names
	// a hidden member); a forwarding chain goes on (a loop back is cut).
	for i := range p.recips {
		rp, ok := p.up.Recipient(p.recips[i].Addr)
		if !ok {
			continue
		}
		r := &p.recips[i]
		if len(r.ExpandedFrom) == 0 {
			r.ExpandedFrom = rp.Groups
		}
		if len(r.ForwardedFrom) == 0 {
			r.ForwardedFrom = rp.ForwardedFrom
		}
		if r.ReportTo == "" {
			r.ReportTo = rp.ReportTo
		}
		if r.Hidden == "" {
			r.Hidden = rp.Hidden
		}
	}
	// The first recipient of each mailbox gets its copy, whichever way
	// it was addressed (primary or proxy address, directly or through a
	// group); earlier attempts count too.
	for i, r := range p.recips {
		id := p.identity(r.Addr)
		if _, ok := p.claimed[id]; !ok {
			p.claimed[id] = i
		}
		if m.Status[i].Hop == ExpandedHop {
			p.expanded[id] = true
		}
	}
	if p.up != nil {
		// The recipients that get their copies through other servers
		// (a group passed here unexpanded): none of them gets a second
		// one through it. -1: claimed by no recipient of this message.
		for _, a := range p.up.Message.Covered {
			if id := p.identity(a); !p.isClaimed(id) {
				p.claimed[id] = coveredElsewhere
			}
		}
	}
	work := m.Pending()
	for k := 0; k < len(work); k++ {
		i := work[k]
		before := len(p.recips)
		p.decide(i)
		for j := before; j < len(p.recips); j++ {
			work = append(work, j)
		}
	}
	p.journal()
	return p
}

// coveredElsewhere claims a copy that another server delivers.
const coveredElsewhere = -1

func (p *plan) isClaimed(id string) bool {
	_, ok := p.claimed[id]
	return ok
}

// identity is what a copy is counted by: a mailbox's primary address,
// or the address itself.
func (p *plan) identity(addr string) string {
	if p.c.Dir.IsLocalDomain(domainOf(addr)) {
		if e, err := p.c.Dir.Find(addr); err == nil && e.Kind != directory.NotFound {
			return e.Address()
		}
	}
	return strings.ToLower(addr)
}

// upstream returns what the server before us said about recipient i.
func (p *plan) upstream(i int) orgauth.RcptProp {
	if i >= len(p.m.Env.Recipients) {
		return orgauth.RcptProp{} // added here
	}
	r, _ := p.up.Recipient(p.recips[i].Addr)
	return r
}

func (p *plan) decide(i int) {
	r := p.recips[i]
	if p.isReport(i) {
		p.journalRecipient(i) // journal.go
		return
	}
	if !p.c.Dir.IsLocalDomain(domainOf(r.Addr)) {
		p.remote = append(p.remote, deliver.Job{Index: i})
		return
	}
	e, err := p.c.Dir.Find(r.Addr)
	switch {
	case err != nil:
		// A directory outage defers: never a bounce, never a loss.
		p.dirTrouble = true
		p.result(i, queue.Pending, deliver.LocalHop, reply.New(451, "4.3.0", "directory unavailable: %v", err))
	case e.Kind == directory.NotFound && p.c.UnresolvedHost != "" && p.c.Remote != nil:
		p.remote = append(p.remote, deliver.Job{Index: i, Via: p.c.UnresolvedHost})
	case e.Kind == directory.NotFound:
		p.result(i, queue.Failed, deliver.LocalHop, reply.New(550, "5.1.1", "%s... User unknown", p.shown(i)))
	case e.Kind == directory.StoreEntry:
		// Replication: one copy per replication ID, not per address.
		p.store(i, e.Store)
	case e.Kind == directory.FolderEntry && r.ReplicationID != "":
		// A post named here for the nearest replica (folders.go).
		p.folder(i, e.Folder)
	case p.claimed[e.Address()] != i:
		// Another recipient of the message gets this mailbox's copy.
		p.done(i, ExpandedHop, reply.New(250, "2.1.5", "%s is delivered once, as %s", p.shown(i), p.shown(p.claimed[e.Address()])), false)
	case e.Kind == directory.MailboxEntry:
		p.mailbox(i, e.Mailbox)
	case e.Kind == directory.FolderEntry:
		p.folder(i, e.Folder)
	default:
		p.group(i, e.Group)
	}
}

// mailbox applies the alternate recipient once, then routes the copy to
// the mailbox's home server.
func (p *plan) mailbox(i int, mb *directory.OrgMailbox) {
	r := p.recips[i]
	up := p.upstream(i)
	if mb.AlternateRecipient != "" && r.Forwarded && !mb.DeliverToBoth &&
		!slices.Contains(append(slices.Clone(r.ForwardedFrom), mb.Address), p.identity(mb.AlternateRecipient)) {
		// Forwarded by an attempt that a crash ended after recording it
		// (queue.Expand): the alternate has the copy, the mailbox none.
		// A forwarding loop's cut, recorded as forwarded too, keeps its
		// one copy.
		p.done(i, ForwardedHop, reply.New(250, "2.1.5", "%s forwarded to its alternate recipient", p.shown(i)), false)
		return
	}
	if alt := mb.AlternateRecipient; alt != "" && !r.Forwarded && !up.Forwarded {
		// The chain so far, as recorded here or as the server before us
		// passed it (plan): a loop may close across servers.
		chain := append(slices.Clone(r.ForwardedFrom), mb.Address)
		altID := p.identity(alt)
		switch {
		case p.claimed[altID] == coveredElsewhere:
			// The alternate gets its copy through another server: applied,
			// with nothing to add.
			p.add(i, nil, true)
			p.c.Events.Emit(events.AlternateApplied, "queue_id", p.m.Env.ID, "message_id", p.m.MessageID(), "mailbox", mb.Address, "alternate", alt,
				"both", mb.DeliverToBoth, "added", 0)
			if !mb.DeliverToBoth {
				p.done(i, ForwardedHop, reply.New(250, "2.1.5", "%s forwarded to its alternate recipient", p.shown(i)), false)
				return
			}
		case slices.Contains(chain, altID):
			// a → b → a: one copy, here, and an event; marked as
			// applied, so that its home server does not forward it again.
			p.add(i, nil, true)
			p.c.Events.Emit(events.ForwardingLoop, "queue_id", p.m.Env.ID, "message_id", p.m.MessageID(), "chain", strings.Join(append(chain, altID), " → "),
				"delivered", mb.Address)
		default:
			var add []queue.Recipient
			if _, dup := p.claimed[altID]; !dup {
				add = append(add, queue.Recipient{Addr: alt, Notify: r.Notify, ORCPT: orcpt(r), ForwardedFrom: chain,
					ExpandedFrom: r.ExpandedFrom, ReportTo: r.ReportTo, Hidden: r.Hidden})
			} // else the alternate's copy comes another way (addressed too, or through a group): one copy each
			n := p.add(i, add, true)
			p.c.Events.Emit(events.AlternateApplied, "queue_id", p.m.Env.ID, "message_id", p.m.MessageID(), "mailbox", mb.Address, "alternate", alt,
				"both", mb.DeliverToBoth, "added", n)
			if !mb.DeliverToBoth {
				p.done(i, ForwardedHop, reply.New(250, "2.1.5", "%s forwarded to its alternate recipient", p.shown(i)), false)
				return
			}
		}
		p.recips[i].Forwarded = true
	}
	if p.c.Dir.IsHere(mb.HomeServer) {
		j := localJob{index: i, mailbox: mb.Address}
		if g := p.recips[i].ExpandedFrom; len(g) > 0 {
			j.group = g[0] // the group the message was sent to
		}
		p.local = append(p.local, j)
		return
	}
	p.remote = append(p.remote, deliver.Job{Index: i, Server: mb.HomeServer})
}

// group expands a distribution group, once per message and once per
// organization (KB843106), or passes it to its expansion server.
func (p *plan) group(i int, g *directory.DistributionGroup) {
	r := p.recips[i]
	if !p.c.Dir.IsHere(g.ExpansionServer) {
		p.remote = append(p.remote, deliver.Job{Index: i, Server: g.ExpansionServer})
		return
	}
	if slices.Contains(r.ExpandedFrom, g.Address) || p.expanded[g.Address] {
		if slices.Contains(r.ExpandedFrom, g.Address) {
			p.c.Events.Emit(events.ExpansionCycle, "queue_id", p.m.Env.ID, "message_id", p.m.MessageID(), "group", g.Address,
				"chain", strings.Join(append(slices.Clone(r.ExpandedFrom), g.Address), " → "))
		}
		p.done(i, ExpandedHop, reply.New(250, "2.1.5", "%s is already expanded for this message", p.shown(i)), false)
		return
	}
	if ok, why := p.c.Dir.MayPost(g, p.m.Env.From, p.authenticated); !ok {
		p.c.Events.Emit(events.RestrictionRefused, "queue_id", p.m.Env.ID, "message_id", p.m.MessageID(), "group", g.Address, "from", orNull(p.m.Env.From),
			"reason", why)
		p.result(i, queue.Failed, ExpandedHop, reply.New(550, "5.7.1", "%s", why))
		return
	}
	chain := append(slices.Clone(r.ExpandedFrom), g.Address)
	var members []queue.Recipient
	for _, a := range g.Members {
		id := p.identity(a)
		if slices.Contains(chain, id) {
			// The group contains itself: it is expanded once, and the
			// cycle is said (its recipient is claimed already, so the
			// test below would skip it without a word).
			p.c.Events.Emit(events.ExpansionCycle, "queue_id", p.m.Env.ID, "message_id", p.m.MessageID(), "group", id,
				"chain", strings.Join(slices.Concat(chain[slices.Index(chain, id):], []string{id}), " → "))
			continue
		}
		if _, dup := p.claimed[id]; dup {
			continue // its copy comes another way: one copy each
		}
		members = append(members, p.member(r, g, a))
	}
	if p.c.MaxExpanded > 0 && p.added+len(members) > p.c.MaxExpanded {
		p.c.Events.Emit(events.ExpansionLimit, "queue_id", p.m.Env.ID, "message_id", p.m.MessageID(), "group", g.Address, "max", p.c.MaxExpanded)
		p.result(i, queue.Failed, ExpandedHop, reply.New(550, "5.2.4",
			"%s: expanding it would exceed the limit of %d recipients for one message", g.Address, p.c.MaxExpanded))
		return
	}
	p.expanded[g.Address] = true
	n := p.add(i, members, false)
	p.c.Events.Emit(events.GroupExpanded, "queue_id", p.m.Env.ID, "message_id", p.m.MessageID(), "group", g.Address,
		"members", len(g.Members), "added", n, "rcpts", addrList(members))
	p.done(i, ExpandedHop, reply.New(250, "2.1.5", "%s expanded", p.shown(i)), true)
}

// member is a group member as a recipient of its own: it inherits the
// DSN request (less SUCCESS: the group's "expanded" notice covers it,
// RFC 3461 §6.2.7.4) and the group's delivery-report setting.
func (p *plan) member(parent queue.Recipient, g *directory.DistributionGroup, addr string) queue.Recipient {
	m := queue.Recipient{Addr: addr, Notify: memberNotify(parent.Notify), ORCPT: orcpt(parent),
		ExpandedFrom: append(slices.Clone(parent.ExpandedFrom), g.Address), ReportTo: parent.ReportTo, Hidden: parent.Hidden}
	switch g.DeliveryReports {
	case directory.ReportsToOwner:
		m.ReportTo = g.Owner
	case directory.ReportsNone:
		m.ReportTo = "-"
	}
	if m.Hidden == "" && g.HideMembership {
		m.Hidden = g.Address
	}
	return m
}

// add appends recipients an expansion of recipient i brings, claiming
// their copies, and returns how many.
func (p *plan) add(i int, rs []queue.Recipient, forwarded bool) int {
	for _, r := range rs {
		p.claimed[p.identity(r.Addr)] = len(p.recips)
		p.recips = append(p.recips, r)
	}
	p.added += len(rs)
	if len(rs) > 0 || forwarded {
		p.exps = append(p.exps, queue.Expansion{Index: i, Add: rs, Forwarded: forwarded})
	}
	return len(rs)
}

func (p *plan) result(i int, st queue.State, hop string, r reply.Reply) {
	p.results = append(p.results, queue.Result{Index: i, State: st, Hop: hop, Reply: r})
}

// done is an outcome that needs no copy here: an expansion, a forward, a
// recipient whose copy another one gets. notice says whether it is the
// one a success notice is ours to send for (RFC 3464's "expanded"); for
// the others the copy that is delivered reports.
func (p *plan) done(i int, hop string, r reply.Reply, notice bool) {
	p.results = append(p.results, queue.Result{Index: i, State: queue.Delivered, Hop: hop, Reply: r, NotifyPassed: !notice})
}

// shown is how a recipient is named to the sender: a member of a group
// with hidden membership is named as that group.
func (p *plan) shown(i int) string {
	if h := p.recips[i].Hidden; h != "" {
		return "a member of " + h
	}
	return p.recips[i].Addr
}

func memberNotify(n string) string {
	if n == "" || strings.EqualFold(n, "NEVER") {
		return n
	}
	var keep []string
	for _, k := range strings.Split(strings.ToUpper(n), ",") {
		if k != "SUCCESS" {
			keep = append(keep, k)
		}
	}
	if len(keep) == 0 {
		return "NEVER"
	}
	return strings.Join(keep, ",")
}

func orcpt(r queue.Recipient) string {
	if r.ORCPT != "" {
		return r.ORCPT
	}
	return "rfc822;" + r.Addr
}

func orNull(a string) string {
	if a == "" {
		return "<>"
	}
	return a
}
