package deliver

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"mailward/events"
	"mailward/internal/testdns"
	"mailward/internal/testkit"
	"mailward/queue"
	"mailward/smtpclient"
)

// startPeer starts a next hop for the loop tests on ip: it greets with
// greetName, answers EHLO with ehloName and takes every message.
func startPeer(t *testing.T, ip, greetName, ehloName string) *testkit.SMTPServer {
	t.Helper()
	return testkit.StartSMTP(t, testkit.SMTP{Addr: net.JoinHostPort(ip, "0"), Name: ehloName,
		Greeting: testkit.Greet("220 " + greetName + " ESMTP"), Extensions: []string{"PIPELINING"}})
}

// counts are the connections a peer accepted and the MAIL commands it
// was sent.
func counts(p *testkit.SMTPServer) (conns, mails int) {
	return p.Total(), p.CountCommands("MAIL")
}

// deliverOnce queues one message to rcpts and runs one attempt of r on
// it through a real queue, returning the recipients' outcomes and the
// event log.
func deliverOnce(t *testing.T, r *Remote, rcpts ...string) ([]queue.Result, []events.Record) {
	t.Helper()
	env := &queue.Envelope{From: "alice@example.test"}
	for _, a := range rcpts {
		env.Recipients = append(env.Recipients, queue.Recipient{Addr: a})
	}
	res, evPath := attempt(t, r, env, "Subject: loop test\r\n\r\nbody\r\n", func(m *queue.Message) []Job {
		var jobs []Job
		for _, i := range m.Pending() {
			jobs = append(jobs, Job{Index: i})
		}
		return jobs
	})
	recs, err := events.Read(evPath, events.Filter{ID: events.MailLoopsBack})
	if err != nil {
		t.Fatal(err)
	}
	return res, recs
}

// wantLoop checks that every result failed with 5.4.6 for its domain and
// that one event 3004 was written.
func wantLoop(t *testing.T, res []queue.Result, recs []events.Record, reason string) {
	t.Helper()
	if len(res) == 0 {
		t.Fatal("no results")
	}
	for _, r := range res {
		if r.State != queue.Failed || r.Reply.Code != 554 || r.Reply.Status != "5.4.6" ||
			!strings.Contains(r.Reply.Text(), "loops back to myself") || !strings.Contains(r.Reply.Text(), reason) {
			t.Errorf("recipient %d: %v %q; want failed with 554 5.4.6 ... loops back to myself ... %s", r.Index, r.State, r.Reply, reason)
		}
	}
	if len(recs) != 1 {
		t.Errorf("%d events 3004, want 1", len(recs))
	}
}

// The smart host is this server's own virtual server (the set-up:
// smart_host = "127.0.0.1:2525" and a virtual server there): the recipients
// fail with 5.4.6 at once, without a connection, and event 3004 says so.
// Each recipient's reply names its own domain.
func TestSmartHostIsOwnListener(t *testing.T) {
	dials := 0
	r := &Remote{
		Default:    Route{SmartHost: "127.0.0.1:2525", TLS: smtpclient.TLSNone},
		LocalNames: []string{"mx1.example.test"},
		LocalAddrs: []string{"127.0.0.1:2525"},
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials++
			return nil, &net.OpError{Op: "dial", Err: net.UnknownNetworkError("test: no dialing")}
		},
	}
	res, recs := deliverOnce(t, r, "user@remote.test", "other@elsewhere.test")
	wantLoop(t, res, recs, "is an address this server listens on (virtual server 127.0.0.1:2525)")
	if dials != 0 {
		t.Errorf("%d connection(s) to this server itself", dials)
	}
	if len(res) == 2 && (!strings.Contains(res[0].Reply.Text(), "mail for remote.test ") || !strings.Contains(res[1].Reply.Text(), "mail for elsewhere.test ")) {
		t.Errorf("replies %q, %q do not name each recipient's domain", res[0].Reply, res[1].Reply)
	}
	if len(recs) == 1 && (recs[0].Fields["domain"] != "remote.test, elsewhere.test" || recs[0].Fields["hop"] != "127.0.0.1:2525") {
		t.Errorf("event 3004 fields %v", recs[0].Fields)
	}
}

