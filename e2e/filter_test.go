package e2e

import (
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"mailward/events"
	"mailward/internal/testkit"
)

// dialFrom connects from a given loopback address (the whole of
// 127.0.0.0/8 is loopback on Linux), so that a block list entry is a
// real connecting address, and reads the greeting.
func dialFrom(t *testing.T, from, addr string) *client {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, from, err)
	}
	c := &client{t: t, conn: conn, tp: textproto.NewConn(conn)}
	if r, err := c.read(); err != nil || r.Code != 220 {
		conn.Close()
		t.Fatalf("greeting to %s: %v %v", from, r, err)
	}
	return c
}

// filterConfig is a server with alice and postmaster, asking bl at
// [dns], with two virtual servers that use it: "default" fails open,
// "strict" fails closed.
func filterConfig(bl *testkit.Rbldnsd) *testkit.Config {
	cfg := testkit.NewConfig()
	cfg.Mailboxes = testkit.Mailboxes("alice@example.test", "postmaster@example.test")
	cfg.Diagnostics = map[string]string{"smtp_receive": "medium"} // events 1056 and 1057
	cfg.DNS = &testkit.DNS{Server: bl.Addr}
	cfg.DNSBLs = []testkit.DNSBL{{Name: "testbl", Zone: bl.Zone, Codes: []string{"127.0.0.2"}}}
	cfg.VirtualServers[0].ConnectionFilter = &testkit.ConnectionFilter{DNSBL: []string{"testbl"}, LookupTimeout: "1s"}
	cfg.VirtualServers = append(cfg.VirtualServers, testkit.VirtualServer{Name: "strict", TLS: "none",
		ConnectionFilter: &testkit.ConnectionFilter{DNSBL: []string{"testbl"}, LookupTimeout: "1s", FailOpen: testkit.Bool(false)}})
	return cfg
}

// The connection filter of a real mailward process with a real block
// list (rbldnsd): a listed client (connecting from 127.0.0.2) is refused
// at RCPT with 550 5.7.1 but reaches postmaster, whose message is
// delivered; an unlisted client's mail to alice is delivered. Then
// rbldnsd stops: the listed client is still refused from the cache, a
// new client is accepted with event 1058 on the fail-open virtual server
// and deferred with 451 4.7.1 on the fail-closed one.
func TestConnectionFilterRbldnsd(t *testing.T) {
	bl := testkit.StartRbldnsd(t, "bl.example.test", 300, "127.0.0.2")
	cfg := filterConfig(bl)
	s := startServer(t, cfg)
	strict := cfg.VirtualServer("strict").Address

	c := dialFrom(t, "127.0.0.2", s.Addr)
	c.expect("EHLO listed.test", 250)
	c.expect("MAIL FROM:<someone@listed.test>", 250)
	if r := c.cmd("RCPT TO:<alice@example.test>"); r.String() != "550 5.7.1 Service unavailable; client [127.0.0.2] blocked using bl.example.test (127.0.0.2)" {
		t.Fatalf("listed client's RCPT to alice: %q", r)
	}
	c.expect("RCPT TO:<postmaster@example.test>", 250)
	r, err := c.dataErr(message("someone@listed.test", "postmaster@example.test", "delist", "please delist 127.0.0.2"))
	if err != nil {
		t.Fatal(err)
	}
	queueID(t, r)
	c.cmd("QUIT")
	c.Close()

	c = dialFrom(t, "127.0.0.1", s.Addr)
	c.expect("EHLO clean.test", 250)
	c.send("<friend@clean.test>", []string{"<alice@example.test>"}, message("friend@clean.test", "alice@example.test", "hello", "clean"))
	c.cmd("QUIT")
	c.Close()
	testkit.WaitFor(t, 10*time.Second, "postmaster's and alice's messages delivered", func() bool {
		return len(s.Maildir("postmaster@example.test")) == 1 && len(s.Maildir("alice@example.test")) == 1
	})
	if got := readFile(t, s.Maildir("alice@example.test")[0]); !strings.Contains(got, "From: <friend@clean.test>") {
		t.Errorf("alice got a message that is not the clean client's:\n%s", got)
	}
	if recs := s.EventsFor(events.ListedException, "ip", "127.0.0.2"); len(recs) != 1 || recs[0].Fields["rcpt"] != "postmaster@example.test" {
		t.Errorf("events 1057: %+v", recs)
	}

	bl.Stop()
	c = dialFrom(t, "127.0.0.2", s.Addr)
	c.expect("EHLO listed.test", 250)
	c.expect("MAIL FROM:<someone@listed.test>", 250)
	c.expect("RCPT TO:<alice@example.test>", 550) // from the cache: rbldnsd is gone
	c.Close()
	c = dialFrom(t, "127.0.0.3", s.Addr)
	c.expect("EHLO new.test", 250)
	c.expect("MAIL FROM:<someone@new.test>", 250)
	c.expect("RCPT TO:<alice@example.test>", 250)
	c.Close()
	c = dialFrom(t, "127.0.0.3", strict)
	c.expect("EHLO new.test", 250)
	c.expect("MAIL FROM:<someone@new.test>", 250)
	if r := c.cmd("RCPT TO:<alice@example.test>"); r.String() != "451 4.7.1 Service temporarily unavailable; block list lookup of [127.0.0.3] failed, try again later" {
		t.Errorf("fail-closed virtual server with rbldnsd stopped: %q", r)
	}
	c.expect("RCPT TO:<postmaster@example.test>", 250)
	c.Close()
	testkit.WaitFor(t, 5*time.Second, "events 1058 and 1059 for 127.0.0.3", func() bool {
		return len(s.EventsFor(events.DNSBLFailedOpen, "ip", "127.0.0.3")) == 1 && len(s.EventsFor(events.DNSBLFailedClosed, "ip", "127.0.0.3")) == 1
	})
	if recs := s.EventsFor(events.ClientListed, "ip", "127.0.0.2"); len(recs) != 2 {
		t.Errorf("events 1056 for 127.0.0.2: %d, want 2 (before and after rbldnsd stopped)", len(recs))
	}
}

