package e2e

// Remote delivery end to end: the real binary resolves remote.test in the
// test DNS server and talks SMTP to scripted next hops on 127.0.0.2 and
// 127.0.0.3 (every MX host uses delivery.remote_port, so the hosts differ
// by loopback address).

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mailward/internal/testdns"
	"mailward/internal/testkit"
)

// TestFailoverToSecondMX: the preferred MX answers KB979174's "454 4.7.0
// Temporary authentication failure" to MAIL; within the same attempt the
// message goes to the MX of the next preference, which takes it.
func TestFailoverToSecondMX(t *testing.T) {
	d := startDNS(t)
	twoMX(d)
	mx1, mx2, port := twoFakes(t)
	mx1.SetHandler(refuseAt("MAIL", authFail454))
	cfg := remoteConfig(d.Addr, port)
	cfg.Queue.RetrySchedule = []string{"1h"}
	s := startServer(t, cfg)

	id := relayMsg(t, s, "<alice@example.test>", "<bob@remote.test>", "failover-1")
	testkit.WaitFor(t, 10*time.Second, "mx2 to receive the message", func() bool { return mx2.Count() == 1 })
	recs := waitEvents(t, s, 3000, id, 1, 5*time.Second)
	if where := recs[0].Fields["where"]; !strings.Contains(where, "mx2.remote.test") || !strings.Contains(where, "127.0.0.3") {
		t.Errorf("event 3000 says %q; want delivery through mx2.remote.test [127.0.0.3]", where)
	}
	if n := mx1.CountCommands("MAIL"); n != 1 {
		t.Errorf("mx1 saw %d MAIL commands, want 1 (it is tried first and refuses)", n)
	}
	if mx1.Count() != 0 {
		t.Errorf("mx1 accepted %d messages; it refuses everything", mx1.Count())
	}
	m := mx2.Messages()[0]
	if m.MailLine != "MAIL FROM:<alice@example.test>" && !strings.HasPrefix(m.MailLine, "MAIL FROM:<alice@example.test> ") {
		t.Errorf("mx2 got %q", m.MailLine)
	}
	if len(m.RcptLines) != 1 || !strings.HasPrefix(m.RcptLines[0], "RCPT TO:<bob@remote.test>") {
		t.Errorf("mx2 got recipients %q", m.RcptLines)
	}
	if m.Helo != "mx1.example.test" {
		t.Errorf("EHLO name %q, want our fqdn mx1.example.test", m.Helo)
	}
	if n := len(s.EventsFor(3001, "queue_id", id)); n != 0 {
		t.Errorf("%d deferrals: failover must happen within the one attempt", n)
	}
	settle(t, s)
}

// TestRemoteAllHostsFailShowsKB979174LastError: both MX hosts answer 454:
// the message stays queued and the queue viewer shows KB979174's text
// word for word. When mx2 recovers, a retry delivers.
func TestRemoteAllHostsFailShowsKB979174LastError(t *testing.T) {
	d := startDNS(t)
	twoMX(d)
	mx1, mx2, port := twoFakes(t)
	mx1.SetHandler(refuseAt("MAIL", authFail454))
	mx2.SetHandler(refuseAt("MAIL", authFail454))
	cfg := remoteConfig(d.Addr, port)
	s := startServer(t, cfg)

	id := relayMsg(t, s, "<alice@example.test>", "<bob@remote.test>", "kb979174-all-fail")
	rec := waitEvents(t, s, 3001, id, 1, 10*time.Second)[0]
	if got := rec.Fields["error"]; got != kb979174LastError {
		t.Errorf("event 3001 error:\n got %q\nwant %q", got, kb979174LastError)
	}
	if mx1.CountCommands("MAIL") == 0 || mx2.CountCommands("MAIL") == 0 {
		t.Errorf("MAIL at mx1 %d, mx2 %d: both hosts must be tried", mx1.CountCommands("MAIL"), mx2.CountCommands("MAIL"))
	}
	// The queue viewer of the running server, as an administrator sees it.
	q, ok := liveQueue(t, s, "remote.test")
	if !ok || q.State != "retry" || q.Messages != 1 {
		t.Errorf("queue remote.test in the viewer: %+v (found %v); want state retry, 1 message", q, ok)
	}
	if q.LastError != kb979174LastError {
		t.Errorf("queue viewer last error:\n got %q\nwant %q", q.LastError, kb979174LastError)
	}
	if out := queueCLI(t, s, "show", "remote.test"); !strings.Contains(out, id) || !strings.Contains(out, "bob@remote.test") {
		t.Errorf("queue show remote.test does not list %s for bob@remote.test:\n%s", id, out)
	}
	if n := len(s.Events(4000)); n != 0 {
		t.Errorf("%d NDRs for a temporary failure", n)
	}

	mx2.SetHandler(nil)
	testkit.WaitFor(t, 10*time.Second, "delivery through mx2 on a retry", func() bool { return mx2.Count() == 1 })
	recs := waitEvents(t, s, 3000, id, 1, 5*time.Second)
	if !strings.Contains(recs[0].Fields["where"], "mx2.remote.test") {
		t.Errorf("event 3000 says %q, want mx2.remote.test", recs[0].Fields["where"])
	}
	settle(t, s)
	if mx1.Count() != 0 {
		t.Errorf("mx1 accepted %d messages", mx1.Count())
	}
}

