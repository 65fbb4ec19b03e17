package categorize

import (
	"slices"
	"strings"

	"mailward/deliver"
	"mailward/directory"
	"mailward/queue"
)

// Query is what Explain is asked: a message from Sender to Rcpt.
type Query struct {
	Rcpt, Sender  string
	Authenticated bool // the sender authenticated (AUTH on a virtual server)
	// Restrictions applies the groups' restrictions to Sender; without
	// it every group is expanded, whoever sends.
	Restrictions bool
	// ShowHidden lists the members of groups with hidden membership;
	// without it they are left out (HiddenMembers says so).
	ShowHidden bool
	// Server is the name of the server the categorizer runs on, "" for
	// a standalone server.
	Server string
	// As returns the directory as another server of the organization
	// sees it, to follow a group to its expansion server; nil does not
	// follow it.
	As func(server string) Directory
}

// Kind says what an address is.
type Kind string

const (
	KindMailbox  Kind = "mailbox"
	KindGroup    Kind = "group"
	KindExternal Kind = "external" // not in a domain of this server or the organization
	KindUnknown  Kind = "unknown"  // in such a domain, but nobody has it
	// A shared folder, and a server's store address (where its
	// replication goes): folders.go, docs/shared-folders.md.
	KindFolder Kind = "shared_folder"
	KindStore  Kind = "store"
)

// Outcome is what becomes of a recipient.
type Outcome string

const (
	OutDelivered Outcome = "delivered" // into its mailbox, on At
	OutSent      Outcome = "sent"      // to its home server To, with X-EXPS and XEXCH50
	OutPassed    Outcome = "passed"    // a group, unexpanded, to its expansion server To
	OutRelayed   Outcome = "relayed"   // outside the organization (To: delivery.unresolved_host)
	OutExpanded  Outcome = "expanded"  // a group, on At
	OutForwarded Outcome = "forwarded" // to its alternate recipient only
	OutOnce      Outcome = "once"      // its copy is CopyOf's (reached before)
	OutCycle     Outcome = "cycle"     // a group that contains itself: expanded once
	OutFailed    Outcome = "failed"    // a non-delivery report: Reply
	OutDeferred  Outcome = "deferred"  // tried again later: Reply
)

// Node is one recipient of the explanation.
type Node struct {
	Address string `json:"address"` // as addressed (a member as its group lists it)
	Kind    Kind   `json:"kind"`
	// Mailbox is the primary address of a mailbox addressed by a proxy
	// address; HomeServer is its home server ("" this server's own
	// [[mailbox]]).
	Mailbox    string `json:"mailbox,omitempty"`
	HomeServer string `json:"home_server,omitempty"`
	Group      *Group `json:"group,omitempty"`
	// Replicas are a shared folder's replica servers, in order.
	Replicas []string `json:"replicas,omitempty"`

	Outcome Outcome `json:"outcome"`
	At      string  `json:"at,omitempty"`    // the server that decides it
	To      string  `json:"to,omitempty"`    // the server (or host) it goes to next
	Reply   string  `json:"reply,omitempty"` // the categorizer's reply (failed, deferred)
	CopyOf  string  `json:"copy_of,omitempty"`
	Cycle   string  `json:"cycle,omitempty"` // "a → b → a"

	// Restriction is a group's restrictions applied to the sender, as
	// At decides them.
	Restriction *Verdict   `json:"restriction,omitempty"`
	Alternate   *Alternate `json:"alternate,omitempty"`
	Members     []*Node    `json:"members,omitempty"`
	// HiddenMembers: members left out, hidden by their group.
	HiddenMembers bool `json:"hidden_members,omitempty"`
	// Expansion is the group as its expansion server resolves it.
	Expansion *Node `json:"expansion,omitempty"`
	// ReportTo is where the reports about it go: "" the sender, an
	// address (a group's owner), "-" nobody.
	ReportTo string `json:"report_to,omitempty"`
}

// Group is a distribution group's settings.
type Group struct {
	ExpansionServer         string   `json:"expansion_server,omitempty"`
	HideMembership          bool     `json:"hide_membership,omitempty"`
	DeliveryReports         string   `json:"delivery_reports"`
	Owner                   string   `json:"owner,omitempty"`
	AcceptOnlyAuthenticated bool     `json:"accept_only_authenticated,omitempty"`
	AcceptFrom              []string `json:"accept_from,omitempty"`
	RejectFrom              []string `json:"reject_from,omitempty"`
}

