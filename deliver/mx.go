package deliver

// Next-hop resolution: where mail for a domain goes (RFC 5321 §5.1).

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Resolver is the part of *net.Resolver next-hop resolution needs.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// NewResolver returns a Go resolver that sends every query to server
// ("127.0.0.1:5353"), whatever /etc/resolv.conf says; "" returns the
// system resolver.
func NewResolver(server string) Resolver {
	if server == "" {
		return net.DefaultResolver
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, server)
		},
	}
}

// Target is one host to try, in order.
type Target struct {
	Host  string   // MX host name, without the trailing dot
	Addrs []string // "ip:port", in the resolver's order (RFC 6724)
	Pref  uint16   // MX preference; 0 for an implicit MX
}

var (
	// ErrNullMX: the domain says it accepts no mail (RFC 7505). Permanent.
	ErrNullMX = errors.New("domain accepts no mail (null MX, RFC 7505)")
	// ErrNoDomain: the domain does not exist, or has neither MX nor
	// address records (RFC 5321 §5.1). Permanent.
	ErrNoDomain = errors.New("domain not found (no MX or address records)")
)

// maxMXHosts bounds the work one domain can cause (address lookups run
// in parallel, one per host). No real domain comes close.
const maxMXHosts = 32

// IsTemporary reports whether a ResolveDomain error should leave the
// message queued. Everything but the two proven permanent answers is:
// DNS trouble (SERVFAIL, timeouts, refusals, garbage) must never bounce
// mail.
func IsTemporary(err error) bool {
	return err != nil && !errors.Is(err, ErrNullMX) && !errors.Is(err, ErrNoDomain)
}

// ResolveDomain finds where mail for domain goes (RFC 5321 §5.1): the MX
// hosts by preference (equal preferences shuffled, to spread load), each
// with its IPv4 and IPv6 addresses; without MX records, the domain
// itself as an implicit MX. An MX host without addresses is skipped.
// An address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]", RFC 5321
// §4.1.3) is used as it is.
func ResolveDomain(ctx context.Context, r Resolver, domain string, port int) ([]Target, error) {
	p := strconv.Itoa(port)
	if lit, ok := addressLiteral(domain); ok {
		return []Target{{Host: domain, Addrs: []string{net.JoinHostPort(lit.String(), p)}}}, nil
	}
	name := strings.TrimSuffix(domain, ".")
	if name == "" {
		return nil, fmt.Errorf("resolve %q: %w", domain, ErrNoDomain)
	}
	// Mail domains are absolute (RFC 5321 §2.3.5): the trailing dot keeps
	// the resolver's search list out of it.
	mxs, err := r.LookupMX(ctx, name+".")
	var dnsErr *net.DNSError
	switch {
	case err != nil && len(mxs) > 0:
		// Some records were malformed (the Go resolver drops them and
		// says so); the rest are usable.
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return implicitMX(ctx, r, name, p)
	case err != nil:
		return nil, fmt.Errorf("resolve %s: MX lookup: %w", name, err)
	case len(mxs) == 0:
		return implicitMX(ctx, r, name, p)
	}
	return mxTargets(ctx, r, name, p, mxs)
}

// implicitMX applies RFC 5321 §5.1's rule for a domain without MX: its
// own address records, as if it were an MX of preference 0.
func implicitMX(ctx context.Context, r Resolver, name, port string) ([]Target, error) {
	addrs, err := lookupAddrs(ctx, r, name, port)
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		// The Go resolver cannot tell NXDOMAIN from "no record of this
		// type": either way there is nowhere to deliver, for good.
		return nil, fmt.Errorf("resolve %s: %w", name, ErrNoDomain)
	}
	if err != nil {
		return nil, fmt.Errorf("resolve %s: no MX; address lookup: %w", name, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("resolve %s: %w", name, ErrNoDomain)
	}
	return []Target{{Host: name, Addrs: addrs}}, nil
}

// mxTargets orders the MX hosts and looks up their addresses.
func mxTargets(ctx context.Context, r Resolver, name, port string, mxs []*net.MX) ([]Target, error) {
	hosts := make([]*net.MX, 0, len(mxs))
	null := false
	for _, mx := range mxs {
		if mx == nil {
			continue
		}
		if mx.Host == "." || mx.Host == "" {
			// RFC 7505 §3: "." is the null MX; with other MX records
			// beside it (a misconfiguration) it is just not a host.
			null = true
			continue
		}
		hosts = append(hosts, mx)
	}
	if len(hosts) == 0 {
		if null {
			return nil, fmt.Errorf("resolve %s: %w", name, ErrNullMX)
		}
		return implicitMX(ctx, r, name, port)
	}
	// Shuffle, then a stable sort by preference: equal preferences end
	// up in random order (RFC 5321 §5.1).
	rand.Shuffle(len(hosts), func(i, j int) { hosts[i], hosts[j] = hosts[j], hosts[i] })
	slices.SortStableFunc(hosts, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	if len(hosts) > maxMXHosts {
		hosts = hosts[:maxMXHosts]
	}

	type found struct {
		addrs []string
		err   error
	}
	results := make([]found, len(hosts))
	var wg sync.WaitGroup
	for i, mx := range hosts {
		wg.Go(func() {
			a, err := lookupAddrs(ctx, r, strings.TrimSuffix(mx.Host, "."), port)
			results[i] = found{a, err}
		})
	}
	wg.Wait()

	var targets []Target
	var errs []string
	for i, mx := range hosts {
		host := strings.TrimSuffix(mx.Host, ".")
		if f := results[i]; len(f.addrs) > 0 {
			targets = append(targets, Target{Host: host, Addrs: f.addrs, Pref: mx.Pref})
		} else if f.err != nil {
			errs = append(errs, host+": "+f.err.Error())
		} else {
			errs = append(errs, host+": no addresses")
		}
	}
	if len(targets) == 0 {
		// Temporary: an MX host without addresses is usually a DNS
		// change in progress, not a reason to bounce.
		return nil, fmt.Errorf("resolve %s: no MX host has an address (%s)", name, strings.Join(errs, "; "))
	}
	return targets, nil
}

// lookupAddrs returns host's addresses as "ip:port".
func lookupAddrs(ctx context.Context, r Resolver, host, port string) ([]string, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		// An MX record holding an IP address (not allowed, but seen).
		return []string{net.JoinHostPort(ip.String(), port)}, nil
	}
	ips, err := r.LookupIPAddr(ctx, host+".")
	if err != nil && len(ips) == 0 {
		return nil, err
	}
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, net.JoinHostPort(ip.String(), port))
	}
	return out, nil
}

// addressLiteral parses "[192.0.2.1]" or "[IPv6:2001:db8::1]".
func addressLiteral(domain string) (netip.Addr, bool) {
	inner, ok := strings.CutPrefix(domain, "[")
	if !ok {
		return netip.Addr{}, false
	}
	inner, ok = strings.CutSuffix(inner, "]")
	if !ok {
		return netip.Addr{}, false
	}
	if v6, ok := cutPrefixFold(inner, "IPv6:"); ok {
		a, err := netip.ParseAddr(v6)
		return a, err == nil && a.Is6() && a.Zone() == ""
	}
	a, err := netip.ParseAddr(inner)
	return a, err == nil && a.Is4()
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}
