package categorize

import (
	"context"
	"io"
	"sync"

	"mailward/deliver"
	"mailward/events"
	"mailward/queue"
	"mailward/reply"
)

// localJob is one copy for a mailbox of this server.
type localJob struct {
	index   int
	mailbox string
	group   string // the outermost group it came through, if any
	report  bool   // a journal recipient: it gets the journal report
	name    string // a shared folder's replica: its Maildir file name
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
	shared, instances := c.instances(m, jobs, out)
	defer func() {
		for _, in := range instances {
			in.Close()
		}
	}()
	n := min(max(c.LocalConcurrency, 1), len(jobs))
	work := make(chan int)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				localHold(k)
				switch in := shared[k]; {
				case !out[k].Reply.IsZero(): // its instance could not be written
				case in != nil:
					out[k] = c.linkLocal(in, m, jobs[k].index, jobs[k].mailbox)
				case jobs[k].report:
					out[k] = c.writeReport(m, jobs[k].index, jobs[k].mailbox)
				default:
					out[k] = c.writeLocal(m, jobs[k].index, jobs[k].mailbox, jobs[k].name)
				}
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

// instances writes one shared instance for each group with two or more
// members among the jobs (SingleInstance): shared[k] is job k's, nil for
// a copy of its own. A job whose instance could not be written gets its
// failure in out.
func (c *Categorizer) instances(m *queue.Message, jobs []localJob, out []queue.Result) (map[int]*deliver.Instance, []*deliver.Instance) {
	if !c.SingleInstance {
		return nil, nil
	}
	members := map[string][]int{}
	for k, j := range jobs {
		if j.group != "" {
			members[j.group] = append(members[j.group], k)
		}
	}
	shared := map[int]*deliver.Instance{}
	var all []*deliver.Instance
	for group, ks := range members {
		if len(ks) < 2 {
			continue
		}
		in, err := c.newInstance(m, jobs[ks[0]], group)
		for _, k := range ks {
			if err != nil {
				out[k] = localFailure(jobs[k].index, err)
			} else {
				shared[k] = in
			}
		}
		if in != nil {
			all = append(all, in)
		}
	}
	return shared, all
}

func (c *Categorizer) newInstance(m *queue.Message, first localJob, group string) (*deliver.Instance, error) {
	body, err := m.Open()
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return c.Maildir.NewInstance(c.item(m, first.index, first.mailbox), group, body)
}

// linkLocal gives a mailbox its link to the shared instance; it is
// durable once Maildir.Sync returns.
func (c *Categorizer) linkLocal(in *deliver.Instance, m *queue.Message, i int, mailbox string) queue.Result {
	it := c.item(m, i, mailbox)
	path, err := in.Link(it)
	if err != nil {
		return localFailure(i, err)
	}
	c.junked(m, it)
	return queue.Result{Index: i, State: queue.Delivered, Reply: reply.New(250, "2.0.0", "delivered to maildir %s", path), Hop: deliver.LocalHop}
}

func (c *Categorizer) item(m *queue.Message, i int, mailbox string) deliver.Item {
	scl := m.Env.SCL
	return deliver.Item{QueueID: m.Env.ID, Index: i, Arrival: m.Env.Arrival, From: m.Env.From, Rcpt: mailbox, Recovered: m.Recovered,
		SCL: scl, Junk: c.JunkThreshold > 0 && scl != nil && *scl >= c.JunkThreshold}
}

// junked writes event 3030 for a copy delivered into a Junk folder.
func (c *Categorizer) junked(m *queue.Message, it deliver.Item) {
	if it.Junk && c.Events != nil {
		c.Events.Emit(events.DeliveredToJunk, "queue_id", it.QueueID, "message_id", m.MessageID(), "rcpt", it.Rcpt, "scl", *it.SCL,
			"threshold", c.JunkThreshold)
	}
}

// writeLocal writes one copy; it is durable once Maildir.Sync returns.
func (c *Categorizer) writeLocal(m *queue.Message, i int, mailbox, name string) queue.Result {
	body, err := m.Open()
	if err != nil {
		return queue.Result{Index: i, State: queue.Pending, Reply: reply.New(451, "4.3.0", "%v", err), Hop: deliver.LocalHop}
	}
	defer body.Close()
	it := c.item(m, i, mailbox)
	it.Name = name
	path, err := c.Maildir.Write(it, io.Reader(body))
	if err != nil {
		return localFailure(i, err)
	}
	c.junked(m, it)
	return queue.Result{Index: i, State: queue.Delivered, Reply: reply.New(250, "2.0.0", "delivered to maildir %s", path), Hop: deliver.LocalHop}
}

func localFailure(i int, err error) queue.Result {
	status := "4.3.0"
	if queue.IsNoSpace(err) {
		status = "4.3.1" // RFC 3463: mail system full
	}
	return queue.Result{Index: i, State: queue.Pending, Reply: reply.New(451, status, "%v", err), Hop: deliver.LocalHop}
}