// Restricted reports whether the group has any restriction.
func (g *Group) Restricted() bool {
	return g.AcceptOnlyAuthenticated || len(g.AcceptFrom) > 0 || len(g.RejectFrom) > 0
}

// Verdict is MayPost's answer for the sender.
type Verdict struct {
	Authenticated bool   `json:"authenticated"` // as the deciding server sees it
	Allowed       bool   `json:"allowed"`
	Why           string `json:"why,omitempty"`
}

// Alternate is a mailbox's alternate recipient.
type Alternate struct {
	Address       string `json:"address"`
	DeliverToBoth bool   `json:"deliver_to_both"`
	// Loop is the forwarding loop that stops it ("a → b → a").
	Loop string `json:"loop,omitempty"`
	// Applied is false when a server before this one applied it.
	Applied bool `json:"applied"`
	// Recipient is the copy it makes; nil for a loop, or when the
	// message reaches it another way (CopyOf).
	Recipient *Node  `json:"recipient,omitempty"`
	CopyOf    string `json:"copy_of,omitempty"`
}

// Explanation is Explain's answer.
type Explanation struct {
	Root *Node
	// Copies counts the copies made, hidden members' included: delivered,
	// sent to a home server, relayed (and a group passed to an expansion
	// server that is not followed).
	Copies int
}

// Explain shows how an address resolves (`mailward directory resolve`,
// docs/categorizer.md): q.Rcpt as the categorizer of server q.Server
// resolves it for a message from q.Sender, followed to the expansion
// servers of the groups it passes on. It runs the planner itself on a
// message that is never queued, delivered or logged, and turns its
// decisions into a tree, so that the tool shows what the categorizer
// does, not a second idea of it.
func (c *Categorizer) Explain(q Query) Explanation {
	x := &explainer{q: q, base: c, followed: map[string]bool{}}
	root := x.run(c.Dir, q.Server, []queue.Recipient{{Addr: q.Rcpt}}, nil).node(0)
	return Explanation{Root: root, Copies: x.copies}
}

type explainer struct {
	q        Query
	base     *Categorizer
	followed map[string]bool // groups followed to their expansion server
	copies   int
}

// run plans the message on one server: from a client (up nil), or from
// the server before it with that server's XEXCH50 properties.
func (x *explainer) run(dir Directory, server string, rcpts []queue.Recipient, up []byte) *tree {
	c := *x.base
	c.Dir, c.Events = dir, nil // nothing happens, nothing is logged
	if !x.q.Restrictions {
		c.Dir = anyone{dir}
	}
	env := &queue.Envelope{ID: "resolve", From: x.q.Sender, Recipients: rcpts, OrgProps: up}
	if x.q.Authenticated && up == nil {
		env.AuthUser = authUser(x.q.Sender)
	}
	t := &tree{x: x, server: server, p: c.plan(&queue.Message{Env: env, Status: make([]queue.RcptStatus, len(rcpts))}),
		kids: map[int][]int{}, forwarded: map[int]bool{}, results: map[int]queue.Result{}, local: map[int]bool{},
		remote: map[int]deliver.Job{}, hops: map[string]*hop{}}
	next := len(env.Recipients)
	for _, e := range t.p.exps {
		for range e.Add {
			t.kids[e.Index] = append(t.kids[e.Index], next)
			next++
		}
		t.forwarded[e.Index] = t.forwarded[e.Index] || e.Forwarded
	}
	for _, r := range t.p.results {
		t.results[r.Index] = r
	}
	for _, l := range t.p.local {
		t.local[l.index] = true
	}
	for _, j := range t.p.remote {
		t.remote[j.Index] = j
	}
	return t
}

// anyone lets every sender post: the membership, whoever sends.
type anyone struct{ Directory }

func (anyone) MayPost(*directory.DistributionGroup, string, bool) (bool, string) { return true, "" }

// authUser stands for the login of an authenticated sender: the planner
// asks only whether there is one.
func authUser(sender string) string {
	if sender == "" {
		return "(authenticated)"
	}
	return sender
}

// tree turns one plan into nodes.
type tree struct {
	x         *explainer
	p         *plan
	server    string
	kids      map[int][]int // the recipients an expansion or a forwarding added, in order
	forwarded map[int]bool  // a mailbox whose alternate was applied here
	results   map[int]queue.Result
	local     map[int]bool
	remote    map[int]deliver.Job
	hops      map[string]*hop // the message as an expansion server gets it from here
}

