// Package categorize is the stage between the queue and delivery: it
// resolves each pending recipient against the directory and routes it to
// local delivery, to remote delivery, or to a non-delivery report
// (KB304897: a local recipient that resolves to no one gets an NDR).
package categorize

import (
	"context"
	"io"
	"strings"

	"mailward/deliver"
	"mailward/directory"
	"mailward/events"
	"mailward/message"
	"mailward/queue"
	"mailward/reply"
)

// Directory is what the categorizer needs to resolve recipients.
type Directory interface {
	IsLocalDomain(domain string) bool
	Lookup(addr string) (directory.Mailbox, bool, error)
}

// Remote delivers the given recipients of m to their next hops. Nil
// means remote delivery is not configured: those recipients wait.
type Remote func(ctx context.Context, m *queue.Message, jobs []deliver.Job) []queue.Result

// Categorizer turns a queued message into per-recipient results.
type Categorizer struct {
	Dir     Directory
	Maildir *deliver.Maildir
	Remote  Remote
	Events  *events.Log
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
}

// Handle is a queue.Handler.
func (c *Categorizer) Handle(ctx context.Context, m *queue.Message) []queue.Result {
	if r, looping := c.checkHops(m); looping {
		return r
	}
	var results, local []queue.Result
	var remote []deliver.Job
	var mailboxes []string
	for _, i := range m.Pending() {
		rcpt := m.Env.Recipients[i].Addr
		domain := rcpt[strings.LastIndexByte(rcpt, '@')+1:]
		if !c.Dir.IsLocalDomain(domain) {
			remote = append(remote, deliver.Job{Index: i})
			continue
		}
		mb, ok, err := c.Dir.Lookup(rcpt)
		switch {
		case err != nil:
			// A directory outage defers: never a bounce, never a loss.
			results = append(results, queue.Result{Index: i, State: queue.Pending, Hop: deliver.LocalHop,
				Reply: reply.New(451, "4.3.0", "directory unavailable: %v", err)})
		case !ok && c.UnresolvedHost != "" && c.Remote != nil:
			remote = append(remote, deliver.Job{Index: i, Via: c.UnresolvedHost})
		case !ok:
			results = append(results, queue.Result{Index: i, State: queue.Failed, Hop: deliver.LocalHop,
				Reply: reply.New(550, "5.1.1", "%s... User unknown", rcpt)})
		default:
			local = append(local, queue.Result{Index: i})
			mailboxes = append(mailboxes, mb.Address)
		}
	}
	for k, r := range local {
		if c.Hops != nil && c.Hops.Suspended(deliver.LocalHop) {
			results = append(results, queue.Result{Index: r.Index, State: queue.Pending, Hop: deliver.LocalHop,
				Reply: reply.New(451, "4.4.0", "delivery queue local is suspended by the administrator")})
			continue
		}
		results = append(results, c.deliverLocal(m, r.Index, mailboxes[k]))
	}
	if len(remote) > 0 {
		if c.Remote == nil {
			for _, j := range remote {
				results = append(results, queue.Result{Index: j.Index, State: queue.Pending,
					Reply: reply.New(451, "4.4.0", "remote delivery is not configured on this server")})
			}
		} else {
			results = append(results, c.Remote(ctx, m, remote)...)
		}
	}
	for _, r := range results {
		c.report(m, r)
	}
	return results
}

// checkHops fails every pending recipient of a message that has been
// round too many servers (RFC 5321 §6.3: a relay must detect loops, and
// counting the trace fields is how): a message queued before the receive
// side refused such mail, or before server.max_hops was lowered, or one
// that came back here through a route that leads to this server, must not
// go round again, across restarts too. The header is read once per
// attempt, from memory while the message is still cached there.
func (c *Categorizer) checkHops(m *queue.Message) ([]queue.Result, bool) {
	if c.MaxHops <= 0 {
		return nil, false
	}
	body, err := m.Open()
	if err != nil {
		// Delivery reads the content again and defers on the same error.
		return nil, false
	}
	hops, err := message.CountHops(body)
	body.Close()
	// The count includes the Received: field this server added when it
	// queued the message, as the receive side's count at DATA does: a
	// message let in there (at most max_hops) is never bounced here.
	if err != nil || hops <= c.MaxHops {
		return nil, false
	}
	pending := m.Pending()
	why := reply.New(554, "5.4.6", "too many hops: %d trace fields (Received:, Delivered-To:), more than the limit of %d; the message is looping (RFC 5321 §6.3)",
		hops, c.MaxHops)
	out := make([]queue.Result, 0, len(pending))
	for _, i := range pending {
		out = append(out, queue.Result{Index: i, State: queue.Failed, Reply: why})
	}
	c.Events.Emit(events.HopLimitExceeded, "queue_id", m.Env.ID, "from", m.Env.From, "hops", hops,
		"max", c.MaxHops, "recipients", len(out))
	for _, r := range out {
		c.report(m, r)
	}
	return out, true
}

func (c *Categorizer) deliverLocal(m *queue.Message, i int, mailbox string) queue.Result {
	body, err := m.Open()
	if err != nil {
		return queue.Result{Index: i, State: queue.Pending, Reply: reply.New(451, "4.3.0", "%v", err), Hop: deliver.LocalHop}
	}
	defer body.Close()
	it := deliver.Item{QueueID: m.Env.ID, Index: i, Arrival: m.Env.Arrival, From: m.Env.From,
		Rcpt: mailbox, Recovered: m.Recovered}
	path, err := c.Maildir.Deliver(it, io.Reader(body))
	if err != nil {
		status := "4.3.0"
		if queue.IsNoSpace(err) {
			status = "4.3.1" // RFC 3463: mail system full
		}
		return queue.Result{Index: i, State: queue.Pending, Reply: reply.New(451, status, "%v", err), Hop: deliver.LocalHop}
	}
	return queue.Result{Index: i, State: queue.Delivered, Reply: reply.New(250, "2.0.0", "delivered to maildir %s", path), Hop: deliver.LocalHop}
}

func (c *Categorizer) report(m *queue.Message, r queue.Result) {
	rcpt := m.Env.Recipients[r.Index].Addr
	switch r.State {
	case queue.Delivered:
		c.Events.Emit(events.Delivered, "queue_id", m.Env.ID, "rcpt", rcpt, "where", r.Reply.Text())
	case queue.Failed:
		c.Events.Emit(events.DeliveryFailed, "queue_id", m.Env.ID, "rcpt", rcpt, "status", r.Reply.EnhancedStatus(), "error", r.Reply.String())
	default:
		c.Events.Emit(events.DeliveryDeferred, "queue_id", m.Env.ID, "rcpt", rcpt, "error", r.Reply.String())
	}
}
