package testdns

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func start(t *testing.T) (*Server, *net.Resolver) {
	t.Helper()
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, resolverFor(s.Addr, false)
}

// resolverFor returns a stdlib resolver that asks only addr, over TCP
// if tcp is set.
func resolverFor(addr string, tcp bool) *net.Resolver {
	d := &net.Dialer{Timeout: 2 * time.Second}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		if tcp {
			network = "tcp"
		}
		return d.DialContext(ctx, network, addr)
	}}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func dnsErr(t *testing.T, err error) *net.DNSError {
	t.Helper()
	var de *net.DNSError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *net.DNSError", err, err)
	}
	return de
}

func TestRecords(t *testing.T) {
	s, r := start(t)
	s.SetMX("Example.TEST", MX{10, "mx1.example.test"}, MX{20, "MX2.example.test."})
	s.SetA("mx1.example.test", "127.0.0.2", "::1")
	s.SetTXT("example.test", "v=spf1 -all", strings.Repeat("x", 300), `back\slash`)

	mxs, err := r.LookupMX(ctx(t), "example.test.")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mx := range mxs {
		got = append(got, strings.ToLower(mx.Host)) // DNS keeps the case given
	}
	slices.Sort(got)
	if want := []string{"mx1.example.test.", "mx2.example.test."}; !slices.Equal(got, want) {
		t.Errorf("MX hosts %v, want %v", got, want)
	}

	ips, err := r.LookupIPAddr(ctx(t), "MX1.Example.Test.")
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, ip := range ips {
		addrs = append(addrs, ip.String())
	}
	slices.Sort(addrs)
	if want := []string{"127.0.0.2", "::1"}; !slices.Equal(addrs, want) {
		t.Errorf("addresses %v, want %v", addrs, want)
	}

	txt, err := r.LookupTXT(ctx(t), "example.test.")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(txt)
	if want := []string{"back\\slash", "v=spf1 -all", strings.Repeat("x", 300)}; !slices.Equal(txt, want) {
		t.Errorf("TXT %q, want %q", txt, want)
	}
}

func TestNXDOMAINAndNoData(t *testing.T) {
	s, r := start(t)
	s.SetA("host.example.test", "127.0.0.3")

	// Unknown name: NXDOMAIN, which the stdlib reports as not found.
	_, err := r.LookupMX(ctx(t), "nowhere.example.test.")
	if de := dnsErr(t, err); !de.IsNotFound || de.IsTemporary {
		t.Errorf("unknown name: %+v, want IsNotFound", de)
	}
	// Known name, no MX: NOERROR with an empty answer (also "not found"
	// for the stdlib, but not a lame referral or a server error).
	_, err = r.LookupMX(ctx(t), "host.example.test.")
	if de := dnsErr(t, err); !de.IsNotFound || de.IsTemporary {
		t.Errorf("no MX: %+v, want IsNotFound", de)
	}

	s.Remove("HOST.example.test")
	_, err = r.LookupIPAddr(ctx(t), "host.example.test.")
	if de := dnsErr(t, err); !de.IsNotFound {
		t.Errorf("removed name: %+v, want IsNotFound", de)
	}
}

func TestServFail(t *testing.T) {
	s, r := start(t)
	s.SetMX("example.test", MX{10, "mx.example.test"})
	s.SetServFail("example.test", true)
	_, err := r.LookupMX(ctx(t), "example.test.")
	if de := dnsErr(t, err); !de.IsTemporary || de.IsNotFound {
		t.Errorf("SERVFAIL: %+v, want IsTemporary", de)
	}
	s.SetServFail("example.test", false)
	if _, err := r.LookupMX(ctx(t), "example.test."); err != nil {
		t.Errorf("after SERVFAIL off: %v", err)
	}
	// Turning SERVFAIL off does not make a name exist.
	s.SetServFail("other.example.test", true)
	s.SetServFail("other.example.test", false)
	_, err = r.LookupMX(ctx(t), "other.example.test.")
	if de := dnsErr(t, err); !de.IsNotFound {
		t.Errorf("never-set name: %+v, want IsNotFound", de)
	}
}

func TestNullMX(t *testing.T) {
	s, r := start(t)
	s.SetMX("nomail.test", MX{0, "."})
	mxs, err := r.LookupMX(ctx(t), "nomail.test.")
	if err != nil {
		t.Fatal(err)
	}
	if len(mxs) != 1 || mxs[0].Host != "." || mxs[0].Pref != 0 {
		t.Errorf("null MX read back as %+v", mxs)
	}
}

// TestTCPAndTruncation: an answer too big for plain UDP is truncated,
// and the resolver gets it whole over TCP.
func TestTCPAndTruncation(t *testing.T) {
	s, r := start(t)
	var ips []string
	for i := 1; i <= 60; i++ {
		ips = append(ips, net.IPv4(127, 0, 1, byte(i)).String())
	}
	s.SetA("many.example.test", ips...)
	got, err := r.LookupIPAddr(ctx(t), "many.example.test.")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 60 {
		t.Errorf("got %d addresses over UDP/TCP, want 60", len(got))
	}
	got, err = resolverFor(s.Addr, true).LookupIPAddr(ctx(t), "many.example.test.")
	if err != nil || len(got) != 60 {
		t.Errorf("TCP only: %d addresses, %v", len(got), err)
	}
}

// TestConcurrentChanges runs lookups while records change (run with
// -race to see the locking hold).
func TestConcurrentChanges(t *testing.T) {
	s, r := start(t)
	s.SetA("flip.example.test", "127.0.0.1")
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Go(func() {
			for i := 0; i < 50; i++ {
				_, err := r.LookupIPAddr(ctx(t), "flip.example.test.")
				if err != nil {
					var de *net.DNSError
					if !errors.As(err, &de) || !de.IsNotFound {
						t.Errorf("lookup: %v", err)
						return
					}
				}
			}
		})
	}
	for i := 0; i < 100; i++ {
		if i%2 == 0 {
			s.Remove("flip.example.test")
		} else {
			s.SetA("flip.example.test", "127.0.0.1", "::1")
		}
	}
	wg.Wait()
}

func TestCloseStopsServing(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr
	s.Close()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("TCP still accepting on %s after Close", addr)
	}
}
