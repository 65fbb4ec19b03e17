// Package durable holds the file-system primitives that make mailward's
// "250 means on disk" promise hold at speed: group commit.
package durable

import (
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Group makes writes durable with as few flushes as possible: group
// commit. A caller needs a flush that *started* after its writes; every
// caller that arrives while one flush is running is served together by the
// next one. Under 20 concurrent sessions this turns 20 flushes into 1–2.
type Group struct {
	mu        sync.Mutex
	cond      *sync.Cond
	started   uint64 // flushes begun
	completed uint64 // flushes finished (in order: one runs at a time)
	lastOK    uint64 // newest flush that succeeded
	lastErr   error
	running   bool
	waiting   int // callers not yet served by a flush that began after them

	// Observe, when set (before first use), is told how many callers
	// each flush serves and how long it took (docs/metrics.md).
	Observe func(callers int, took time.Duration)

	// Flush is the flush operation; replaceable in tests (to inject I/O
	// errors) before first use.
	Flush func() error
}

// NewGroup returns group commit over flush.
func NewGroup(flush func() error) *Group {
	g := &Group{Flush: flush}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// NewDirSync groups fsyncs of one directory: renames into it become
// durable (the file data must have been fsynced by the caller).
func NewDirSync(path string) *Group {
	return NewGroup(func() error { return FsyncPath(path) })
}

// NewFSSync groups syncfs(2) calls on the file system holding path. One
// syncfs writes and flushes every dirty page and inode of that file
// system — file data and directory entries alike — so a caller needs no
// fsync of its own: write, rename, then Sync. On a spool with 20 sessions
// and 30 delivery workers one syncfs covers dozens of messages, where
// per-file fsync needs two flushes each (no journal merges them on a file
// system without one). The cost: other writers' dirty data on the same
// file system is flushed too, which is why "fsync" remains a choice.
func NewFSSync(path string) (*Group, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("durable: %w", err)
	}
	return NewGroup(func() error {
		// Since Linux 5.8 syncfs reports writeback errors (EIO, ENOSPC)
		// of the file system, which is what makes it usable here. f is
		// used (not just its number) so it stays open for the Group's life.
		return unix.Syncfs(int(f.Fd()))
	}), nil
}

// Sync returns once a flush that began after the call has succeeded, or
// with the error of the one that should have covered it.
func (g *Group) Sync() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	need := g.started + 1
	g.waiting++
	for g.completed < need {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		ticket := g.started
		// Every caller that arrived before this flush began is served
		// by it.
		callers := g.waiting
		g.waiting = 0
		g.mu.Unlock()
		start := time.Now()
		err := g.Flush()
		if g.Observe != nil {
			g.Observe(callers, time.Since(start))
		}
		g.mu.Lock()
		g.running = false
		g.completed = ticket
		if err == nil {
			g.lastOK = ticket
		} else {
			g.lastErr = err
		}
		g.cond.Broadcast()
	}
	// Any successful flush that began after our writes covers them.
	if g.lastOK >= need {
		return nil
	}
	return g.lastErr
}

// FsyncPath fsyncs a file or directory by name.
func FsyncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// SameFS reports whether two paths are on one file system, so that one
// syncfs group can serve both.
func SameFS(a, b string) bool {
	var sa, sb unix.Stat_t
	if unix.Stat(a, &sa) != nil || unix.Stat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev
}