// TestRemoteConnRefusedPrimaryInLastError: nothing listens on the primary
// MX (connection refused) and the alternate answers 454: the last error
// names the primary's connection error, in KB979174's frame.
func TestRemoteConnRefusedPrimaryInLastError(t *testing.T) {
	d := startDNS(t)
	twoMX(d)
	lns, port := testkit.ListenSamePort(t, "127.0.0.2", "127.0.0.3")
	lns[0].Close() // mx1 does not listen: connection refused
	mx2 := testkit.StartSMTP(t, testkit.SMTP{Listener: lns[1], Name: "mx2.remote.test"})
	mx2.SetHandler(refuseAt("MAIL", authFail454))
	cfg := remoteConfig(d.Addr, port)
	cfg.Queue.RetrySchedule = []string{"1h"}
	s := startServer(t, cfg)

	id := relayMsg(t, s, "<alice@example.test>", "<bob@remote.test>", "kb979174-refused")
	waitEvents(t, s, 3001, id, 1, 10*time.Second)
	text, src := queueLastError(t, s, "remote.test", id)
	t.Logf("last error read from %s: %s", src, text)
	if !strings.HasPrefix(text, kb979174Prefix) || !strings.HasSuffix(text, kb979174Suffix) {
		t.Errorf("last error %q is not in KB979174's frame", text)
	}
	if !strings.Contains(text, "connection refused") || !strings.Contains(text, "127.0.0.2") {
		t.Errorf("last error %q does not name the primary's connection error (127.0.0.2: connection refused)", text)
	}
	if strings.Contains(text, "454") {
		t.Errorf("last error %q shows the alternate's reply; KB979174 shows the primary target's", text)
	}
	if mx2.CountCommands("MAIL") != 1 {
		t.Errorf("mx2 saw %d MAIL commands, want 1 (failover after the refused connection)", mx2.CountCommands("MAIL"))
	}
}

