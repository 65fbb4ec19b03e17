package smtp

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestAuthGuardLockoutAndWindow(t *testing.T) {
	now := time.Unix(1e9, 0)
	g := NewAuthGuard(AuthLimits{PerIP: 3, PerAccount: 5, Window: 10 * time.Minute, Lockout: 5 * time.Minute})
	g.now = func() time.Time { return now }
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for i := 1; i <= 3; i++ {
		if _, locked := g.Locked(a, "alice"); locked {
			t.Fatalf("locked before failure %d", i)
		}
		n, started := g.Failed(a, "alice")
		if n != i || (started != nil) != (i == 3) {
			t.Fatalf("failure %d: count %d, started %v", i, n, started)
		}
	}
	if lo, locked := g.Locked(a, ""); !locked || lo.By != "client address" || !lo.Until.Equal(now.Add(5*time.Minute)) {
		t.Fatalf("address not locked: %+v %v", lo, locked)
	}
	if _, locked := g.Locked(b, "alice"); locked {
		t.Fatal("another address is locked for alice after 3 failures (account limit is 5)")
	}
	// Two more for alice from b: the account is locked, from anywhere.
	g.Failed(b, "alice")
	if _, started := g.Failed(b, "Alice"); started == nil || started.By != "account" {
		t.Fatalf("account lockout not started: %+v", started)
	}
	if lo, locked := g.Locked(netip.MustParseAddr("192.0.2.3"), "ALICE"); !locked || lo.By != "account" {
		t.Fatal("account not locked from a third address")
	}
	// After the lockout and the window, all is forgotten.
	now = now.Add(11 * time.Minute)
	if _, locked := g.Locked(a, "alice"); locked {
		t.Fatal("still locked after the lockout period")
	}
	if n, _ := g.Failed(a, "bob"); n != 1 {
		t.Fatalf("count after the window: %d", n)
	}
}

// A success forgets the account's failures, not the address's.
func TestAuthGuardSuccess(t *testing.T) {
	g := NewAuthGuard(AuthLimits{PerIP: 10, PerAccount: 2, Window: time.Hour, Lockout: time.Hour})
	a := netip.MustParseAddr("192.0.2.1")
	g.Failed(a, "alice")
	g.Succeeded("alice")
	if n, started := g.Failed(a, "alice"); n != 2 || started != nil {
		t.Fatalf("after a success: count %d (address keeps 2), lockout %v", n, started)
	}
}

// Turn lets one password check per address run at a time.
func TestAuthGuardTurnSerializes(t *testing.T) {
	g := NewAuthGuard(AuthLimits{})
	ip := netip.MustParseAddr("192.0.2.1")
	var running, most atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			end, err := g.Turn(context.Background(), ip)
			if err != nil {
				t.Error(err)
				return
			}
			if n := running.Add(1); n > most.Load() {
				most.Store(n)
			}
			time.Sleep(time.Millisecond)
			running.Add(-1)
			end()
		}()
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Fatalf("%d checks ran at once", most.Load())
	}
	if len(g.turns) != 0 {
		t.Fatalf("turns not released: %d", len(g.turns))
	}
	// A cancelled wait gives up its place.
	end, _ := g.Turn(context.Background(), ip)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := g.Turn(ctx, ip); err == nil {
		t.Fatal("second turn granted while the first runs")
	}
	end()
}

// Memory stays bounded under a distributed attack.
func TestAuthGuardBounded(t *testing.T) {
	now := time.Unix(1e9, 0)
	g := NewAuthGuard(AuthLimits{PerIP: 5, Window: time.Minute, Lockout: time.Minute})
	g.now = func() time.Time { return now }
	for i := range maxTracked + 10 {
		g.Failed(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), "")
		if i == maxTracked/2 {
			now = now.Add(2 * time.Minute) // the first half is stale
		}
	}
	if len(g.ips) > maxTracked {
		t.Fatalf("%d addresses tracked", len(g.ips))
	}
}
