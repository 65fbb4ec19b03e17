package filter

import (
	"context"
	"sync"
	"time"
)

// Cache bounds. A positive answer is kept for its TTL, at most MaxTTL (a
// delisted client is not refused for longer than that); a negative one
// for its SOA's negative TTL, or NegativeTTL when the answer has no SOA
// (rbldnsd without $SOA sends none), at most MaxTTL too. These are
// Postfix postscreen's bounds (postscreen_dnsbl_max_ttl 1h).
const (
	DefaultMaxTTL      = time.Hour
	DefaultNegativeTTL = 5 * time.Minute
	DefaultMaxEntries  = 100000
)

// Lookup asks block lists through a Resolver and keeps the answers for
// their TTL. One Lookup is shared by every virtual server of a server.
type Lookup struct {
	R Resolver
	// Now is the clock of the cache; time.Now when nil.
	Now                 func() time.Time
	MaxTTL, NegativeTTL time.Duration
	// MaxEntries bounds the cache's memory: a flood of clients from
	// many addresses cannot grow it past this.
	MaxEntries int

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	a       Answer
	expires time.Time
}

// NewLookup is a Lookup over r with the default bounds.
func NewLookup(r Resolver) *Lookup {
	return &Lookup{R: r, MaxTTL: DefaultMaxTTL, NegativeTTL: DefaultNegativeTTL, MaxEntries: DefaultMaxEntries}
}

func (l *Lookup) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// Cached returns the unexpired answer for name, if there is one.
func (l *Lookup) Cached(name string) (Answer, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.cache[name]
	if !ok {
		return Answer{}, false
	}
	if !l.now().Before(c.expires) {
		delete(l.cache, name)
		return Answer{}, false
	}
	return c.a, true
}

// Query answers from the cache or asks the resolver; failures are not
// cached, so the next client tries again.
func (l *Lookup) Query(ctx context.Context, name string) (Answer, error) {
	if a, ok := l.Cached(name); ok {
		return a, nil
	}
	a, err := l.R.LookupA(ctx, name)
	if err != nil {
		return a, err
	}
	l.store(name, a)
	return a, nil
}

func (l *Lookup) store(name string, a Answer) {
	ttl := a.TTL
	if !a.HasTTL {
		ttl = l.NegativeTTL
	}
	if l.MaxTTL > 0 {
		ttl = min(ttl, l.MaxTTL)
	}
	if ttl <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cache == nil {
		l.cache = map[string]cached{}
	}
	if l.MaxEntries > 0 && len(l.cache) >= l.MaxEntries {
		l.evict()
	}
	l.cache[name] = cached{a: a, expires: l.now().Add(ttl)}
}

// evict drops the expired entries, then, if that freed less than a
// tenth of the cache, arbitrary ones (Go's map order) down to 90%.
// Callers hold mu.
func (l *Lookup) evict() {
	now := l.now()
	for k, c := range l.cache {
		if !now.Before(c.expires) {
			delete(l.cache, k)
		}
	}
	for k := range l.cache {
		if len(l.cache) < l.MaxEntries*9/10 {
			break
		}
		delete(l.cache, k)
	}
}

// Len is the number of cached answers, expired ones included.
func (l *Lookup) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.cache)
}