// A lookup that times out (a DNS port where nothing answers, as a list
// that drops queries) costs the client at most lookup_timeout, counted
// from connect, not one per RCPT.
func TestConnectionFilterLookupTimeout(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	cfg := testkit.NewConfig()
	cfg.Mailboxes = testkit.Mailboxes("alice@example.test", "postmaster@example.test")
	cfg.DNS = &testkit.DNS{Server: pc.LocalAddr().String()}
	cfg.DNSBLs = []testkit.DNSBL{{Name: "silent", Zone: "silent.example.test"}}
	cfg.VirtualServers[0].ConnectionFilter = &testkit.ConnectionFilter{DNSBL: []string{"silent"}, LookupTimeout: "2s", FailOpen: testkit.Bool(false)}
	s := startServer(t, cfg)
	c := dialFrom(t, "127.0.0.4", s.Addr)
	defer c.Close()
	start := time.Now()
	c.expect("EHLO slow.test", 250)
	c.expect("MAIL FROM:<someone@slow.test>", 250)
	c.expect("RCPT TO:<alice@example.test>", 451)
	c.expect("RCPT TO:<alice@example.test>", 451)
	c.expect("RCPT TO:<postmaster@example.test>", 250)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("three RCPTs took %s with a 2s lookup timeout", d)
	}
	recs := s.EventsFor(events.DNSBLFailedClosed, "ip", "127.0.0.4")
	if len(recs) != 2 || !strings.Contains(recs[0].Fields["error"], "silent: ") {
		t.Errorf("events 1059: %+v", recs)
	}
}

// The sender filter of a real mailward: on "default" a blocked sender
// is refused at MAIL and the empty sender accepted (bounces must get
// through); on "drop" the blocked sender's message is answered 250 and
// never reaches the mailbox, while a clean sender's message in the same
// session is delivered, and event 1061 is the dropped one's only trace.
func TestSenderFilter(t *testing.T) {
	cfg := testkit.NewConfig()
	cfg.Mailboxes = testkit.Mailboxes("alice@example.test")
	cfg.VirtualServers[0].SenderFilter = &testkit.SenderFilter{Blocked: []string{"*@junk.test"}}
	cfg.VirtualServers = append(cfg.VirtualServers, testkit.VirtualServer{Name: "drop", TLS: "none",
		SenderFilter: &testkit.SenderFilter{Blocked: []string{"*@junk.test"}, Action: "drop"}})
	s := startServer(t, cfg)

	c := dial(t, s.Addr)
	c.expect("EHLO client.test", 250)
	if r := c.cmd("MAIL FROM:<spam@junk.test>"); r.String() != "550 5.7.1 Sender spam@junk.test refused by the sender filter" {
		t.Errorf("blocked sender: %q", r)
	}
	c.send("<>", []string{"<alice@example.test>"}, message("mailer-daemon@remote.test", "alice@example.test", "bounce", "a notification"))
	c.cmd("QUIT")
	c.Close()

	c = dial(t, cfg.VirtualServer("drop").Address)
	c.expect("EHLO client.test", 250)
	dropped := c.send("<spam@junk.test>", []string{"<alice@example.test>"}, message("spam@junk.test", "alice@example.test", "junk", "junk"))
	c.send("<friend@good.test>", []string{"<alice@example.test>"}, message("friend@good.test", "alice@example.test", "fine", "fine"))
	c.cmd("QUIT")
	c.Close()
	testkit.WaitFor(t, 10*time.Second, "the bounce and friend's message in alice's Maildir", func() bool {
		return len(s.Maildir("alice@example.test")) == 2
	})
	for _, f := range s.Maildir("alice@example.test") {
		if strings.Contains(readFile(t, f), "junk.test") {
			t.Errorf("a message from junk.test was delivered:\n%s", readFile(t, f))
		}
	}
	recs := s.Events(events.SenderDropped)
	if len(recs) != 1 || recs[0].Fields["queue_id"] != dropped || recs[0].Fields["from"] != "spam@junk.test" {
		t.Errorf("events 1061: %+v, want one for %s", recs, dropped)
	}
	if got := s.EventsFor(events.MessageQueued, "queue_id", dropped); len(got) != 0 {
		t.Errorf("the dropped message was reported queued: %+v", got)
	}
}
