package durable

import (
	"sync"
	"testing"
	"time"

	"mailward/internal/testkit"
)

// Observe is told each flush's callers: they add up to the Sync calls,
// and callers arriving during a flush share the next one.
func TestGroupObserve(t *testing.T) {
	release := make(chan struct{})
	flushes := 0
	g := NewGroup(func() error {
		flushes++
		if flushes == 1 {
			<-release // the first flush runs while the others arrive
		}
		return nil
	})
	var mu sync.Mutex
	var sizes []int
	g.Observe = func(n int, _ time.Duration) { mu.Lock(); sizes = append(sizes, n); mu.Unlock() }

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); g.Sync() }()
	// Wait (bounded) until the first flush is running.
	testkit.Eventually(time.Second, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.running
	})
	const late = 8
	for i := 0; i < late; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); g.Sync() }()
	}
	// Wait (bounded) until all of them wait for the next flush.
	testkit.Eventually(time.Second, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.waiting == late
	})
	close(release)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(sizes) != 2 || sizes[0] != 1 || sizes[1] != late {
		t.Errorf("flush sizes %v, want [1 %d]", sizes, late)
	}
}