// A next hop that greets with one of this server's names is this server
// (reached through an address it does not know as its own, or a second
// server given the same name): nothing is sent, 5.4.6. So is one that
// answers EHLO with it (names compared without case and trailing dot). A
// peer with another name gets the mail: the check is by name, not by
// accident.
func TestNextHopWithOwnName(t *testing.T) {
	for _, tc := range []struct {
		name, greet, ehlo, reason string
	}{
		{"greeting", "mx1.example.test", "mx1.example.test", "greeted with this server's own name mx1.example.test"},
		{"virtual server fqdn", "submit.example.test", "other.example.net", "greeted with this server's own name submit.example.test"},
		{"EHLO", "other.example.net", "MX1.Example.Test.", "answered EHLO with this server's own name mx1.example.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startPeer(t, "127.0.0.1", tc.greet, tc.ehlo)
			r := &Remote{Default: Route{SmartHost: p.Addr, TLS: smtpclient.TLSNone},
				LocalNames: []string{"mx1.example.test", "submit.example.test"}, LocalAddrs: []string{"127.0.0.1:1"}}
			res, recs := deliverOnce(t, r, "user@remote.test")
			wantLoop(t, res, recs, tc.reason)
			if conns, mails := counts(p); conns != 1 || mails != 0 {
				t.Errorf("the peer saw %d connection(s) and %d MAIL command(s); want 1 and none", conns, mails)
			}
		})
	}
	t.Run("another name", func(t *testing.T) {
		p := startPeer(t, "127.0.0.1", "mx2.example.test", "mx2.example.test")
		r := &Remote{Default: Route{SmartHost: p.Addr, TLS: smtpclient.TLSNone},
			LocalNames: []string{"mx1.example.test"}, LocalAddrs: []string{"127.0.0.1:1"}}
		res, recs := deliverOnce(t, r, "user@remote.test")
		if len(res) != 1 || res[0].State != queue.Delivered || len(recs) != 0 {
			t.Errorf("a peer named mx2: %+v, %d events 3004; want delivered, none", res, len(recs))
		}
		if _, mails := counts(p); mails != 1 {
			t.Errorf("the peer got %d messages, want 1", mails)
		}
	})
}

