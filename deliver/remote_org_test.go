package deliver

import (
	"encoding/base64"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"mailward/directory"
	"mailward/internal/testdns"
	"mailward/internal/testkit"
	"mailward/orgauth"
	"mailward/queue"
	"mailward/smtpclient"
)

// homePeer is a server of the organization as a fake: it greets and
// answers EHLO as peer.test (a name the directory does not know, so
// only the route can tell it is a server of the organization), offers
// X-EXPS LOGIN and XEXCH50, and records the credentials it was given.
type homePeer struct {
	*testkit.SMTPServer
	mu    sync.Mutex
	login []string // "user secret" per X-EXPS
}

func startHomePeer(t *testing.T) *homePeer {
	t.Helper()
	p := &homePeer{}
	p.SMTPServer = testkit.StartSMTP(t, testkit.SMTP{Name: "peer.test",
		Extensions: []string{"PIPELINING", "DSN", "X-EXPS LOGIN", "XEXCH50"},
		Handle: func(s *testkit.SMTPSession, verb, line string) testkit.Reply {
			switch verb {
			case "X-EXPS":
				f := strings.Fields(line)
				secret, ok := s.Ask("334 UGFzc3dvcmQ6")
				if !ok || len(f) != 3 {
					return testkit.Reply{Hangup: true}
				}
				user, _ := base64.StdEncoding.DecodeString(f[2])
				pass, _ := base64.StdEncoding.DecodeString(secret)
				p.mu.Lock()
				p.login = append(p.login, string(user)+" "+string(pass))
				p.mu.Unlock()
				return testkit.Reply{Text: "235 2.7.0 Authentication successful"}
			case "XEXCH50":
				return s.XEXCH50(line)
			}
			return testkit.Reply{}
		}})
	return p
}

// logins are the X-EXPS logins so far.
func (p *homePeer) logins() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.login...)
}

// homeOrg is mx1 (this server) and mx2, reached at mx2Addr ("" its
// FQDN on the SMTP port).
func homeOrg(mx2Addr string) func() *directory.Org {
	o, _ := directory.NewOrg("Example", directory.OrgFile{Servers: []directory.OrgServer{
		{Name: "mx1", FQDN: "mx1.example.test", Auth: "login"},
		{Name: "mx2", FQDN: "mx2.example.test", Auth: "login", DeliveryAddress: mx2Addr},
	}}, "")
	return func() *directory.Org { return o }
}

// deliverJobs queues env with its content and runs one attempt of
// r.Deliver on the jobs jobsFor names, through a real queue.
func deliverJobs(t *testing.T, r *Remote, env *queue.Envelope, jobsFor func(m *queue.Message) []Job) []queue.Result {
	t.Helper()
	res, _ := attempt(t, r, env, "Subject: home server\r\n\r\nbody\r\n", jobsFor)
	return res
}

// toServer routes every pending recipient to server.
func toServer(server string) func(m *queue.Message) []Job {
	return func(m *queue.Message) []Job {
		var jobs []Job
		for _, i := range m.Pending() {
			jobs = append(jobs, Job{Index: i, Server: server})
		}
		return jobs
	}
}

// decodeBlob is the one XEXCH50 blob p received.
func decodeBlob(t *testing.T, p *homePeer) *orgauth.Props {
	t.Helper()
	blobs := p.Blobs()
	if len(blobs) != 1 {
		t.Fatalf("%d XEXCH50 blobs, want 1", len(blobs))
	}
	props, err := orgauth.Decode(blobs[0])
	if err != nil {
		t.Fatal(err)
	}
	return props
}

