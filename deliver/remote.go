package deliver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mailward/directory"
	"mailward/events"
	"mailward/metrics"
	"mailward/orgauth"
	"mailward/protolog"
	"mailward/queue"
	"mailward/reply"
	"mailward/smtpclient"
)

// Route is how mail for one destination leaves: through a smart host, or
// (SmartHost empty) to the domain's MX hosts.
type Route struct {
	SmartHost string
	TLS       smtpclient.TLSPolicy
	// Server is the organization server the route leads to, when it is
	// one (routing by home server): it gets X-EXPS and XEXCH50 whatever
	// name or address it is reached by.
	Server *directory.OrgServer
}

// Job is one recipient to deliver remotely. Via, when set, overrides
// routing (KB304897's "forward unresolved recipients to host").
type Job struct {
	Index int
	Via   string
	// Server, when set, is the server of the organization the recipient
	// goes to: its home server, or a group's expansion server
	// (docs/categorizer.md). No [[route]] is needed for it.
	Server string
	// Replica marks a shared folder's replica recipient: it travels in
	// a transaction of its own, and only with its properties
	// (replica.go).
	Replica bool
}

// Remote delivers to next hops over SMTP: MX failover, a connection
// cache, a concurrency bound per hop, and KB979174's last error.
type Remote struct {
	// Metrics times each attempt per next hop and counts its results
	// (docs/metrics.md); nil: nothing is counted.
	Metrics           *metrics.Recorder
	Resolver          Resolver
	HeloName          string
	Port              int              // MX port, 25
	Default           Route            // global: smart host or MX, and the TLS policy
	Routes            map[string]Route // per destination domain
	MaxPerDestination int              // concurrent connections per next hop; 0: no bound
	Timeouts          smtpclient.Timeouts
	Hops              *Hops
	// Dialer is for tests (nil: net.Dialer).
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

	// The organization (KB843106): next hops that are its servers get
	// X-EXPS and XEXCH50; SuppressExternal keeps XEXCH50 from everyone
	// else.
	// Org is the organization directory in force (a reload replaces
	// it); nil without an organization.
	Org              func() *directory.Org
	Self             string // our server name, the X-EXPS LOGIN user
	Secret           string // our LOGIN secret
	SuppressExternal bool
	// NoChunking sends with DATA even to next hops offering CHUNKING
	// ([delivery] chunking = false).
	NoChunking bool
	// ProtocolLog, when set, gets every outbound session's commands and
	// replies (protolog; docs/protocol-log.md).
	ProtocolLog *protolog.Log
	Events      *events.Log
	// Kerberos authenticates us (SMTP/<our FQDN>) with X-EXPS GSSAPI to
	// the organization servers whose directory entry says auth =
	// "gssapi"; nil when organization.keytab is not set.
	Kerberos *orgauth.Initiator

	// This server itself must never be a next hop (RFC 5321 §6.3): mail
	// sent to it comes straight back, and round it goes. LocalNames are
	// its names (server.fqdn, every virtual server's fqdn), LocalAddrs the
	// "host:port" its virtual servers listen on (see loop.go).
	LocalNames []string
	LocalAddrs []string
	// self replaces them after a reload (SetSelf, self.go).
	self atomic.Pointer[selfNames]
	// InterfaceAddrs is for tests (nil: net.InterfaceAddrs).
	InterfaceAddrs func() ([]net.Addr, error)

	mu    sync.Mutex
	slots map[string]chan struct{}
	cache connCache
}

// hopFor returns the delivery queue name and how it is reached.
func (r *Remote) hopFor(domain string, via string) (name string, rt Route) {
	if via != "" {
		return via, Route{SmartHost: via, TLS: r.Default.TLS}
	}
	rt = r.Default
	if dr, ok := r.Routes[domain]; ok {
		// A route without a smart host still sets the TLS policy, and
		// sends the domain to its MX hosts even under a global smart host.
		rt = dr
	}
	if rt.SmartHost != "" {
		return rt.SmartHost, rt
	}
	return domain, rt
}

