// Package smtp is mailward's SMTP receive side: one Server per virtual
// server (virtual server), one session per connection, a verb table for the
// commands (RFC 5321, 3207, 4954, 1870, 6152, 2034, 6531, 3461).
//
// The verb table is ours rather than a library's because the organization
// verbs of KB843106 (XEXCH50, X-EXPS) must be added to it, and the Go SMTP
// server libraries take no custom verbs (emersion/go-smtp's parser refuses
// verbs longer than four letters, and its EHLO keywords are fixed).
package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"mailward/events"
	"mailward/metrics"
	"mailward/orgauth"
	"mailward/policy"
	"mailward/protolog"
	"mailward/queue"
	"mailward/reply"
)

// MessageWriter receives one message's content; see queue.Writer.
type MessageWriter interface {
	io.Writer
	ID() string
	Commit() error
	Abort()
}

// Spool opens queue files. queue.Queue satisfies it through QueueSpool.
type Spool interface {
	Create(env *queue.Envelope) (MessageWriter, error)
}

// QueueSpool adapts a *queue.Queue to Spool.
type QueueSpool struct{ Q *queue.Queue }

// Create implements Spool.
func (s QueueSpool) Create(env *queue.Envelope) (MessageWriter, error) { return s.Q.Create(env) }

// Authenticator checks a login (directory.Directory satisfies it).
type Authenticator interface {
	Authenticate(user, password string) (bool, error)
}

// Options wire a Server to the rest of mailward.
type Options struct {
	Settings Settings
	Policy   *policy.Policy
	Auth     Authenticator
	Spool    Spool
	Events   *events.Log
	Logger   *slog.Logger
	// TLS is nil when the virtual server offers no TLS.
	TLS *tls.Config
	// Sleep waits for tarpits and auth delays; replaceable in tests.
	Sleep func(ctx context.Context, d time.Duration)
	// AuthGuard remembers failed logins across sessions; share one
	// between the virtual servers of a server. Nil: this virtual server keeps its
	// own, which never locks out.
	AuthGuard *AuthGuard
	// Org, when set, lets organization servers authenticate with X-EXPS
	// and pass properties with XEXCH50 (virtual server org_auth).
	Org Org
	// GSSAPI verifies the Kerberos tickets of organization servers
	// (X-EXPS GSSAPI, AUTH GSSAPI); nil when organization.keytab is not
	// set, and GSSAPI then answers 454 (event 1035, NoKeytab).
	GSSAPI *orgauth.Acceptor
	// Folders answers X-MWFOLDER (folderquery.go); nil: not available.
	Folders FolderCounter
	// ProtocolLog, when set, gets every command and reply of this
	// virtual server's sessions, secrets and message data left out
	// (protolog; docs/protocol-log.md).
	ProtocolLog *protolog.Log
	// Metrics counts sessions, messages and logins (docs/metrics.md);
	// nil: nothing is counted.
	Metrics *metrics.Recorder
}

// Server is one virtual server.
type Server struct {
	// cur is what a new session takes at connect: the options of the
	// last Update (reload.go).
	cur   atomic.Pointer[current]
	ev    *events.Log
	log   *slog.Logger
	verbs map[string]verbFunc
	// retired: Retire closed the listener; the sessions finish on their
	// own (reload.go).
	retired atomic.Bool

	mu    sync.Mutex
	total int
	// active mirrors total for idle(), which every read asks.
	active   atomic.Int64
	perIP    map[netip.Addr]int
	sessions map[net.Conn]*session
	wg       sync.WaitGroup
	ln       net.Listener
	ctx      context.Context
}

