package filter

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"mailward/internal/testkit"
)

// DNSResolver against Debian's rbldnsd: a listed address answers its A
// record with the zone's TTL, an unlisted one NXDOMAIN with the SOA whose
// minimum is the negative TTL, and a stopped server is a failure within
// the timeout.
func TestDNSResolverAgainstRbldnsd(t *testing.T) {
	bl := testkit.StartRbldnsd(t, "bl.example.test", 120, "127.0.0.2", "127.0.0.4 :127.0.0.4:Listed, see https://bl.example.test/$")
	r := NewDNSResolver(bl.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p := Provider{Name: "testbl", Zone: "bl.example.test", Codes: []netip.Addr{addr("127.0.0.2")}}
	a, err := r.LookupA(ctx, p.QueryName(addr("127.0.0.2")))
	if err != nil || len(a.Addrs) != 1 || a.Addrs[0] != addr("127.0.0.2") || !a.HasTTL || a.TTL <= 0 {
		t.Fatalf("listed 127.0.0.2: %+v, %v; rbldnsd said: %s", a, err, bl.Output())
	}
	a, err = r.LookupA(ctx, p.QueryName(addr("127.0.0.4")))
	if err != nil || len(a.Addrs) != 1 || a.Addrs[0] != addr("127.0.0.4") || p.Counts(a.Addrs[0]) {
		t.Errorf("127.0.0.4 (listed with a code testbl does not count): %+v, %v", a, err)
	}
	a, err = r.LookupA(ctx, p.QueryName(addr("127.0.0.1")))
	if err != nil || len(a.Addrs) != 0 || !a.HasTTL || a.TTL != 120*time.Second {
		t.Errorf("unlisted 127.0.0.1: %+v, %v; want NXDOMAIN with the SOA minimum 120s", a, err)
	}
	bl.Stop()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	start := time.Now()
	if a, err := r.LookupA(ctx2, p.QueryName(addr("127.0.0.2"))); err == nil {
		t.Errorf("a stopped rbldnsd answered: %+v", a)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the failed lookup took %s, past its 300ms timeout", d)
	}
}