// Deliver is categorize's Remote: it groups jobs by next hop and
// delivers each group, one result per job.
func (r *Remote) Deliver(ctx context.Context, m *queue.Message, jobs []Job) []queue.Result {
	type group struct {
		rt   Route
		idx  []int
		dest string
		hop  string
	}
	groups := map[string]*group{}
	var order []string
	var out []queue.Result
	for _, j := range jobs {
		domain := recipientDomain(m.Env.Recipients[j.Index].Addr)
		name, rt := r.hopFor(domain, j.Via)
		if j.Server != "" {
			var ok bool
			if name, rt, ok = r.serverHop(j.Server); !ok {
				out = append(out, queue.Result{Index: j.Index, State: queue.Pending, Hop: j.Server,
					Reply: reply.New(451, "4.3.0", "organization server %s is not in the directory", j.Server)})
				continue
			}
		}
		key := name + journalKey(m, j.Index) // journal.go
		if j.Replica {
			key = replicaKey(name, j.Index) // replica.go
		}
		g, ok := groups[key]
		if !ok {
			g = &group{rt: rt, dest: domain, hop: name}
			groups[key] = g
			order = append(order, key)
		}
		g.idx = append(g.idx, j.Index)
	}
	for _, key := range order {
		g := groups[key]
		start := time.Now()
		res := r.deliverHop(ctx, m, g.hop, g.dest, g.rt, g.idx)
		r.Metrics.Attempt(metrics.KindRemote, time.Since(start), res)
		out = append(out, res...)
	}
	return out
}

// recipientDomain is the domain of an address, after its last '@'.
func recipientDomain(addr string) string { return addr[strings.LastIndexByte(addr, '@')+1:] }

func results(idx []int, st queue.State, r reply.Reply, hop string) []queue.Result {
	out := make([]queue.Result, 0, len(idx))
	for _, i := range idx {
		out = append(out, queue.Result{Index: i, State: st, Reply: r, Hop: hop})
	}
	return out
}

// deliverHop tries the hop's hosts in order until every recipient has a
// final answer, every host has failed, or a host is this server itself
// (deliver/loop.go).
func (r *Remote) deliverHop(ctx context.Context, m *queue.Message, hop, domain string, rt Route, idx []int) []queue.Result {
	if r.Hops.Suspended(hop) {
		return results(idx, queue.Pending, reply.New(451, "4.4.0", "delivery queue %s is suspended by the administrator", hop), hop)
	}
	targets, err := r.targets(ctx, domain, rt)
	if err != nil {
		var res []queue.Result
		switch {
		case errors.Is(err, ErrNullMX):
			// RFC 7505 §3: a null MX means the domain takes no mail.
			res = results(idx, queue.Failed, reply.New(550, "5.1.10", "domain %s accepts no mail (null MX, RFC 7505)", domain), hop)
		case errors.Is(err, ErrNoDomain):
			res = results(idx, queue.Failed, reply.New(550, "5.1.2", "domain %s has no mail server (no MX, A or AAAA record)", domain), hop)
		default:
			why := reply.New(451, "4.4.3", "DNS lookup for %s failed: %v", domain, err)
			r.Hops.Record(hop, why.String(), time.Now())
			return results(idx, queue.Pending, why, hop)
		}
		r.Hops.Record(hop, "", time.Now())
		return res
	}
	release := r.acquire(ctx, hop)
	defer release()

	remaining := append([]int(nil), idx...)
	var out []queue.Result
	first := "" // the primary target's answer, for KB979174's last error
	var self *selfHop
hosts:
	for _, t := range targets {
		for _, addr := range t.Addrs {
			if len(remaining) == 0 || ctx.Err() != nil {
				break hosts
			}
			done, left, why, loop := r.tryHost(ctx, m, hop, t.Host, addr, rt, remaining)
			out = append(out, done...)
			remaining = left
			if first == "" && why != "" {
				first = why
			}
			if loop != "" {
				// The hosts after this one are no better than this
				// server: they would only send the mail back here.
				self = &selfHop{host: t.Host, addr: addr, reason: loop, best: t.Pref <= targets[0].Pref}
				break hosts
			}
		}
	}
	if len(remaining) == 0 {
		r.Hops.Record(hop, "", time.Now())
		return out
	}
	if self != nil && self.best {
		// The smart host, or the best MX host, is this server:
		// Postfix's "mail for <domain> loops back to myself". No retry
		// can help; the sender is told. A smart host carries several
		// domains: each recipient's reply names its own.
		var domains []string
		for _, i := range remaining {
			d := recipientDomain(m.Env.Recipients[i].Addr)
			why := reply.New(554, "5.4.6", "mail for %s loops back to myself: %s [%s] %s", d, self.host, self.addr, self.reason)
			out = append(out, queue.Result{Index: i, State: queue.Failed, Reply: why, Hop: hop})
			if !slices.Contains(domains, d) {
				domains = append(domains, d)
			}
		}
		r.Events.Emit(events.MailLoopsBack, "domain", strings.Join(domains, ", "), "host", self.host, "addr", self.addr,
			"hop", hop, "reason", self.reason, "queue_id", m.Env.ID, "message_id", m.MessageID(), "recipients", len(remaining))
		r.Hops.Record(hop, "", time.Now())
		return out
	}
	// Otherwise every host failed, or this server is a backup MX of the
	// domain (RFC 5321 §5.1) and the better MX hosts failed: the mail
	// waits for them.
	why := lastError(first)
	r.Hops.Record(hop, why.String(), time.Now())
	return append(out, results(remaining, queue.Pending, why, hop)...)
}

