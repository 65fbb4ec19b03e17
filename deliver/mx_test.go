package deliver

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"mailward/internal/testdns"
)

func dnsFixture(t *testing.T) (*testdns.Server, Resolver) {
	t.Helper()
	s, err := testdns.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, NewResolver(s.Addr)
}

func resolveCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func hosts(ts []Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Host)
	}
	return out
}

func TestResolveMXOrderAndAddresses(t *testing.T) {
	s, r := dnsFixture(t)
	s.SetMX("example.test", testdns.MX{Pref: 20, Host: "backup.example.test"}, testdns.MX{Pref: 10, Host: "mx1.example.test"})
	s.SetA("mx1.example.test", "127.0.0.11", "::1")
	s.SetA("backup.example.test", "127.0.0.12")

	ts, err := ResolveDomain(resolveCtx(t), r, "Example.Test", 2525)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hosts(ts), []string{"mx1.example.test", "backup.example.test"}; !slices.Equal(got, want) {
		t.Fatalf("hosts %v, want %v", got, want)
	}
	if ts[0].Pref != 10 || ts[1].Pref != 20 {
		t.Errorf("prefs %d, %d", ts[0].Pref, ts[1].Pref)
	}
	a := slices.Clone(ts[0].Addrs)
	slices.Sort(a)
	if want := []string{"127.0.0.11:2525", "[::1]:2525"}; !slices.Equal(a, want) {
		t.Errorf("mx1 addresses %v, want %v (IPv4 and IPv6, with the port)", a, want)
	}
	if want := []string{"127.0.0.12:2525"}; !slices.Equal(ts[1].Addrs, want) {
		t.Errorf("backup addresses %v, want %v", ts[1].Addrs, want)
	}
}

func TestResolveEqualPreferenceShuffled(t *testing.T) {
	s, r := dnsFixture(t)
	s.SetMX("example.test",
		testdns.MX{Pref: 10, Host: "a.example.test"}, testdns.MX{Pref: 10, Host: "b.example.test"},
		testdns.MX{Pref: 5, Host: "first.example.test"}, testdns.MX{Pref: 30, Host: "last.example.test"})
	for _, h := range []string{"a", "b", "first", "last"} {
		s.SetA(h+".example.test", "127.0.0.1")
	}
	seen := map[string]bool{}
	for i := 0; i < 64 && len(seen) < 2; i++ {
		ts, err := ResolveDomain(resolveCtx(t), r, "example.test", 25)
		if err != nil {
			t.Fatal(err)
		}
		h := hosts(ts)
		if len(h) != 4 || h[0] != "first.example.test" || h[3] != "last.example.test" {
			t.Fatalf("order %v breaks preference", h)
		}
		seen[h[1]] = true
	}
	if len(seen) != 2 {
		t.Errorf("equal-preference hosts always in the same order (%v) in 64 tries", seen)
	}
}

func TestResolveImplicitMX(t *testing.T) {
	s, r := dnsFixture(t)
	s.SetA("plain.test", "127.0.0.21", "::1")
	ts, err := ResolveDomain(resolveCtx(t), r, "plain.test.", 25)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 || ts[0].Host != "plain.test" || ts[0].Pref != 0 || len(ts[0].Addrs) != 2 {
		t.Errorf("implicit MX: %+v", ts)
	}
}

func TestResolveNullMX(t *testing.T) {
	s, r := dnsFixture(t)
	s.SetMX("nomail.test", testdns.MX{Pref: 0, Host: "."})
	s.SetA("nomail.test", "127.0.0.1") // must not become an implicit MX
	_, err := ResolveDomain(resolveCtx(t), r, "nomail.test", 25)
	if !errors.Is(err, ErrNullMX) || IsTemporary(err) {
		t.Errorf("null MX: %v (temporary %v), want ErrNullMX, permanent", err, IsTemporary(err))
	}
}

