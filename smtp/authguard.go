package smtp

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// AuthLimits say when failed logins lock a client address or an account
// out for a while.
type AuthLimits struct {
	// PerIP and PerAccount are the failures within Window after which the
	// client address, or the account (from any address), is locked out;
	// 0 never locks. Window 0 keeps failures until a success.
	PerIP, PerAccount int
	Window            time.Duration
	// Lockout is how long AUTH then answers 454 4.7.0 without checking
	// any password.
	Lockout time.Duration
}

// AuthGuard remembers failed logins across sessions and virtual servers, by
// client address and by account. One guessing client that opens fifty
// sessions in parallel, or fifty addresses guessing one account, are
// then slowed and stopped as if they had guessed one after another; a
// per-session count would let them all through at the first delay.
type AuthGuard struct {
	lim   AuthLimits
	now   func() time.Time
	mu    sync.Mutex
	ips   map[netip.Addr]*strikes
	accts map[string]*strikes
	// turns serializes the password checks of one client address, so
	// that a lockout is decided before the next guess is checked:
	// parallel sessions get no more guesses than sequential ones.
	turns map[netip.Addr]*turn
}

type turn struct {
	ch   chan struct{}
	refs int
}

type strikes struct {
	n           int
	first, last time.Time
	lockedUntil time.Time
}

// maxTracked bounds each map: past it, entries with nothing left to
// remember are dropped, so a distributed attack cannot grow memory
// without end.
const maxTracked = 100000

// NewAuthGuard returns a guard applying lim.
func NewAuthGuard(lim AuthLimits) *AuthGuard {
	return &AuthGuard{lim: lim, now: time.Now, ips: map[netip.Addr]*strikes{}, accts: map[string]*strikes{},
		turns: map[netip.Addr]*turn{}}
}

// Turn waits until no other password check from ip is running (or ctx
// ends) and returns the function that ends this one. Checks from one
// address are few (a bcrypt comparison each), so waiting costs a
// legitimate client nothing noticeable, and fifty parallel guesses are
// checked one after another, each seeing the lockout the ones before it
// caused.
func (g *AuthGuard) Turn(ctx context.Context, ip netip.Addr) (end func(), err error) {
	g.mu.Lock()
	t := g.turns[ip]
	if t == nil {
		t = &turn{ch: make(chan struct{}, 1)}
		g.turns[ip] = t
	}
	t.refs++
	g.mu.Unlock()
	release := func() {
		g.mu.Lock()
		if t.refs--; t.refs == 0 {
			delete(g.turns, ip)
		}
		g.mu.Unlock()
	}
	select {
	case t.ch <- struct{}{}:
		return func() { <-t.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

// Lockout is a refusal in force: what is locked and until when.
type Lockout struct {
	By    string // "client address" or "account"
	Until time.Time
	N     int // failures that caused it
}

// Locked reports whether the address, or the account when not "", is
// locked out now.
func (g *AuthGuard) Locked(ip netip.Addr, account string) (Lockout, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if s := g.ips[ip]; s != nil && now.Before(s.lockedUntil) {
		return Lockout{"client address", s.lockedUntil, s.n}, true
	}
	if account != "" {
		if s := g.accts[key(account)]; s != nil && now.Before(s.lockedUntil) {
			return Lockout{"account", s.lockedUntil, s.n}, true
		}
	}
	return Lockout{}, false
}

// Failed records a failed login and returns how many failures the
// address or the account (whichever has more) has in the window, and
// the lockout it has just started, if any.
func (g *AuthGuard) Failed(ip netip.Addr, account string) (int, *Lockout) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	n := strikeIn(g, g.ips, ip, now)
	var started *Lockout
	if s := g.ips[ip]; g.lim.PerIP > 0 && s.n >= g.lim.PerIP && !now.Before(s.lockedUntil) {
		s.lockedUntil = now.Add(g.lim.Lockout)
		started = &Lockout{"client address", s.lockedUntil, s.n}
	}
	if account != "" {
		k := key(account)
		n = max(n, strikeIn(g, g.accts, k, now))
		if s := g.accts[k]; g.lim.PerAccount > 0 && s.n >= g.lim.PerAccount && !now.Before(s.lockedUntil) && started == nil {
			s.lockedUntil = now.Add(g.lim.Lockout)
			started = &Lockout{"account", s.lockedUntil, s.n}
		}
	}
	return n, started
}

// Succeeded forgets an account's failures: its owner got it right.
// The address keeps its count, so that one valid account cannot be used
// to clear the way for guessing others.
func (g *AuthGuard) Succeeded(account string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s := g.accts[key(account)]; s != nil && !g.now().Before(s.lockedUntil) {
		delete(g.accts, key(account))
	}
}

// strikeIn counts one failure for k, starting a new window when the
// last one is over (and no lockout is in force).
func strikeIn[K comparable](g *AuthGuard, m map[K]*strikes, k K, now time.Time) int {
	s := m[k]
	if s == nil || (g.lim.Window > 0 && now.Sub(s.first) > g.lim.Window && !now.Before(s.lockedUntil)) {
		if len(m) >= maxTracked {
			prune(g, m, now)
		}
		s = &strikes{first: now}
		m[k] = s
	}
	s.n++
	s.last = now
	return s.n
}

func prune[K comparable](g *AuthGuard, m map[K]*strikes, now time.Time) {
	for k, s := range m {
		if (g.lim.Window == 0 || now.Sub(s.last) > g.lim.Window) && !now.Before(s.lockedUntil) {
			delete(m, k)
		}
	}
}

// key folds an account name: logins are case-insensitive here.
func key(account string) string { return strings.ToLower(account) }