// lastError is KB979174's queue-viewer text: the primary target's reply
// (or connection error), then the failover verdict.
func lastError(first string) reply.Reply {
	if first == "" {
		first = "no address could be tried"
	}
	// The reply is quoted as KB979174 shows it, not Go-escaped; control
	// characters from a hostile server are replaced.
	first = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.TrimSuffix(strings.TrimSpace(first), "."))
	return reply.New(451, "4.4.0", "Primary target IP address responded with: \"%s.\" Attempted failover to alternate host, "+
		"but that did not succeed. Either there are no alternate hosts, or delivery failed to all alternate hosts.", first)
}

// tryHost delivers the remaining recipients through one address. It
// returns final results, the recipients still to try elsewhere, why this
// host did not take them ("" if it did), and, when the host is this
// server itself, how that was seen (nothing is sent to it then).
func (r *Remote) tryHost(ctx context.Context, m *queue.Message, hop, host, addr string, rt Route, idx []int) (done []queue.Result, left []int, why, loop string) {
	if loop := r.selfAddress(addr); loop != "" {
		return nil, idx, "", loop
	}
	c, err := r.conn(ctx, host, addr, rt.TLS)
	if err != nil {
		var re *smtpclient.ReplyError
		if errors.As(err, &re) {
			return nil, idx, re.Reply.String(), ""
		}
		return nil, idx, err.Error(), ""
	}
	if loop := r.selfName(c); loop != "" {
		c.Quit()
		return nil, idx, "", loop
	}
	from, size, body, open := payload(m, idx) // the message, or a journal report (journal.go)
	env := smtpclient.Envelope{From: from, EightBit: body == "8BITMIME", SMTPUTF8: m.Env.SMTPUTF8, Size: size}
	if !isReport(m, idx) {
		// RFC 3461's ENVID and RET belong to the original; a journal
		// report is a message of its own, whatever its sender.
		env.EnvID, env.Ret = m.Env.EnvID, m.Env.Ret
	}
	peer, isOrg := rt.Server, rt.Server != nil
	if !isOrg {
		peer, isOrg = r.orgPeer(host, addr)
	}
	replica := isReplication(m, idx)
	if isOrg {
		// Mail between servers of the organization requires
		// authentication. A peer that does not offer X-EXPS to us, or
		// refuses it with 504 (it does not know our EHLO name: KB843106),
		// still gets the message,
		// loudly (7006, then 7004 when XEXCH50 is refused); one whose
		// X-EXPS fails keeps it queued (KB979174: 454 4.7.0 is temporary).
		_, _, err := r.orgAuth(ctx, c, peer)
		if notTrusted := errors.Is(err, ErrOrgAuthNotOffered) || errors.Is(err, ErrEHLONotTrusted); notTrusted && !replica {
			r.Events.Emit(events.OrgAuthTrouble, "remote", host, "error", err)
		} else if err != nil {
			c.Close()
			r.Events.Emit(events.OrgAuthTrouble, "remote", host, "error", err)
			return nil, idx, err.Error(), ""
		}
	}
	if _, offered := c.Extensions()["XEXCH50"]; offered && (isOrg || !r.SuppressExternal) {
		env.XEXCH50 = r.props(m, idx)
	}
	if replica {
		if why := r.replicationPrecheck(m, idx, host, isOrg, env.XEXCH50); why != "" {
			r.cache.put(addr, c)
			return nil, idx, why, ""
		}
		env.RequireXEXCH50 = true
	}
	for _, i := range idx {
		rc := m.Env.Recipients[i]
		env.Recipients = append(env.Recipients, smtpclient.Rcpt{Addr: rc.Addr, Notify: rc.Notify, ORCPT: rc.ORCPT})
	}
	content, err := open()
	if err != nil {
		r.cache.put(addr, c)
		return nil, idx, "local error reading the queued message: " + err.Error(), ""
	}
	res, err := c.Send(ctx, env, content)
	content.Close()
	if err != nil {
		c.Close()
		return nil, idx, err.Error(), ""
	}
	r.cache.put(addr, c)
	if replica && res.XEXCH50.Code != 250 && res.Data.Code == 0 {
		// Held, never sent without its properties (replica.go).
		return nil, idx, r.replicationHeld(m, idx, host, res), ""
	}
	if res.Data.Code/100 == 2 && named(m, idx) {
		replicaSentHold()
	}
	if env.XEXCH50 != nil && res.XEXCH50.Code != 0 && res.XEXCH50.Code != 250 {
		// Delivery goes on without the properties (KB843106); the
		// events say why, at diagnostic level medium.
		r.Events.Emit(events.XEXCH50Protocol, "remote", host, "reply", res.XEXCH50.String())
		r.Events.Emit(events.XEXCH50Failed, "queue_id", m.Env.ID, "message_id", m.MessageID(), "remote", host, "reply", res.XEXCH50.String())
	}
	mta := host
	var out []queue.Result
	for k, i := range idx {
		rr := res.Rcpts[k]
		switch {
		case rr.Code/100 == 5:
			out = append(out, queue.Result{Index: i, State: queue.Failed, Reply: rr, RemoteMTA: mta, Hop: hop})
		case rr.Code/100 == 4 || rr.Code == 0:
			left = append(left, i)
			if why == "" {
				why = rr.String()
			}
		case res.Data.Code/100 == 2:
			_, dsn := c.Extensions()["DSN"]
			done := reply.New(res.Data.Code, res.Data.EnhancedStatus(), "relayed to %s [%s]: %s", host, addr, res.Data.String())
			out = append(out, queue.Result{Index: i, State: queue.Delivered, Reply: done, RemoteMTA: mta, Hop: hop,
				NotifyPassed: dsn})
		case res.Data.Code/100 == 5:
			out = append(out, queue.Result{Index: i, State: queue.Failed, Reply: res.Data, RemoteMTA: mta, Hop: hop})
		default:
			left = append(left, i)
			if why == "" {
				why = res.Data.String()
			}
		}
	}
	return out, left, why, ""
}

