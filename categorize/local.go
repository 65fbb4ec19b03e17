package categorize

import (
	"context"
	"io"
	"sync"

	"mailward/deliver"
	"mailward/queue"
	"mailward/reply"
)

// localJob is one copy for a mailbox of this server.
type localJob struct {
	index   int
	mailbox string
}

// deliverAllLocal delivers the local copies, several at once, and makes
// them durable together before any is reported delivered: a group's
// thousand members then share one flush of the mailboxes' file system
// (deliver.Maildir.Sync) instead of waiting for one each.
func (c *Categorizer) deliverAllLocal(ctx context.Context, m *queue.Message, jobs []localJob) []queue.Result {
	if len(jobs) == 0 {
		return nil
	}
	if c.Hops != nil && c.Hops.Suspended(deliver.LocalHop) {
		out := make([]queue.Result, len(jobs))
		for k, j := range jobs {
			out[k] = queue.Result{Index: j.index, State: queue.Pending, Hop: deliver.LocalHop,
				Reply: reply.New(451, "4.4.0", "delivery queue local is suspended by the administrator")}
		}
		return out
	}
	out := make([]queue.Result, len(jobs))
	n := min(max(c.LocalConcurrency, 1), len(jobs))
	work := make(chan int)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				localHold(k)
				out[k] = c.writeLocal(m, jobs[k].index, jobs[k].mailbox)
			}
		}()
	}
	for k := range jobs {
		work <- k
	}
	close(work)
	wg.Wait()
	if err := c.Maildir.Sync(); err != nil {
		// Written but maybe not on disk: delivered again next time,
		// under the same names (one copy each).
		for k, r := range out {
			if r.State == queue.Delivered {
				out[k] = localFailure(r.Index, err)
			}
		}
	}
	return out
}

// writeLocal writes one copy; it is durable once Maildir.Sync returns.
func (c *Categorizer) writeLocal(m *queue.Message, i int, mailbox string) queue.Result {
	body, err := m.Open()
	if err != nil {
		return queue.Result{Index: i, State: queue.Pending, Reply: reply.New(451, "4.3.0", "%v", err), Hop: deliver.LocalHop}
	}
	defer body.Close()
	it := deliver.Item{QueueID: m.Env.ID, Index: i, Arrival: m.Env.Arrival, From: m.Env.From,
		Rcpt: mailbox, Recovered: m.Recovered}
	path, err := c.Maildir.Write(it, io.Reader(body))
	if err != nil {
		return localFailure(i, err)
	}
	return queue.Result{Index: i, State: queue.Delivered, Reply: reply.New(250, "2.0.0", "delivered to maildir %s", path), Hop: deliver.LocalHop}
}

func localFailure(i int, err error) queue.Result {
	status := "4.3.0"
	if queue.IsNoSpace(err) {
		status = "4.3.1" // RFC 3463: mail system full
	}
	return queue.Result{Index: i, State: queue.Pending, Reply: reply.New(451, status, "%v", err), Hop: deliver.LocalHop}
}
