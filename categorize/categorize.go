// Package categorize is the stage between the queue and delivery: it
// resolves each pending recipient against the directory and decides what
// becomes of it (docs/categorizer.md) — a mailbox delivered here or on its
// home server, a distribution group expanded once for the whole
// organization (or passed to its expansion server), an alternate
// recipient applied once, a group's restrictions enforced, and a
// non-delivery report for an address that resolves to no one (KB304897).
// What the first server of the organization decided travels to the next
// one in the XEXCH50 properties (KB843106), which act on it instead of
// deciding again.
package categorize

import (
	"context"
	"strings"
	"time"

	"mailward/deliver"
	"mailward/directory"
	"mailward/events"
	"mailward/metrics"
	"mailward/queue"
	"mailward/reply"
)

// Directory is what the categorizer needs to resolve recipients
// (directory.Recipients satisfies it).
type Directory interface {
	IsLocalDomain(domain string) bool
	// Find resolves an address of a local domain; the error is an outage.
	Find(addr string) (directory.Entry, error)
	// MayPost applies a group's restrictions to a sender.
	MayPost(g *directory.DistributionGroup, sender string, authenticated bool) (bool, string)
	// IsHere reports whether a home or expansion server is this server.
	IsHere(server string) bool
}

// Expander records the recipients an expansion adds before they are
// delivered to (queue.Queue satisfies it).
type Expander interface {
	Expand(m *queue.Message, exps []queue.Expansion) error
}

// Remote delivers the given recipients of m to their next hops. Nil
// means remote delivery is not configured: those recipients wait.
type Remote func(ctx context.Context, m *queue.Message, jobs []deliver.Job) []queue.Result

// Categorizer turns a queued message into per-recipient results.
type Categorizer struct {
	Dir     Directory
	Queue   Expander
	Maildir *deliver.Maildir
	Remote  Remote
	Events  *events.Log
	// Metrics times each local delivery attempt and counts its
	// results (docs/metrics.md); nil: nothing is counted.
	Metrics *metrics.Recorder
	// UnresolvedHost is KB304897's "forward mail with unresolved
	// recipients to host": a local recipient with no mailbox is relayed
	// there instead of bounced. Empty: NDR.
	UnresolvedHost string
	// Hops is the delivery-queue registry; a suspended "local" queue
	// holds local deliveries like any other.
	Hops *deliver.Hops
	// MaxHops is server.max_hops: a queued message that carries more
	// trace fields than this — the Received: field this server added when
	// it queued it included, as the receive side counts at DATA — is
	// looping and fails with 5.4.6 (RFC 5321 §6.3). 0: no limit.
	MaxHops int
	// MaxExpanded bounds the recipients expansions may add to one
	// message; past it the group fails with 5.2.4. 0: no limit.
	MaxExpanded int
	// LocalConcurrency is how many local deliveries of one message run at
	// once (a group's members share the mailboxes' group commit).
	LocalConcurrency int
	// SingleInstance gives the members of one group delivered here in
	// one attempt one shared instance (deliver.Instance), not a copy
	// each.
	SingleInstance bool
	// JunkThreshold: a message whose SCL is at or above it goes into
	// the mailbox's Junk folder (content_filter.store_threshold); 0: off.
	JunkThreshold int
	// Org is the organization directory in force, for its journal rules
	// (journal.go); nil without an organization.
	Org func() *directory.Org
	// Postmaster gets the reports about journal recipients, never the
	// sender (docs/journaling.md).
	Postmaster string
}

// Handle is a queue.Handler.
func (c *Categorizer) Handle(ctx context.Context, m *queue.Message) []queue.Result {
	if r, looping := c.checkHops(m); looping {
		return r
	}
	p := c.plan(m)
	if len(p.exps) > 0 {
		if err := c.Queue.Expand(m, p.exps); err != nil {
			// Nothing an expansion added may be delivered before it is
			// on disk: every pending recipient waits.
			c.Events.Emit(events.SpoolWriteFailed, "error", err)
			var out []queue.Result
			for _, i := range m.Pending() {
				out = append(out, queue.Result{Index: i, State: queue.Pending, Hop: deliver.LocalHop,
					Reply: reply.New(451, "4.3.0", "could not record the expansion of the recipients: %v", err)})
			}
			return out
		}
	}
	results := p.results
	if len(p.local) > 0 {
		start := time.Now()
		local := c.deliverAllLocal(ctx, m, p.local)
		c.Metrics.Attempt(metrics.KindLocal, time.Since(start), local)
		results = append(results, local...)
	}
	if len(p.remote) > 0 {
		if c.Remote == nil {
			for _, j := range p.remote {
				results = append(results, queue.Result{Index: j.Index, State: queue.Pending,
					Reply: reply.New(451, "4.4.0", "remote delivery is not configured on this server")})
			}
		} else {
			results = append(results, c.Remote(ctx, m, p.remote)...)
		}
	}
	for _, r := range results {
		c.report(m, r)
	}
	return results
}

// report writes the event of one recipient's attempt, with what message
// tracking follows it by (track.go).
func (c *Categorizer) report(m *queue.Message, r queue.Result) {
	kv := c.attemptFields(m, r)
	switch r.State {
	case queue.Delivered:
		c.Events.Emit(events.Delivered, append(kv, "where", r.Reply.Text())...)
	case queue.Failed:
		c.Events.Emit(events.DeliveryFailed, append(kv, "status", r.Reply.EnhancedStatus(), "error", r.Reply.String())...)
	default:
		c.Events.Emit(events.DeliveryDeferred, append(kv, "error", r.Reply.String())...)
	}
}

func domainOf(addr string) string { return addr[strings.LastIndexByte(addr, '@')+1:] }