// TestRemote5xxBounces: the next hop refuses the recipient with 550 5.1.1:
// no retry, and the local sender gets an NDR with the remote reply, our
// Reporting-MTA and the remote host as Remote-MTA.
func TestRemote5xxBounces(t *testing.T) {
	d := startDNS(t)
	oneMX(d)
	mx1, port := oneFake(t)
	const refusal = "550 5.1.1 <bob@remote.test>: Recipient address rejected: User unknown in virtual mailbox table"
	mx1.SetHandler(refuseAt("RCPT", refusal))
	cfg := remoteConfig(d.Addr, port)
	s := startServer(t, cfg)

	id := relayMsg(t, s, "<alice@example.test>", "<bob@remote.test>", "remote-5xx")
	n := waitNDR(t, s, "alice@example.test", id)
	if got := n.perMessage.Get("Reporting-MTA"); got != "dns; mx1.example.test" {
		t.Errorf("Reporting-MTA %q, want dns; mx1.example.test", got)
	}
	if len(n.recipients) != 1 {
		t.Fatalf("%d recipient blocks:\n%s", len(n.recipients), n.raw)
	}
	rb := n.recipients[0]
	if got := n.finalRecipients()[0]; got != "bob@remote.test" {
		t.Errorf("Final-Recipient %q", got)
	}
	if rb.Get("Action") != "failed" || rb.Get("Status") != "5.1.1" {
		t.Errorf("Action %q Status %q, want failed 5.1.1", rb.Get("Action"), rb.Get("Status"))
	}
	if got := rb.Get("Diagnostic-Code"); !strings.HasPrefix(got, "smtp;") || !strings.Contains(got, refusal) {
		t.Errorf("Diagnostic-Code %q, want smtp; %s", got, refusal)
	}
	if got := rb.Get("Remote-MTA"); got != "dns; mx1.remote.test" {
		t.Errorf("Remote-MTA %q, want dns; mx1.remote.test", got)
	}
	if n.returnPath != "<>" {
		t.Errorf("NDR Return-Path %q, want <>", n.returnPath)
	}
	if !strings.Contains(n.raw, "Subject: remote-5xx") {
		t.Errorf("NDR does not return the original header")
	}
	settle(t, s)
	if c := mx1.CountCommands("RCPT"); c != 1 {
		t.Errorf("the next hop saw %d RCPT commands; a 5xx must not be retried", c)
	}
	if c := maildirCount(s, "alice@example.test"); c != 1 {
		t.Errorf("alice has %d messages, want the one NDR", c)
	}
}

// TestExpiryBounces: a next hop that always answers 4xx; after max_age the
// recipient fails with 5.4.7 and the sender gets an NDR naming the last
// temporary error.
func TestExpiryBounces(t *testing.T) {
	d := startDNS(t)
	oneMX(d)
	mx1, port := oneFake(t)
	mx1.SetHandler(refuseAt("RCPT", "451 4.3.0 <bob@remote.test>: Temporary lookup failure"))
	cfg := remoteConfig(d.Addr, port)
	cfg.Queue.MaxAge = "2s"
	s := startServer(t, cfg)

	start := time.Now()
	id := relayMsg(t, s, "<alice@example.test>", "<bob@remote.test>", "expiry")
	n := waitNDR(t, s, "alice@example.test", id)
	took := time.Since(start)
	if took < 2*time.Second {
		t.Errorf("NDR after %v, before max_age (2s)", took)
	}
	rb := n.recipients[0]
	if rb.Get("Action") != "failed" || rb.Get("Status") != "5.4.7" {
		t.Errorf("Action %q Status %q, want failed 5.4.7", rb.Get("Action"), rb.Get("Status"))
	}
	if dc := rb.Get("Diagnostic-Code"); !strings.Contains(dc, "451 4.3.0") {
		t.Errorf("Diagnostic-Code %q does not carry the last temporary error", dc)
	}
	if c := mx1.CountCommands("RCPT"); c < 2 {
		t.Errorf("the next hop saw %d attempts, want retries before the expiry", c)
	}
	settle(t, s)
	if c := len(s.EventsFor(4000, "queue_id", id)); c != 1 {
		t.Errorf("%d NDRs for %s, want 1", c, id)
	}
}