// Routing by Job.Server: the recipients go to the server's
// delivery_address in one transaction, with no [[route]] and whatever
// the peer calls itself; the peer is treated as a server of the
// organization (X-EXPS LOGIN as mx1, then XEXCH50) and the properties
// carry what this server decided for each recipient.
func TestDeliverToHomeServer(t *testing.T) {
	p := startHomePeer(t)
	r := &Remote{Org: homeOrg(p.Addr), Self: "mx1", Secret: "mx1-secret", SuppressExternal: true,
		Default: Route{TLS: smtpclient.TLSNone}}
	env := &queue.Envelope{From: "alice@example.test", AuthUser: "alice@example.test", Recipients: []queue.Recipient{
		{Addr: "carol@example.test", ExpandedFrom: []string{"everyone@example.test", "team@example.test"},
			ReportTo: "owner@example.test", Hidden: "team@example.test"},
		{Addr: "bob@example.test", Forwarded: true},
		{Addr: "fwd@example.test", ForwardedFrom: []string{"bob@example.test"}, ReportTo: "-"},
	}}
	res := deliverJobs(t, r, env, toServer("mx2"))
	if len(res) != 3 {
		t.Fatalf("results %+v", res)
	}
	for _, x := range res {
		if x.State != queue.Delivered || x.Hop != "mx2.example.test" {
			t.Errorf("recipient %d: %v via %q: %s; want delivered through mx2.example.test", x.Index, x.State, x.Hop, x.Reply)
		}
	}
	if l := p.logins(); len(l) != 1 || l[0] != "mx1 mx1-secret" {
		t.Errorf("X-EXPS logins %q, want mx1 with its secret", l)
	}
	if m := p.Messages(); len(m) != 1 || len(m[0].RcptLines) != 3 {
		t.Errorf("messages %+v, want one with 3 recipients", m)
	}
	got := decodeBlob(t, p)
	if got.Envelope.AuthSender != "alice@example.test" || got.Envelope.OriginServer != "mx1" {
		t.Errorf("envelope properties %+v, want alice authenticated, origin mx1", got.Envelope)
	}
	want := []orgauth.RcptProp{
		{Address: "carol@example.test", ExpandedFrom: "everyone@example.test", Groups: []string{"everyone@example.test", "team@example.test"},
			ReportTo: "owner@example.test", Hidden: "team@example.test"},
		{Address: "bob@example.test", Forwarded: true},
		{Address: "fwd@example.test", Alternate: true, ForwardedFrom: []string{"bob@example.test"}, ReportTo: "-"},
	}
	if !reflect.DeepEqual(got.Recipients, want) {
		t.Errorf("recipient properties\n got %+v\nwant %+v", got.Recipients, want)
	}
}

// A server without delivery_address is reached at its FQDN on the SMTP
// port; a server the directory does not have defers, without a
// connection.
func TestDeliverToServerByFQDN(t *testing.T) {
	p := startHomePeer(t)
	d, err := testdns.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	d.SetA("mx2.example.test", "127.0.0.1")
	r := &Remote{Org: homeOrg(""), Self: "mx1", Secret: "mx1-secret", Resolver: NewResolver(d.Addr), Port: p.Port(),
		Default: Route{TLS: smtpclient.TLSNone}}
	res := deliverJobs(t, r, &queue.Envelope{From: "alice@example.test", Recipients: []queue.Recipient{{Addr: "bob@example.test"}}},
		toServer("mx2"))
	if len(res) != 1 || res[0].State != queue.Delivered || len(p.logins()) != 1 {
		t.Errorf("to mx2 by its FQDN: %+v, logins %q", res, p.logins())
	}

	r = &Remote{Org: homeOrg(p.Addr), Self: "mx1", Secret: "mx1-secret", Default: Route{TLS: smtpclient.TLSNone}}
	before := p.Total()
	res = deliverJobs(t, r, &queue.Envelope{From: "alice@example.test", Recipients: []queue.Recipient{{Addr: "bob@example.test"}}},
		toServer("mx9"))
	if len(res) != 1 || res[0].State != queue.Pending || res[0].Reply.Status != "4.3.0" ||
		!strings.Contains(res[0].Reply.Text(), "organization server mx9 is not in the directory") {
		t.Errorf("to an unknown server: %+v, want deferred 4.3.0", res)
	}
	if p.Total() != before {
		t.Error("a connection was made for a server the directory does not have")
	}
}

