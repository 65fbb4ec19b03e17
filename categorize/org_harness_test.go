package categorize

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mailward/deliver"
	"mailward/directory"
	"mailward/dsn"
	"mailward/events"
	"mailward/internal/testkit"
	"mailward/queue"
	"mailward/reply"
)

// The harness of the organization tests: the categorizer of one server
// of the organization over a real queue, real Maildirs, the real
// notices (package dsn) and a remote delivery that records what it is
// asked to deliver where, and answers as the test says.

// orgSetup is one server of an organization.
type orgSetup struct {
	Org  directory.OrgFile
	Self string
	// MaxExpanded is [categorizer] max_expanded_recipients (0: none).
	MaxExpanded int
	// SingleInstance is [categorizer] single_instance.
	SingleInstance bool
	// RemoteReply answers remote delivery for a recipient address;
	// nil: every remote recipient is relayed (250).
	RemoteReply func(addr string) reply.Reply
	// Hops is the delivery-queue registry (nil: none).
	Hops *deliver.Hops
	// Crash, when set, is asked after each attempt of the categorizer:
	// true makes the server stop as if killed at that point, before the
	// queue records the attempt's outcome.
	Crash func(m *queue.Message) bool
}

// sent is one recipient remote delivery was asked for.
type sent struct {
	QueueID string
	From    string // the message's envelope sender ("" for a notice)
	Rcpt    queue.Recipient
	Server  string // deliver.Job.Server
	Via     string
	Replica bool // deliver.Job.Replica: a transaction of its own
	Content string
}

// orgServer is a running harness.
type orgServer struct {
	t      *testing.T
	dir    string
	s      orgSetup
	q      *queue.Queue
	c      *Categorizer
	ev     *events.Log
	cancel context.CancelFunc

	mu      sync.Mutex
	sent    []sent
	crashed chan struct{}
	stopped bool
}

// startOrg starts server s over the spool and mailboxes in dir (a
// restart when an earlier orgServer used dir).
func startOrg(t *testing.T, dir string, s orgSetup) *orgServer {
	t.Helper()
	o := &orgServer{t: t, dir: dir, s: s, crashed: make(chan struct{}, 1)}
	var err error
	o.ev, err = events.OpenLog(nil, map[string]events.Level{"categorizer": events.Maximum, "dsn": events.Maximum},
		filepath.Join(dir, "events.log"), events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	org, err := directory.NewOrg("Example", s.Org, "")
	if err != nil {
		t.Fatal(err)
	}
	o.q, err = queue.Open(queue.Options{Dir: filepath.Join(dir, "queue"), Workers: 1,
		RetrySchedule: []time.Duration{time.Hour}, Events: o.ev})
	if err != nil {
		t.Fatal(err)
	}
	o.c = &Categorizer{
		Dir: &directory.Recipients{Local: directory.New([]string{"local.test"}, []directory.Mailbox{{Address: "dave@local.test"}}, ""),
			Org: func() *directory.Org { return org }, Self: s.Self},
		Queue:            o.q,
		Maildir:          deliver.NewMaildir(filepath.Join(dir, "mailboxes"), s.Self+".example.test"),
		Events:           o.ev,
		MaxExpanded:      s.MaxExpanded,
		LocalConcurrency: 4,
		Remote:           o.remote,
		SingleInstance:   s.SingleInstance,
		Org:              func() *directory.Org { return org },
		Postmaster:       "postmaster@example.test",
		Hops:             s.Hops,
	}
	// As internal/setup does at start.
	if err := o.c.Maildir.RemoveInstances(); err != nil {
		t.Fatal(err)
	}
	b := &dsn.Bouncer{Queue: o.q, FQDN: s.Self + ".example.test", Postmaster: "postmaster@example.test", Events: o.ev}
	o.q.OnSuccess(b.Success)
	ctx, cancel := context.WithCancel(context.Background())
	o.cancel = cancel
	handle := func(ctx context.Context, m *queue.Message) []queue.Result {
		res := o.c.Handle(ctx, m)
		if s.Crash != nil && s.Crash(m) {
			cancel() // the queue records nothing more: as killed here
			select {
			case o.crashed <- struct{}{}:
			default:
			}
		}
		return res
	}
	if err := o.q.Start(ctx, handle, b.Bounce, b.Delay); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.stop)
	return o
}

// remote is the categorizer's Remote: it records each job, with the
// message's content, and answers as the setup says.
func (o *orgServer) remote(_ context.Context, m *queue.Message, jobs []deliver.Job) []queue.Result {
	var content string
	if f, err := m.Open(); err == nil {
		b, _ := io.ReadAll(f)
		f.Close()
		content = string(b)
	}
	var out []queue.Result
	for _, j := range jobs {
		r := m.Env.Recipients[j.Index]
		o.mu.Lock()
		o.sent = append(o.sent, sent{QueueID: m.Env.ID, From: m.Env.From, Rcpt: r, Server: j.Server, Via: j.Via, Replica: j.Replica, Content: content})
		o.mu.Unlock()
		rep := reply.New(250, "2.0.0", "relayed")
		if o.s.RemoteReply != nil {
			rep = o.s.RemoteReply(r.Addr)
		}
		st := queue.Delivered
		switch rep.Code / 100 {
		case 4:
			st = queue.Pending
		case 5:
			st = queue.Failed
		}
		out = append(out, queue.Result{Index: j.Index, State: st, Reply: rep, Hop: "remote", RemoteMTA: "next.example.net"})
	}
	return out
}