// hop is the message as a server of the organization gets it from the
// server before: the recipients from indexes from, planned there.
type hop struct {
	from []int
	t    *tree
}

// node is recipient i as the plan decided it, with what it brought: a
// group's members, a mailbox's alternate, the group on its expansion
// server.
func (t *tree) node(i int) *Node {
	r := t.p.recips[i]
	n, e := t.describe(r.Addr)
	n.At, n.ReportTo = t.server, r.ReportTo
	j, remote := t.remote[i]
	res, decided := t.results[i]
	switch {
	case t.local[i]:
		n.Outcome = OutDelivered
		t.x.copies++
	case remote && j.Server != "" && e.Kind == directory.GroupEntry:
		n.Outcome, n.To = OutPassed, j.Server
		n.Expansion = t.follow(i, e.Group)
	case remote && j.Server != "":
		n.Outcome, n.To = OutSent, j.Server
		t.x.copies++
	case remote:
		n.Outcome, n.To = OutRelayed, j.Via
		t.x.copies++
	case !decided:
	case res.State == queue.Failed:
		n.Outcome, n.Reply = OutFailed, res.Reply.String()
	case res.State == queue.Pending:
		n.Outcome, n.Reply = OutDeferred, res.Reply.String()
	case res.Hop == ForwardedHop:
		n.Outcome = OutForwarded
	case !res.NotifyPassed:
		n.Outcome = OutExpanded
	default:
		n.Outcome, n.Reply = OutOnce, res.Reply.String()
	}
	switch {
	case e.Kind == directory.MailboxEntry && n.Outcome != OutOnce && e.Mailbox.AlternateRecipient != "":
		n.Alternate = t.alternate(i, e.Mailbox)
	case e.Kind == directory.FolderEntry:
		// Its replica recipients, one per other replica server; or the
		// post, named, for the nearest replica.
		for _, k := range t.kids[i] {
			n.Members = append(n.Members, t.node(k))
		}
	case e.Kind == directory.GroupEntry && (n.Outcome == OutExpanded || n.Outcome == OutFailed):
		if t.x.q.Restrictions && n.Group.Restricted() {
			ok, why := t.p.c.Dir.MayPost(e.Group, t.x.q.Sender, t.p.authenticated)
			n.Restriction = &Verdict{Authenticated: t.p.authenticated, Allowed: ok, Why: why}
		}
		if n.Outcome == OutExpanded {
			t.members(n, i, e.Group)
		}
	}
	return n
}

// describe says what an address is, as this server's directory knows it.
func (t *tree) describe(addr string) (*Node, directory.Entry) {
	n := &Node{Address: addr, Kind: KindExternal}
	dir := t.p.c.Dir
	if !dir.IsLocalDomain(domainOf(addr)) {
		return n, directory.Entry{}
	}
	e, err := dir.Find(addr)
	switch {
	case err != nil || e.Kind == directory.NotFound:
		n.Kind = KindUnknown
	case e.Kind == directory.MailboxEntry:
		n.Kind, n.HomeServer = KindMailbox, e.Mailbox.HomeServer
		if !strings.EqualFold(addr, e.Mailbox.Address) {
			n.Mailbox = e.Mailbox.Address
		}
	case e.Kind == directory.FolderEntry:
		n.Kind, n.Replicas = KindFolder, e.Folder.Replicas
	case e.Kind == directory.StoreEntry:
		n.Kind, n.HomeServer = KindStore, e.Store.Name
	default:
		g := e.Group
		n.Kind = KindGroup
		n.Group = &Group{ExpansionServer: g.ExpansionServer, HideMembership: g.HideMembership,
			DeliveryReports: g.DeliveryReports, Owner: g.Owner, AcceptOnlyAuthenticated: g.AcceptOnlyAuthenticated,
			AcceptFrom: g.AcceptFrom, RejectFrom: g.RejectFrom}
	}
	return n, e
}