// props passes on what the server before this one said — the envelope
// and message properties, a recipient's groups and report settings —
// adds what this server decided, and covers only the recipients of the
// transaction.
func TestPropsKeepUpstream(t *testing.T) {
	scl := 3
	up, err := (&orgauth.Props{Envelope: orgauth.EnvelopeProp{AuthSender: "erin@example.test", OriginServer: "mx3"},
		Message: orgauth.MessageProp{SCL: &scl, Journaled: true},
		Recipients: []orgauth.RcptProp{
			{Address: "Carol@Example.Test", ExpandedFrom: "outer@example.test", Groups: []string{"outer@example.test"},
				ReportTo: "owner@example.test", Hidden: "outer@example.test"},
			{Address: "dave@example.test", Forwarded: true},
		}}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	m := &queue.Message{Env: &queue.Envelope{From: "erin@example.test", OrgProps: up, Recipients: []queue.Recipient{
		{Addr: "carol@example.test"},
		{Addr: "dave@example.test"},
		{Addr: "frank@example.test", ExpandedFrom: []string{"outer@example.test", "inner@example.test"}, Hidden: "outer@example.test"},
	}}}
	r := &Remote{Self: "mx1"}
	got, err := orgauth.Decode(r.props(m, []int{0, 2}))
	if err != nil {
		t.Fatal(err)
	}
	if got.Envelope.AuthSender != "erin@example.test" || got.Envelope.OriginServer != "mx3" || got.Message.SCL == nil ||
		*got.Message.SCL != 3 || !got.Message.Journaled {
		t.Errorf("upstream envelope and message properties not kept: %+v %+v", got.Envelope, got.Message)
	}
	want := []orgauth.RcptProp{
		{Address: "carol@example.test", ExpandedFrom: "outer@example.test", Groups: []string{"outer@example.test"},
			ReportTo: "owner@example.test", Hidden: "outer@example.test"},
		{Address: "frank@example.test", ExpandedFrom: "outer@example.test", Groups: []string{"outer@example.test", "inner@example.test"},
			Hidden: "outer@example.test"},
	}
	if !reflect.DeepEqual(got.Recipients, want) {
		t.Errorf("recipient properties\n got %+v\nwant %+v", got.Recipients, want)
	}

	// The first server of the organization: it names itself and the
	// sender it authenticated.
	m = &queue.Message{Env: &queue.Envelope{From: "alice@example.test", AuthUser: "alice@example.test",
		Recipients: []queue.Recipient{{Addr: "bob@example.test"}}}}
	got, err = orgauth.Decode(r.props(m, []int{0}))
	if err != nil || got.Envelope.AuthSender != "alice@example.test" || got.Envelope.OriginServer != "mx1" {
		t.Errorf("first server's properties %+v, %v", got, err)
	}
}

// Two servers of the organization on one address (a loopback test bed)
// are told apart by their delivery_address; a server known only by its
// addresses is still recognised by them.
func TestOrgPeerByDeliveryAddress(t *testing.T) {
	org := &directory.Org{Servers: []directory.OrgServer{
		{Name: "mx1", FQDN: "mx1.example.test", DeliveryAddress: "127.0.0.1:2725"},
		{Name: "mx2", FQDN: "mx2.example.test", DeliveryAddress: "127.0.0.1:2726"},
		{Name: "mx3", FQDN: "mx3.example.test", Addresses: []string{"127.0.0.3"}},
	}}
	r := &Remote{Org: func() *directory.Org { return org }}
	for _, c := range []struct{ host, addr, want string }{
		{"127.0.0.1", "127.0.0.1:2725", "mx1"},
		{"127.0.0.1", "127.0.0.1:2726", "mx2"},
		{"mx2.example.test", "127.0.0.9:25", "mx2"},
		{"127.0.0.3", "127.0.0.3:25", "mx3"},
		{"127.0.0.1", "127.0.0.1:25", ""},
	} {
		s, ok := r.orgPeer(c.host, c.addr)
		got := ""
		if ok {
			got = s.Name
		}
		if got != c.want {
			t.Errorf("orgPeer(%s, %s) = %q, want %q", c.host, c.addr, got, c.want)
		}
	}
}

// A transaction that passes a group on unexpanded carries the message's
// other recipients (covered), with those of the server before; one that
// carries only mailboxes carries none.
func TestPropsCoveredWithAGroupOnly(t *testing.T) {
	org, err := directory.NewOrg("Example", directory.OrgFile{
		Servers:    []directory.OrgServer{{Name: "mx1", FQDN: "mx1.example.test"}, {Name: "mx3", FQDN: "mx3.example.test"}},
		Domains:    []directory.OrgDomain{{Name: "example.test"}},
		Mailboxes:  []directory.OrgMailbox{{Address: "a1@example.test", HomeServer: "mx1"}, {Address: "a3@example.test", HomeServer: "mx3"}},
		DistGroups: []directory.DistributionGroup{{Address: "sub@example.test", ExpansionServer: "mx3", Members: []string{"a3@example.test"}}},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	up, _ := (&orgauth.Props{Message: orgauth.MessageProp{Covered: []string{"x@example.test"}}}).Encode()
	m := &queue.Message{Env: &queue.Envelope{OrgProps: up, Recipients: []queue.Recipient{
		{Addr: "all@example.test"}, {Addr: "A1@example.test"}, {Addr: "sub@example.test"}, {Addr: "a3@example.test"}}}}
	r := &Remote{Org: func() *directory.Org { return org }, Self: "mx1"}
	for _, c := range []struct {
		idx  []int
		want []string
	}{
		{[]int{2, 3}, []string{"x@example.test", "all@example.test", "a1@example.test"}},
		{[]int{3}, nil},
	} {
		p, err := orgauth.Decode(r.props(m, c.idx))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(p.Message.Covered, c.want) {
			t.Errorf("transaction %v: covered %v, want %v", c.idx, p.Message.Covered, c.want)
		}
	}
}

// A message with a journal recipient is journaled for every server after
// this one; the journal recipient's own transaction says it carries a
// journal report, without the original's authenticated sender.
func TestPropsJournaled(t *testing.T) {
	m := &queue.Message{Env: &queue.Envelope{From: "alice@example.test", AuthUser: "alice@example.test", Recipients: []queue.Recipient{
		{Addr: "bob@example.test"},
		{Addr: "journal@example.test", ReportTo: "postmaster@example.test", Journal: &queue.JournalEnvelope{From: "journaling@example.test"}},
	}}}
	r := &Remote{Self: "mx1"}
	got, err := orgauth.Decode(r.props(m, []int{0}))
	if err != nil || !got.Message.Journaled || got.Message.JournalReport || got.Envelope.AuthSender != "alice@example.test" {
		t.Errorf("bob's transaction: %+v, %v; want journaled, not a report, authenticated sender kept", got, err)
	}
	got, err = orgauth.Decode(r.props(m, []int{1}))
	if err != nil || !got.Message.Journaled || !got.Message.JournalReport || got.Envelope.AuthSender != "" ||
		len(got.Recipients) != 1 || got.Recipients[0].ReportTo != "postmaster@example.test" {
		t.Errorf("the journal recipient's transaction: %+v, %v; want a journaled report, reports to the postmaster", got, err)
	}
	m.Env.Recipients = m.Env.Recipients[:1]
	if got, _ := orgauth.Decode(r.props(m, []int{0})); got.Message.Journaled {
		t.Errorf("a message nobody journaled is marked journaled")
	}
}

// A journal report is a message of its own (docs/journaling.md): the
// original's DSN envelope parameters (RFC 3461 ENVID, RET) go with the
// original only, also when the original's sender is the address the
// report is sent from.
func TestJournalReportHasNoOriginalDSNParams(t *testing.T) {
	p := startHomePeer(t)
	r := &Remote{Org: homeOrg(p.Addr), Self: "mx1", Secret: "mx1-secret", Default: Route{TLS: smtpclient.TLSNone}}
	env := &queue.Envelope{From: "postmaster@example.test", EnvID: "E1", Ret: "HDRS", Recipients: []queue.Recipient{
		{Addr: "bob@example.test"},
		{Addr: "journal@example.test", ReportTo: "postmaster@example.test", Journal: &queue.JournalEnvelope{From: "journaling@example.test"}},
	}}
	attempt(t, r, env, "Subject: x\r\n\r\nbody\r\n", toServer("mx2"))
	var mails []string
	for _, m := range p.Messages() {
		mails = append(mails, strings.Join(m.RcptLines, ",")+" <- "+m.MailLine) // bob's sorts first
	}
	sort.Strings(mails)
	if len(mails) != 2 || !strings.Contains(mails[0], "ENVID=E1") || strings.Contains(mails[1], "ENVID") || strings.Contains(mails[1], "RET=") ||
		!strings.Contains(mails[1], "journal@example.test") {
		t.Errorf("transactions:\n%s\nwant ENVID=E1 on bob's only", strings.Join(mails, "\n"))
	}
}