// send queues a message as the receive side does, for rcpts (each
// "addr" or "addr NOTIFY=..."), from sender, with env's other fields.
func (o *orgServer) send(env queue.Envelope, rcpts ...string) string {
	o.t.Helper()
	if env.From == "" {
		env.From = "sender@remote.test"
	}
	env.ClientIP, env.Helo, env.VirtualServer = "192.0.2.1", "client.test", "default"
	for _, r := range rcpts {
		addr, notify, _ := strings.Cut(r, " NOTIFY=")
		env.Recipients = append(env.Recipients, queue.Recipient{Addr: addr, Notify: notify})
	}
	w, err := o.q.Create(&env)
	if err != nil {
		o.t.Fatal(err)
	}
	w.Write([]byte("From: <" + env.From + ">\r\nTo: <" + env.Recipients[0].Addr + ">\r\nSubject: group mail\r\n\r\nbody\r\n"))
	if err := w.Commit(); err != nil {
		o.t.Fatal(err)
	}
	return env.ID
}

// settle waits until the spool found at start is loaded and every
// message, the notices included, has left the queue.
func (o *orgServer) settle() {
	o.t.Helper()
	select {
	case <-o.q.Loaded():
	case <-time.After(10 * time.Second):
		o.t.Fatal("the spool was not loaded within 10 s")
	}
	testkit.WaitFor(o.t, 10*time.Second, "the queue to empty", func() bool { return len(o.q.Messages()) == 0 })
}

// waitCrash waits for the setup's Crash to fire, then stops the server.
func (o *orgServer) waitCrash() {
	o.t.Helper()
	select {
	case <-o.crashed:
	case <-time.After(10 * time.Second):
		o.t.Fatal("no crash within 10 s")
	}
	o.stop()
}

// stop ends the server (the queue's workers and the event log).
func (o *orgServer) stop() {
	if o.stopped {
		return
	}
	o.stopped = true
	o.cancel()
	o.q.Wait()
	o.ev.Close()
}

// events returns the events with id, after stop.
func (o *orgServer) events(id int) []events.Record {
	o.t.Helper()
	o.stop()
	recs, err := events.Read(filepath.Join(o.dir, "events.log"), events.Filter{ID: id})
	if err != nil {
		o.t.Fatal(err)
	}
	return recs
}

// copies lists the files of a mailbox's Maildir new/.
func (o *orgServer) copies(addr string) []string {
	o.t.Helper()
	ents, err := os.ReadDir(filepath.Join(o.c.Maildir.Dir(addr), "new"))
	if err != nil && !os.IsNotExist(err) {
		o.t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// mailboxes lists every mailbox that has a copy, each as often as it
// has copies.
func (o *orgServer) mailboxes() []string {
	o.t.Helper()
	ents, _ := os.ReadDir(filepath.Join(o.dir, "mailboxes"))
	var out []string
	for _, e := range ents {
		for range o.copies(e.Name()) {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out
}

// remoteSent returns the recipients of messages (not notices) remote
// delivery was asked for.
func (o *orgServer) remoteSent() []sent {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []sent
	for _, s := range o.sent {
		if s.From != "" {
			out = append(out, s)
		}
	}
	return out
}

// notices returns the notices sent (from <>), each with its recipient.
func (o *orgServer) notices() []sent {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []sent
	for _, s := range o.sent {
		if s.From == "" {
			out = append(out, s)
		}
	}
	return out
}

// addrs lists the recipient addresses of ss, sorted.
func addrs(ss []sent) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Rcpt.Addr)
	}
	slices.Sort(out)
	return out
}

// org3 is an organization of three servers (mx1, mx2, mx3) and the
// domain example.test, with no recipients yet.
func org3() directory.OrgFile {
	return directory.OrgFile{
		Servers: []directory.OrgServer{
			{Name: "mx1", FQDN: "mx1.example.test", Auth: "login"},
			{Name: "mx2", FQDN: "mx2.example.test", Auth: "login"},
			{Name: "mx3", FQDN: "mx3.example.test", Auth: "login"},
		},
		Domains: []directory.OrgDomain{{Name: "example.test"}},
	}
}

// mailbox is an organization mailbox homed on home.
func mailbox(addr, home string, proxies ...string) directory.OrgMailbox {
	return directory.OrgMailbox{Address: addr, HomeServer: home, ProxyAddresses: proxies}
}

// group is a distribution group of members.
func group(addr string, members ...string) directory.DistributionGroup {
	return directory.DistributionGroup{Address: addr, Members: members}
}