// When this server is the best MX host of a domain, mail for it loops
// back (5.4.6), and the worse MX hosts are not tried: they would send it
// back here. When it is only a backup MX and the better host is down, the
// mail waits for the better host (deferred, no 3004), as RFC 5321 §5.1
// has a backup MX do.
func TestSelfAsMX(t *testing.T) {
	// The worse MX, on 127.0.0.2, would take the mail.
	worse := startPeer(t, "127.0.0.2", "mx2.remote.test", "mx2.remote.test")
	_, portS, _ := net.SplitHostPort(worse.Addr)
	port, _ := strconv.Atoi(portS)

	d, err := testdns.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	d.SetMX("remote.test", testdns.MX{Pref: 10, Host: "self.remote.test"}, testdns.MX{Pref: 20, Host: "mx2.remote.test"})
	d.SetA("self.remote.test", "127.0.0.1")
	d.SetA("mx2.remote.test", "127.0.0.2")
	d.SetMX("backup.test", testdns.MX{Pref: 10, Host: "down.backup.test"}, testdns.MX{Pref: 20, Host: "self.backup.test"},
		testdns.MX{Pref: 30, Host: "mx2.remote.test"})
	d.SetA("down.backup.test", "127.0.0.3") // nothing listens there
	d.SetA("self.backup.test", "127.0.0.1")

	// This server listens on 127.0.0.1 with the MX port (on 0.0.0.0,
	// 127.0.0.2 would be this server too: TestSelfAddress).
	self := []string{"127.0.0.1:" + portS}
	r := &Remote{Resolver: NewResolver(d.Addr), Port: port, Default: Route{TLS: smtpclient.TLSNone},
		LocalNames: []string{"mx1.example.test"}, LocalAddrs: self}
	res, recs := deliverOnce(t, r, "user@remote.test")
	wantLoop(t, res, recs, "is an address this server listens on (virtual server 127.0.0.1:"+portS+")")
	if conns, _ := counts(worse); conns != 0 {
		t.Errorf("the worse MX host was tried %d time(s) after the best one was this server", conns)
	}

	r = &Remote{Resolver: NewResolver(d.Addr), Port: port, Default: Route{TLS: smtpclient.TLSNone},
		LocalNames: []string{"mx1.example.test"}, LocalAddrs: self}
	res, recs = deliverOnce(t, r, "user@backup.test")
	if len(res) != 1 || res[0].State != queue.Pending || res[0].Reply.Status != "4.4.0" || !strings.Contains(res[0].Reply.Text(), "127.0.0.3") {
		t.Errorf("backup MX with the better host down: %+v; want deferred 4.4.0 with the better host's error", res)
	}
	if len(recs) != 0 {
		t.Errorf("%d events 3004 for a backup MX", len(recs))
	}
	if conns, _ := counts(worse); conns != 0 {
		t.Errorf("the MX host worse than this server was tried %d time(s)", conns)
	}
}

// selfAddress: a virtual server on a given address matches that address and
// port only; one on 0.0.0.0, [::] or no host matches every address of
// this host with its port (loopback, or an interface's) and nothing else.
func TestSelfAddress(t *testing.T) {
	ifaces := func() ([]net.Addr, error) {
		return []net.Addr{&net.IPNet{IP: net.ParseIP("192.0.2.7"), Mask: net.CIDRMask(24, 32)},
			&net.IPNet{IP: net.ParseIP("2001:db8::7"), Mask: net.CIDRMask(64, 128)}}, nil
	}
	for _, tc := range []struct {
		listeners []string
		addr      string
		self      bool
	}{
		{[]string{"127.0.0.1:2525"}, "127.0.0.1:2525", true},
		{[]string{"127.0.0.1:2525"}, "127.0.0.1:25", false},
		{[]string{"127.0.0.1:2525"}, "127.0.0.2:2525", false},
		{[]string{"127.0.0.1:2525"}, "[::ffff:127.0.0.1]:2525", true},
		{[]string{"[::1]:25"}, "[::1]:25", true},
		{[]string{"0.0.0.0:25"}, "127.0.0.5:25", true},
		{[]string{"0.0.0.0:25"}, "[::1]:25", true},
		{[]string{"0.0.0.0:25"}, "192.0.2.7:25", true},
		{[]string{"[::]:25"}, "[2001:db8::7]:25", true},
		{[]string{":25"}, "192.0.2.7:25", true},
		{[]string{"0.0.0.0:25"}, "192.0.2.8:25", false},
		{[]string{"0.0.0.0:25"}, "192.0.2.7:587", false},
		{[]string{"0.0.0.0:smtp"}, "192.0.2.7:25", true},
		{[]string{"mail.example.test:25"}, "127.0.0.1:25", false},
		{[]string{"127.0.0.1:2525", "0.0.0.0:587"}, "192.0.2.7:587", true},
	} {
		r := &Remote{LocalAddrs: tc.listeners, InterfaceAddrs: ifaces}
		if got := r.selfAddress(tc.addr) != ""; got != tc.self {
			t.Errorf("virtual servers %v, next hop %s: self = %v, want %v", tc.listeners, tc.addr, got, tc.self)
		}
	}
	if _, err := netip.ParseAddrPort("[::ffff:127.0.0.1]:2525"); err != nil {
		t.Fatal(err)
	}
}