// New builds a virtual server; Serve runs it.
func New(opt Options) *Server {
	cur := newCurrent(opt, nil)
	s := &Server{
		ev: cur.opt.Events, log: cur.log, perIP: map[netip.Addr]int{},
		sessions: map[net.Conn]*session{},
	}
	s.cur.Store(cur)
	s.verbs = defaultVerbs()
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Serve accepts connections on ln until ctx is done, then ends the
// sessions waiting for a command with 421 (drain) and waits up to grace
// for those receiving a message before closing them. After Retire (a
// reload removed the virtual server) it stops accepting and returns when
// the sessions have ended on their own (reload.go).
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	s.mu.Lock()
	s.ln, s.ctx = ln, ctx
	if s.retired.Load() { // Retire came first
		ln.Close()
	}
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	var err error
	var backoff time.Duration
	for {
		var c net.Conn
		c, err = ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				err = nil
				break
			}
			// EMFILE, ENFILE, ECONNABORTED...: a busy or short-of-
			// descriptors moment must not take the port down for good.
			s.log.Error("smtp: accept failed, retrying", "err", err)
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			sleepCtx(ctx, backoff)
			continue
		}
		backoff = 0
		s.admit(ctx, c)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	if s.retired.Load() && s.waitRetired(ctx, done) {
		return err
	}
	s.mu.Lock()
	for _, sess := range s.sessions {
		sess.drain()
	}
	s.mu.Unlock()
	select {
	case <-done:
	case <-time.After(grace):
		s.mu.Lock()
		for c := range s.sessions {
			c.Close()
		}
		s.mu.Unlock()
		<-done
	}
	return err
}

// admit applies the connection limits, then runs a session.
func (s *Server) admit(ctx context.Context, c net.Conn) {
	ip := remoteIP(c)
	cur := s.cur.Load()
	l, m := &cur.opt.Settings, cur.opt.Metrics
	s.mu.Lock()
	limit, max := "", 0
	switch {
	case s.total >= l.MaxConnections:
		limit, max = "total connections", l.MaxConnections
	case s.perIP[ip] >= l.MaxConnectionsPerIP:
		limit, max = "connections per client address", l.MaxConnectionsPerIP
	}
	if limit != "" {
		s.mu.Unlock()
		s.ev.Emit(events.ConnectionRefused, "ip", ip, "virtual_server", l.Name, "limit", limit, "max", max)
		reason := metrics.RefusedMaxConnections
		if limit == "connections per client address" {
			reason = metrics.RefusedMaxConnectionsPerIP
		}
		m.SessionRefused(l.Name, reason)
		// RFC 5321 §3.8: a server may refuse with 421 at greeting.
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		c.Write(reply.New(421, "4.7.0", "%s Too many connections (%s), try again later", l.FQDN, limit).Wire())
		c.Close()
		return
	}
	s.total++
	s.active.Add(1)
	s.perIP[ip]++
	sess := newSession(ctx, s, cur, c, ip)
	s.sessions[c] = sess
	s.wg.Add(1)
	s.mu.Unlock()
	m.SessionOpened(l.Name)
	go func() {
		defer m.SessionClosed(l.Name)
		defer func() {
			s.mu.Lock()
			s.total--
			s.active.Add(-1)
			if s.perIP[ip]--; s.perIP[ip] <= 0 {
				delete(s.perIP, ip)
			}
			delete(s.sessions, c)
			s.mu.Unlock()
			s.wg.Done()
		}()
		sess.run()
	}()
}

// idle is the time a client gets for each command line: IdleTimeout, or
// StressIdleTimeout while the virtual server holds 80% or more of its
// connections. Under a flood of slow clients (slowloris) the slots then
// free themselves in seconds, as Postfix's stress-dependent smtpd_timeout
// (10s instead of 300s) does, while a quiet server stays patient with
// slow legitimate peers.
func (s *session) idle() time.Duration {
	l := s.l
	if l.StressIdleTimeout > 0 && l.StressIdleTimeout < l.IdleTimeout && l.MaxConnections > 0 &&
		s.srv.active.Load()*5 >= int64(l.MaxConnections)*4 {
		return l.StressIdleTimeout
	}
	return l.IdleTimeout
}

func remoteIP(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// authDelay is how long to wait before answering a failed login that is
// the n-th failure of its client address or account: it doubles with
// each, up to 30 times the virtual server's auth_failure_delay.
func (s *session) authDelay(n int) time.Duration {
	base := s.l.AuthFailureDelay
	d := base
	for i := 1; i < n && d < 30*base; i++ {
		d *= 2
	}
	return min(d, 30*base)
}
