package filter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// Answer is a DNS answer to an A query, with how long it may be kept.
type Answer struct {
	// Addrs are the A records; none for a negative answer (NXDOMAIN or
	// no A record).
	Addrs []netip.Addr
	// TTL is the smallest TTL of the records (positive answers), or the
	// negative caching time of the zone's SOA (RFC 2308 §5: the smaller
	// of the SOA's TTL and its MINIMUM field); HasTTL is false for a
	// negative answer without SOA.
	TTL    time.Duration
	HasTTL bool
}

// Resolver answers A queries (DNSResolver; tests may use their own).
type Resolver interface {
	LookupA(ctx context.Context, name string) (Answer, error)
}

// DNSResolver asks one DNS server directly with miekg/dns, as routing's
// test servers do: block lists need the TTLs and the SOA of negative
// answers, which the Go resolver does not return.
type DNSResolver struct {
	// Server is "ip:port"; empty: the first nameserver of
	// /etc/resolv.conf, port 53.
	Server string
}

// NewDNSResolver is the resolver of [dns] server.
func NewDNSResolver(server string) *DNSResolver { return &DNSResolver{Server: server} }

func (r *DNSResolver) server() (string, error) {
	if r.Server != "" {
		return r.Server, nil
	}
	cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return "", fmt.Errorf("no [dns] server and /etc/resolv.conf: %w", err)
	}
	if len(cc.Servers) == 0 {
		return "", errors.New("no [dns] server and no nameserver in /etc/resolv.conf")
	}
	return net.JoinHostPort(cc.Servers[0], cc.Port), nil
}

// LookupA implements Resolver. The context bounds the whole query (the
// virtual server's lookup_timeout); a truncated UDP answer is asked
// again over TCP.
func (r *DNSResolver) LookupA(ctx context.Context, name string) (Answer, error) {
	server, err := r.server()
	if err != nil {
		return Answer{}, err
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	m.RecursionDesired = true
	c := &dns.Client{Net: "udp"}
	if d, ok := ctx.Deadline(); ok {
		c.Timeout = time.Until(d)
	}
	in, _, err := c.ExchangeContext(ctx, m, server)
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, server)
	}
	if err != nil {
		return Answer{}, err
	}
	return answer(in)
}

// answer reads a reply: NOERROR with A records is positive, NXDOMAIN or
// NOERROR without them negative, any other code a failure.
func answer(in *dns.Msg) (Answer, error) {
	var a Answer
	switch in.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	default:
		return a, fmt.Errorf("DNS server answered %s", dns.RcodeToString[in.Rcode])
	}
	for _, rr := range in.Answer {
		if rec, ok := rr.(*dns.A); ok {
			if ip, ok := netip.AddrFromSlice(rec.A); ok {
				ttl := time.Duration(rec.Hdr.Ttl) * time.Second
				if !a.HasTTL || ttl < a.TTL {
					a.TTL = ttl
				}
				a.HasTTL = true
				a.Addrs = append(a.Addrs, ip.Unmap())
			}
		}
	}
	if len(a.Addrs) > 0 {
		return a, nil
	}
	for _, rr := range in.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			a.TTL = time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
			a.HasTTL = true
		}
	}
	return a, nil
}
