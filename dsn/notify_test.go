package dsn

import (
	"context"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mailward/events"
	"mailward/internal/testkit"
	"mailward/orgauth"
	"mailward/queue"
	"mailward/reply"
)

// queuedNotice is one notice queued by the Bouncer: its envelope recipient
// and content.
type queuedNotice struct {
	to, content string
}

// runNotices queues env, answers its one attempt with outcome (one
// result per recipient index), and returns the notices the real
// Bouncer queued for it, sorted by recipient, and the events.
func runNotices(t *testing.T, env *queue.Envelope, outcome func(i int, r queue.Recipient) queue.Result) ([]queuedNotice, []events.Record) {
	t.Helper()
	dir := t.TempDir()
	evPath := filepath.Join(dir, "events.log")
	ev, err := events.OpenLog(nil, map[string]events.Level{"dsn": events.Maximum}, evPath, events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := queue.Open(queue.Options{Dir: filepath.Join(dir, "queue"), Workers: 1, RetrySchedule: []time.Duration{time.Hour}, Events: ev})
	if err != nil {
		t.Fatal(err)
	}
	b := &Bouncer{Queue: q, FQDN: "mx1.example.test", Postmaster: "postmaster@example.test", Events: ev}
	q.OnSuccess(b.Success)
	var mu sync.Mutex
	var out []queuedNotice
	handle := func(_ context.Context, m *queue.Message) []queue.Result {
		var res []queue.Result
		if m.Env.From == "" { // a notice: keep it
			f, err := m.Open()
			if err != nil {
				t.Error(err)
				return nil
			}
			c, _ := io.ReadAll(f)
			f.Close()
			mu.Lock()
			out = append(out, queuedNotice{m.Env.Recipients[0].Addr, string(c)})
			mu.Unlock()
			return []queue.Result{{Index: 0, State: queue.Delivered, Hop: "local", Reply: reply.New(250, "2.0.0", "kept")}}
		}
		for _, i := range m.Pending() {
			r := outcome(i, m.Env.Recipients[i])
			r.Index = i
			res = append(res, r)
		}
		return res
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := q.Start(ctx, handle, b.Bounce, b.Delay); err != nil {
		t.Fatal(err)
	}
	env.ClientIP, env.Helo, env.VirtualServer = "192.0.2.1", "client.test", "default"
	w, err := q.Create(env)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("From: <sender@remote.test>\r\nTo: <list@example.test>\r\nSubject: x\r\n\r\nbody\r\n"))
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "the message and its notices to leave the queue", func() bool { return len(q.Messages()) == 0 })
	cancel()
	q.Wait()
	ev.Close()
	recs, err := events.Read(evPath, events.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(out, func(a, b queuedNotice) int { return strings.Compare(a.to, b.to) })
	return out, recs
}

// failed is a remote refusal naming the recipient and its server.
func failed(_ int, r queue.Recipient) queue.Result {
	return queue.Result{State: queue.Failed, Reply: reply.New(550, "5.1.1", "%s... User unknown", r.Addr), RemoteMTA: "mx." + r.Addr[strings.IndexByte(r.Addr, '@')+1:]}
}

// finals lists a notice's Final-Recipient values, in order.
func finals(content string) []string {
	var out []string
	for _, l := range strings.Split(content, "\r\n") {
		if v, ok := strings.CutPrefix(l, "Final-Recipient: rfc822;"); ok {
			out = append(out, v)
		}
	}
	return out
}

// Failures are reported where each recipient's reports go: the sender,
// a group's owner (one notice per owner, with all of its members), or
// nobody ("-", with an event naming the group).
func TestNoticesByReportDestination(t *testing.T) {
	env := &queue.Envelope{From: "sender@remote.test", Recipients: []queue.Recipient{
		{Addr: "a@remote.test"},
		{Addr: "b@remote.test", ReportTo: "owner1@example.test", ExpandedFrom: []string{"g1@example.test"}},
		{Addr: "c@remote.test", ReportTo: "owner1@example.test", ExpandedFrom: []string{"g1@example.test"}},
		{Addr: "d@remote.test", ReportTo: "-", ExpandedFrom: []string{"quiet@example.test"}},
		{Addr: "e@remote.test", ReportTo: "owner2@example.test", ExpandedFrom: []string{"g2@example.test"}},
	}}
	got, recs := runNotices(t, env, failed)
	want := map[string][]string{
		"owner1@example.test": {"b@remote.test", "c@remote.test"},
		"owner2@example.test": {"e@remote.test"},
		"sender@remote.test":  {"a@remote.test"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d notices, want %d: %+v", len(got), len(want), got)
	}
	for _, n := range got {
		if f := finals(n.content); !slices.Equal(f, want[n.to]) {
			t.Errorf("notice to %s reports %v, want %v", n.to, f, want[n.to])
		}
		if !strings.Contains(n.content, "\r\nTo: "+n.to+"\r\n") && !strings.Contains(n.content, "\r\nTo: <"+n.to+">\r\n") {
			t.Errorf("notice to %s is not addressed to it in its header:\n%s", n.to, n.content)
		}
	}
	suppressed := false
	for _, r := range recs {
		if r.ID == events.NDRSuppressed && strings.Contains(r.Fields["reason"], "quiet@example.test") {
			suppressed = true
		}
	}
	if !suppressed {
		t.Error("no event 4001 naming the group whose reports are off")
	}
}

// Hidden membership: the notice names each hidden group once, instead
// of its members, and shows nothing of them (address, reply, server);
// a visible recipient beside them is reported as usual. The hidden
// group may have been decided upstream (XEXCH50).
func TestNoticesHideMembers(t *testing.T) {
	up, err := (&orgauth.Props{Recipients: []orgauth.RcptProp{{Address: "u1@remote.test", Hidden: "far@example.test", Groups: []string{"far@example.test"}}}}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	env := &queue.Envelope{From: "sender@remote.test", OrgProps: up, Recipients: []queue.Recipient{
		{Addr: "h1@remote.test", Hidden: "secret@example.test", ExpandedFrom: []string{"secret@example.test"}},
		{Addr: "v@remote.test"},
		{Addr: "h2@remote.test", Hidden: "secret@example.test", ExpandedFrom: []string{"secret@example.test", "inner@example.test"}},
		{Addr: "h3@remote.test", Hidden: "other@example.test", ExpandedFrom: []string{"other@example.test"}},
		{Addr: "u1@remote.test"},
	}}
	got, _ := runNotices(t, env, failed)
	if len(got) != 1 || got[0].to != "sender@remote.test" {
		t.Fatalf("notices %+v, want one to the sender", got)
	}
	c := got[0].content
	if f := finals(c); !slices.Equal(f, []string{"secret@example.test", "v@remote.test", "other@example.test", "far@example.test"}) {
		t.Errorf("reports %v, want secret, v, other, far once each", f)
	}
	for _, leak := range []string{"h1", "h2", "h3", "u1", "inner@"} {
		if strings.Contains(c, leak) {
			t.Errorf("the notice shows %q of a hidden membership:\n%s", leak, c)
		}
	}
	if !strings.Contains(c, "v@remote.test... User unknown") || !strings.Contains(c, "Remote-MTA: dns; mx.remote.test") {
		t.Errorf("the visible recipient lost its diagnostic:\n%s", c)
	}
}

// RFC 3464: a distribution group asked NOTIFY=SUCCESS gets "expanded";
// a mailbox delivered here beside it, "delivered", in a notice of its own.
func TestNoticeExpanded(t *testing.T) {
	env := &queue.Envelope{From: "sender@remote.test", Recipients: []queue.Recipient{
		{Addr: "list@example.test", Notify: "SUCCESS"},
		{Addr: "alice@example.test", Notify: "SUCCESS,FAILURE"},
	}}
	got, _ := runNotices(t, env, func(i int, r queue.Recipient) queue.Result {
		if i == 0 {
			return queue.Result{State: queue.Delivered, Hop: queue.ExpandedHop, Reply: reply.New(250, "2.1.5", "list@example.test expanded")}
		}
		return queue.Result{State: queue.Delivered, Hop: "local", Reply: reply.New(250, "2.0.0", "delivered")}
	})
	actions := map[string]string{}
	for _, n := range got {
		f := finals(n.content)
		if n.to != "sender@remote.test" || len(f) != 1 {
			t.Fatalf("notice to %s for %v, want one per action to the sender", n.to, f)
		}
		for _, a := range []string{"expanded", "delivered"} {
			if strings.Contains(n.content, "\r\nAction: "+a+"\r\n") {
				actions[f[0]] = a
			}
		}
	}
	if len(got) != 2 || actions["list@example.test"] != "expanded" || actions["alice@example.test"] != "delivered" {
		t.Errorf("actions %v over %d notices, want list expanded and alice delivered", actions, len(got))
	}
}