// targets lists where a hop's mail goes: the smart host's addresses, or
// the domain's MX hosts in preference order (RFC 5321 §5.1).
func (r *Remote) targets(ctx context.Context, domain string, rt Route) ([]Target, error) {
	if rt.SmartHost == "" {
		return ResolveDomain(ctx, r.Resolver, domain, r.Port)
	}
	host, port, err := net.SplitHostPort(rt.SmartHost)
	if err != nil {
		host, port = rt.SmartHost, "25"
	}
	host = strings.Trim(host, "[]")
	if ip, err := netip.ParseAddr(host); err == nil {
		return []Target{{Host: host, Addrs: []string{net.JoinHostPort(ip.String(), port)}}}, nil
	}
	ips, err := r.Resolver.LookupIPAddr(ctx, host+".")
	if err != nil {
		return nil, fmt.Errorf("smart host %s: %w", host, err)
	}
	t := Target{Host: host}
	for _, ip := range ips {
		t.Addrs = append(t.Addrs, net.JoinHostPort(ip.String(), port))
	}
	return []Target{t}, nil
}

// conn returns a cached session to addr or dials one. Opportunistic TLS
// whose handshake fails is retried once in clear (RFC 7435 §5).
func (r *Remote) conn(ctx context.Context, host, addr string, tls smtpclient.TLSPolicy) (*smtpclient.Conn, error) {
	if c := r.cache.get(addr); c != nil {
		if c.Reset(ctx) == nil {
			return c, nil
		}
		c.Close()
	}
	o := smtpclient.ClientOptions{HeloName: r.HeloName, TLS: tls, Timeouts: r.Timeouts, Dialer: r.Dialer, NoChunking: r.NoChunking,
		ProtocolLog: r.ProtocolLog}
	c, err := smtpclient.Dial(ctx, addr, host, o)
	if err != nil && tls == smtpclient.TLSOpportunistic && errors.Is(err, smtpclient.ErrTLSHandshake) {
		o.TLS = smtpclient.TLSNone
		c, err = smtpclient.Dial(ctx, addr, host, o)
	}
	return c, err
}

// acquire takes one of the hop's connection slots (max_per_destination).
func (r *Remote) acquire(ctx context.Context, hop string) func() {
	r.mu.Lock()
	if r.slots == nil {
		r.slots = map[string]chan struct{}{}
	}
	if r.MaxPerDestination <= 0 {
		r.mu.Unlock()
		return func() {} // no bound
	}
	s, ok := r.slots[hop]
	if !ok {
		s = make(chan struct{}, r.MaxPerDestination)
		r.slots[hop] = s
	}
	r.mu.Unlock()
	select {
	case s <- struct{}{}:
		return func() { <-s }
	case <-ctx.Done():
		return func() {}
	}
}

// Close ends every cached session.
func (r *Remote) Close() { r.cache.closeAll() }

// ParseTLSPolicy maps the configuration word.
func ParseTLSPolicy(s string) smtpclient.TLSPolicy {
	switch s {
	case "required":
		return smtpclient.TLSRequired
	case "none":
		return smtpclient.TLSNone
	}
	return smtpclient.TLSOpportunistic
}