// TestDelayNoticeOnce: with delay_warning = 1s and retries every second,
// the sender gets exactly one "delayed" DSN however many retries follow,
// and no NDR when the message finally goes through.
func TestDelayNoticeOnce(t *testing.T) {
	d := startDNS(t)
	oneMX(d)
	mx1, port := oneFake(t)
	mx1.SetHandler(refuseAt("MAIL", authFail454))
	cfg := remoteConfig(d.Addr, port)
	cfg.Queue.MaxAge = "1h"
	cfg.Queue.DelayWarning = "1s"
	s := startServer(t, cfg)

	id := relayMsg(t, s, "<alice@example.test>", "<bob@remote.test>", "delay-notice")
	waitEvents(t, s, 3001, id, 4, 15*time.Second) // four attempts: at 0, 1, 2, 3 s
	testkit.WaitFor(t, 5*time.Second, "the delay notice in alice's Maildir", func() bool { return maildirCount(s, "alice@example.test") >= 1 })
	time.Sleep(300 * time.Millisecond) // a second notice would be queued by now
	if c := maildirCount(s, "alice@example.test"); c != 1 {
		t.Fatalf("alice has %d messages after 4 attempts, want exactly one delay notice", c)
	}
	n := parseNDR(t, readFile(t, s.Maildir("alice@example.test")[0]))
	rb := n.recipients[0]
	if rb.Get("Action") != "delayed" {
		t.Errorf("Action %q, want delayed", rb.Get("Action"))
	}
	if st := rb.Get("Status"); !strings.HasPrefix(st, "4.") {
		t.Errorf("Status %q, want 4.x.x", st)
	}
	if rb.Get("Will-Retry-Until") == "" {
		t.Errorf("no Will-Retry-Until in the delay notice:\n%s", n.raw)
	}
	if dc := rb.Get("Diagnostic-Code"); !strings.Contains(dc, "454 4.7.0") {
		t.Errorf("Diagnostic-Code %q does not carry the temporary error", dc)
	}
	if c := len(s.EventsFor(4002, "queue_id", id)); c != 1 {
		t.Errorf("%d events 4002, want 1", c)
	}

	mx1.SetHandler(nil)
	testkit.WaitFor(t, 10*time.Second, "delivery after the host recovers", func() bool { return mx1.Count() == 1 })
	settle(t, s)
	if c := maildirCount(s, "alice@example.test"); c != 1 {
		t.Errorf("alice has %d messages, want still only the one delay notice", c)
	}
	if c := len(s.EventsFor(4000, "queue_id", id)); c != 0 {
		t.Errorf("%d NDRs for a delivered message", c)
	}
}

// TestNullSenderNoBounce: a relayed message from <> refused with 5xx by the
// next hop fails without a notice to anyone (event 4001).
func TestNullSenderNoBounce(t *testing.T) {
	d := startDNS(t)
	oneMX(d)
	mx1, port := oneFake(t)
	mx1.SetHandler(refuseAt("RCPT", "550 5.1.1 <bob@remote.test>: User unknown"))
	cfg := remoteConfig(d.Addr, port)
	s := startServer(t, cfg)

	id := relayMsg(t, s, "<>", "<bob@remote.test>", "null-sender-remote")
	rec := waitEvents(t, s, 4001, id, 1, 10*time.Second)[0]
	if !strings.Contains(rec.Message, "null sender") {
		t.Errorf("event 4001 says %q, want the null-sender reason", rec.Message)
	}
	if c := len(s.EventsFor(3002, "queue_id", id)); c != 1 {
		t.Errorf("%d events 3002, want 1", c)
	}
	settle(t, s)
	if c := len(s.EventsFor(4000, "queue_id", id)); c != 0 {
		t.Errorf("%d NDRs for a message from <>", c)
	}
	for _, a := range []string{"alice@example.test", "postmaster@example.test"} {
		if c := maildirCount(s, a); c != 0 {
			t.Errorf("%s has %d messages, want none", a, c)
		}
	}
	if c := mx1.Count(); c != 0 {
		t.Errorf("the next hop accepted %d messages (an NDR relayed back?)", c)
	}
}

// TestNotifyNeverNoBounce: NOTIFY=NEVER on a relayed recipient that the
// next hop refuses with 5xx: no NDR (event 4001).
func TestNotifyNeverNoBounce(t *testing.T) {
	d := startDNS(t)
	oneMX(d)
	mx1, port := oneFake(t)
	mx1.SetHandler(refuseAt("RCPT", "550 5.1.1 <bob@remote.test>: User unknown"))
	cfg := remoteConfig(d.Addr, port)
	s := startServer(t, cfg)

	id := relayMsg(t, s, "<alice@example.test>", "<bob@remote.test> NOTIFY=NEVER", "notify-never-remote")
	rec := waitEvents(t, s, 4001, id, 1, 10*time.Second)[0]
	if !strings.Contains(rec.Message, "NOTIFY") {
		t.Errorf("event 4001 says %q, want the NOTIFY reason", rec.Message)
	}
	settle(t, s)
	if c := len(s.EventsFor(4000, "queue_id", id)); c != 0 {
		t.Errorf("%d NDRs despite NOTIFY=NEVER", c)
	}
	if c := maildirCount(s, "alice@example.test"); c != 0 {
		t.Errorf("alice has %d messages despite NOTIFY=NEVER", c)
	}
	if cmds := mx1.Commands(); !containsPrefix(cmds, "RCPT TO:<bob@remote.test> NOTIFY=NEVER") {
		t.Errorf("NOTIFY=NEVER was not passed on to the DSN-capable next hop: %q", cmds)
	}
}