func TestResolveNoDomain(t *testing.T) {
	s, r := dnsFixture(t)
	_, err := ResolveDomain(resolveCtx(t), r, "nowhere.test", 25)
	if !errors.Is(err, ErrNoDomain) || IsTemporary(err) {
		t.Errorf("NXDOMAIN: %v (temporary %v), want ErrNoDomain, permanent", err, IsTemporary(err))
	}
	// The name exists but has neither MX nor addresses.
	s.SetTXT("txtonly.test", "hello")
	_, err = ResolveDomain(resolveCtx(t), r, "txtonly.test", 25)
	if !errors.Is(err, ErrNoDomain) || IsTemporary(err) {
		t.Errorf("no MX, no address: %v, want ErrNoDomain", err)
	}
}

func TestResolveServFailIsTemporary(t *testing.T) {
	s, r := dnsFixture(t)
	s.SetMX("flaky.test", testdns.MX{Pref: 10, Host: "mx.flaky.test"})
	s.SetA("flaky.test", "127.0.0.1") // a SERVFAIL on MX must not fall back to this
	s.SetA("mx.flaky.test", "127.0.0.2")
	s.SetServFail("flaky.test", true)
	ts, err := ResolveDomain(resolveCtx(t), r, "flaky.test", 25)
	if err == nil || !IsTemporary(err) || !strings.Contains(err.Error(), "MX lookup") {
		t.Fatalf("SERVFAIL: %+v, %v; want a temporary error from the MX lookup", ts, err)
	}
	s.SetServFail("flaky.test", false)
	ts, err = ResolveDomain(resolveCtx(t), r, "flaky.test", 25)
	if err != nil || ts[0].Host != "mx.flaky.test" {
		t.Errorf("after recovery: %+v, %v", ts, err)
	}
}

// TestResolveTimeoutIsTemporary asks a server that never answers.
func TestResolveTimeoutIsTemporary(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, err = ResolveDomain(ctx, NewResolver(pc.LocalAddr().String()), "silent.test", 25)
	if err == nil || !IsTemporary(err) {
		t.Errorf("silent server: %v, want a temporary error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v despite a 1s context", d)
	}
}

func TestResolveMXHostsWithoutAddresses(t *testing.T) {
	s, r := dnsFixture(t)
	s.SetMX("example.test",
		testdns.MX{Pref: 10, Host: "gone.example.test"},   // NXDOMAIN
		testdns.MX{Pref: 20, Host: "broken.example.test"}, // SERVFAIL
		testdns.MX{Pref: 30, Host: "ok.example.test"})
	s.SetServFail("broken.example.test", true)
	s.SetA("ok.example.test", "127.0.0.31")
	ts, err := ResolveDomain(resolveCtx(t), r, "example.test", 25)
	if err != nil {
		t.Fatal(err)
	}
	if got := hosts(ts); !slices.Equal(got, []string{"ok.example.test"}) {
		t.Errorf("hosts %v, want only ok.example.test", got)
	}

	s.Remove("ok.example.test")
	_, err = ResolveDomain(resolveCtx(t), r, "example.test", 25)
	if err == nil || !IsTemporary(err) {
		t.Errorf("no MX host with an address: %v, want a temporary error", err)
	}
}

func TestResolveAddressLiteral(t *testing.T) {
	ts, err := ResolveDomain(resolveCtx(t), NewResolver("127.0.0.1:1"), "[127.0.0.5]", 25)
	if err != nil || len(ts) != 1 || !slices.Equal(ts[0].Addrs, []string{"127.0.0.5:25"}) {
		t.Errorf("IPv4 literal: %+v, %v", ts, err)
	}
	ts, err = ResolveDomain(resolveCtx(t), NewResolver("127.0.0.1:1"), "[IPv6:::1]", 25)
	if err != nil || len(ts) != 1 || !slices.Equal(ts[0].Addrs, []string{"[::1]:25"}) {
		t.Errorf("IPv6 literal: %+v, %v", ts, err)
	}
}

func TestIsTemporary(t *testing.T) {
	if IsTemporary(nil) {
		t.Error("nil is temporary")
	}
	if !IsTemporary(errors.New("anything else")) || !IsTemporary(context.DeadlineExceeded) {
		t.Error("unknown errors must be temporary: DNS trouble never bounces mail")
	}
	if NewResolver("") != net.DefaultResolver {
		t.Error(`NewResolver("") is not the system resolver`)
	}
}
