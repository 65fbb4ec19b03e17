// Package categorize is the stage between the queue and delivery: it
// resolves each pending recipient against the directory and routes it to
// local delivery, to remote delivery, or to a non-delivery report
// (seed 004: a local recipient that resolves to no one gets an NDR).
package categorize

import (
	"context"
	"io"
	"strings"

	"mailward/deliver"
	"mailward/directory"
	"mailward/events"
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
	// UnresolvedHost is seed 004's "forward mail with unresolved
	// recipients to host": a local recipient with no mailbox is relayed
	// there instead of bounced. Empty: NDR.
	UnresolvedHost string
	// Hops is the delivery-queue registry; a suspended "local" queue
	// holds local deliveries like any other.
	Hops *deliver.Hops
}

// Handle is a queue.Handler.
func (c *Categorizer) Handle(ctx context.Context, m *queue.Message) []queue.Result {
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