// alternate is what became of mailbox i's alternate recipient.
func (t *tree) alternate(i int, mb *directory.OrgMailbox) *Alternate {
	r := t.p.recips[i]
	a := &Alternate{Address: mb.AlternateRecipient, DeliverToBoth: mb.DeliverToBoth, Applied: t.forwarded[i]}
	if !a.Applied {
		return a // upstream, by the server before this one
	}
	if kids := t.kids[i]; len(kids) > 0 {
		a.Recipient = t.visible(kids[0])
		return a
	}
	altID := t.p.identity(mb.AlternateRecipient)
	if chain := append(slices.Clone(r.ForwardedFrom), mb.Address); slices.Contains(chain, altID) {
		a.Loop = strings.Join(append(chain, altID), " → ")
		return a
	}
	a.CopyOf = t.copyOf(altID)
	return a
}

// members lists group g's members as recipient i's expansion made them:
// those it added, in order, and those whose copy comes another way
// (reached before, or the group itself again: a cycle).
func (t *tree) members(n *Node, i int, g *directory.DistributionGroup) {
	r := t.p.recips[i]
	kids, k := t.kids[i], 0
	for _, a := range g.Members {
		if k < len(kids) && t.p.recips[kids[k]].Addr == a {
			t.add(n, t.visible(kids[k]))
			k++
			continue
		}
		m, _ := t.describe(a)
		m.At = t.server
		id := t.p.identity(a)
		if chain := append(slices.Clone(r.ExpandedFrom), g.Address); slices.Contains(chain, id) {
			m.Outcome, m.Cycle = OutCycle, strings.Join(append(chain, id), " → ")
		} else {
			m.Outcome, m.CopyOf = OutOnce, t.copyOf(id)
		}
		// Hidden as the planner would have made it.
		if t.p.member(r, g, a).Hidden != "" && !t.x.q.ShowHidden {
			m = nil
		}
		t.add(n, m)
	}
}

// add appends member m to group n; nil is a hidden one.
func (t *tree) add(n *Node, m *Node) {
	if m == nil {
		n.HiddenMembers = true
		return
	}
	n.Members = append(n.Members, m)
}

// visible is recipient i's node, or nil when its group hides it.
func (t *tree) visible(i int) *Node {
	m := t.node(i)
	if t.p.recips[i].Hidden != "" && !t.x.q.ShowHidden {
		return nil
	}
	return m
}

// copyOf names the recipient that gets id's copy; "" when a group
// hides it, or when it comes through another server (XEXCH50
// message.covered).
func (t *tree) copyOf(id string) string {
	k, ok := t.p.claimed[id]
	if !ok || k == coveredElsewhere || (t.p.recips[k].Hidden != "" && !t.x.q.ShowHidden) {
		return ""
	}
	return t.p.recips[k].Addr
}

// follow resolves group recipient i on its expansion server, as the
// message arrives there.
func (t *tree) follow(i int, g *directory.DistributionGroup) *Node {
	if t.x.q.As == nil || t.x.followed[g.Address] {
		t.x.copies++ // it leaves here; what it becomes is not shown
		return nil
	}
	t.x.followed[g.Address] = true
	h, ok := t.hops[g.ExpansionServer]
	if !ok {
		h = t.hop(g.ExpansionServer)
		t.hops[g.ExpansionServer] = h
	}
	if h == nil {
		t.x.copies++
		return nil
	}
	return h.t.node(slices.Index(h.from, i))
}

// hop plans the message on server as it arrives there from this one:
// every recipient this attempt sends there, in one transaction (delivery
// groups them by next hop, so the server there counts their copies
// together), with the XEXCH50 properties this server sends
// (deliver.Remote's props) when the trust between them works.
func (t *tree) hop(server string) *hop {
	h := &hop{}
	var rcpts []queue.Recipient
	for _, j := range t.p.remote {
		if j.Server != server {
			continue
		}
		r := t.p.recips[j.Index]
		h.from = append(h.from, j.Index)
		rcpts = append(rcpts, queue.Recipient{Addr: r.Addr, Notify: r.Notify, ORCPT: r.ORCPT})
	}
	// The message as the queue holds it after this attempt's expansions
	// (the plan's recipients, with their forwarding applied).
	env := *t.p.m.Env
	env.Recipients = t.p.recips
	isGroup := func(addr string) bool {
		e, err := t.p.c.Dir.Find(addr)
		return err == nil && e.Kind == directory.GroupEntry
	}
	blob := deliver.OrgProps(&env, h.from, t.server, isGroup)
	if blob == nil {
		return nil
	}
	h.t = t.x.run(t.x.q.As(server), server, rcpts, blob)
	return h
}