// TestNullMXBouncesAtOnce: remote.test publishes a null MX (RFC 7505,
// "MX 0 ."): the first attempt fails for good with 5.1.10 and no
// connection is made. retry_schedule = 1h proves it is the first attempt.
func TestNullMXBouncesAtOnce(t *testing.T) {
	d := startDNS(t)
	d.SetMX("remote.test", testdns.MX{Pref: 0, Host: "."})
	d.SetA("remote.test", "127.0.0.2") // an address must not be used as an implicit MX
	mx1, port := oneFake(t)
	cfg := remoteConfig(d.Addr, port)
	cfg.Queue.RetrySchedule = []string{"1h"}
	s := startServer(t, cfg)

	start := time.Now()
	id := relayMsg(t, s, "<alice@example.test>", "<bob@remote.test>", "null-mx")
	n := waitNDR(t, s, "alice@example.test", id)
	t.Logf("NDR after %v", time.Since(start))
	rb := n.recipients[0]
	if rb.Get("Action") != "failed" || rb.Get("Status") != "5.1.10" {
		t.Errorf("Action %q Status %q, want failed 5.1.10", rb.Get("Action"), rb.Get("Status"))
	}
	if dc := rb.Get("Diagnostic-Code"); !strings.Contains(strings.ToLower(dc), "null mx") {
		t.Errorf("Diagnostic-Code %q does not say null MX", dc)
	}
	if c := len(s.EventsFor(3001, "queue_id", id)); c != 0 {
		t.Errorf("%d deferrals for a null MX", c)
	}
	if mx1.Total() != 0 {
		t.Errorf("%d connections to the address of a null-MX domain", mx1.Total())
	}
	settle(t, s)
}

// TestDNSServFailDefers: while the MX lookup answers SERVFAIL the message
// is deferred (4.4.3), never bounced; once DNS recovers it is delivered.
func TestDNSServFailDefers(t *testing.T) {
	d := startDNS(t)
	oneMX(d)
	d.SetServFail("remote.test", true)
	mx1, port := oneFake(t)
	cfg := remoteConfig(d.Addr, port)
	s := startServer(t, cfg)

	id := relayMsg(t, s, "<alice@example.test>", "<bob@remote.test>", "servfail")
	recs := waitEvents(t, s, 3001, id, 3, 15*time.Second)
	for _, r := range recs {
		if e := r.Fields["error"]; !strings.Contains(e, "4.4.3") || !strings.Contains(e, "remote.test") {
			t.Errorf("deferral says %q; want the DNS failure (4.4.3) for remote.test", e)
		}
	}
	if c := len(s.Events(4000)) + len(s.EventsFor(3002, "queue_id", id)); c != 0 {
		t.Fatalf("a DNS failure failed or bounced the message (%d events 3002/4000)", c)
	}
	if mx1.Total() != 0 {
		t.Errorf("%d connections while DNS failed", mx1.Total())
	}
	text, src := queueLastError(t, s, "remote.test", id)
	if !strings.Contains(text, "DNS") {
		t.Errorf("last error (%s) %q does not name the DNS failure", src, text)
	}

	d.SetServFail("remote.test", false)
	testkit.WaitFor(t, 10*time.Second, "delivery after DNS recovers", func() bool { return mx1.Count() == 1 })
	settle(t, s)
	if c := maildirCount(s, "alice@example.test"); c != 0 {
		t.Errorf("alice has %d messages (NDR or delay notice), want none", c)
	}
}

// TestDSNParametersPassedOn: RET and ENVID on MAIL, NOTIFY and ORCPT on
// RCPT reach a next hop that announces DSN exactly as the client gave
// them (RFC 3461 §4); a recipient without them gets none; a next hop
// without DSN gets no DSN parameters at all.
func TestDSNParametersPassedOn(t *testing.T) {
	d := startDNS(t)
	oneMX(d)
	d.SetMX("nodsn.test", testdns.MX{Pref: 10, Host: "mx.nodsn.test"})
	d.SetA("mx.nodsn.test", "127.0.0.3")
	withDSN, plain, port := twoFakes(t)
	plain.SetExtensions("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES")
	cfg := remoteConfig(d.Addr, port)
	s := startServer(t, cfg)

	const (
		mailParams = "RET=HDRS ENVID=QQ+2Bid-42"
		notify     = "NOTIFY=SUCCESS,FAILURE"
		orcpt      = "ORCPT=rfc822;Bob@Remote.test"
	)
	relayMsgTo(t, s, "<alice@example.test> "+mailParams,
		[]string{"<bob@remote.test> " + notify + " " + orcpt, "<carol@remote.test>"}, "dsn-params")
	testkit.WaitFor(t, 10*time.Second, "the DSN-capable hop to get the message", func() bool { return withDSN.Count() == 1 })
	m := withDSN.Messages()[0]
	for _, p := range strings.Fields(mailParams) {
		if !hasParam(m.MailLine, p) {
			t.Errorf("MAIL line %q lacks %s", m.MailLine, p)
		}
	}
	if len(m.RcptLines) != 2 {
		t.Fatalf("RCPT lines %q, want 2", m.RcptLines)
	}
	for _, p := range []string{notify, orcpt} {
		if !hasParam(m.RcptLines[0], p) {
			t.Errorf("RCPT line %q lacks %s", m.RcptLines[0], p)
		}
	}
	if m.RcptLines[1] != "RCPT TO:<carol@remote.test>" {
		t.Errorf("RCPT line %q, want no parameters for a recipient that gave none", m.RcptLines[1])
	}

	relayMsg(t, s, "<alice@example.test> "+mailParams, "<dave@nodsn.test> "+notify+" "+orcpt, "dsn-params-nodsn")
	testkit.WaitFor(t, 10*time.Second, "the hop without DSN to get the message", func() bool { return plain.Count() == 1 })
	p := plain.Messages()[0]
	for _, l := range append([]string{p.MailLine}, p.RcptLines...) {
		for _, k := range []string{"RET=", "ENVID=", "NOTIFY=", "ORCPT="} {
			if strings.Contains(strings.ToUpper(l), k) {
				t.Errorf("%q sent to a server that did not announce DSN", l)
			}
		}
	}
	settle(t, s)
}

// hasParam reports whether an SMTP command line carries parameter p
// (case-insensitive keyword, exact value).
func hasParam(line, p string) bool {
	k, v, _ := strings.Cut(p, "=")
	for _, f := range strings.Fields(line)[2:] {
		fk, fv, _ := strings.Cut(f, "=")
		if strings.EqualFold(fk, k) && fv == v {
			return true
		}
	}
	return false
}

func containsPrefix(list []string, prefix string) bool {
	for _, l := range list {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// flaky answers reply to the first n MAIL commands, then accepts.
func flaky(n int, reply string) testkit.SMTPHandler {
	var seen atomic.Int64
	return func(_ *testkit.SMTPSession, verb, _ string) testkit.Reply {
		if verb == "MAIL" && seen.Add(1) <= int64(n) {
			return testkit.Reply{Text: reply}
		}
		return testkit.Reply{}
	}
}

// refuseAt answers reply to verb and takes everything else.
func refuseAt(verb, reply string) testkit.SMTPHandler {
	return func(_ *testkit.SMTPSession, v, _ string) testkit.Reply {
		if v == verb {
			return testkit.Reply{Text: reply}
		}
		return testkit.Reply{}
	}
}
