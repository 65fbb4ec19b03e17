// Package durable holds the file-system primitives that make mailward's
// "250 means on disk" promise hold: group-committed directory fsyncs.
package durable

import (
	"os"
	"sync"
)

// DirSync makes renames into one directory durable with as few fsyncs
// as possible: group commit. A caller needs an fsync of the directory
// that *started* after its rename; every caller that arrives while one
// fsync is running is served together by the next one. Under 20
// concurrent sessions this turns 20 directory fsyncs into 1–2.
type DirSync struct {
	path string

	mu        sync.Mutex
	cond      *sync.Cond
	started   uint64 // fsyncs begun
	completed uint64 // fsyncs finished (in order: one runs at a time)
	lastOK    uint64 // newest fsync that succeeded
	lastErr   error
	running   bool

	// Fsync is replaceable in tests (to inject I/O errors).
	Fsync func(path string) error
}

func NewDirSync(path string) *DirSync {
	d := &DirSync{path: path, Fsync: FsyncPath}
	d.cond = sync.NewCond(&d.mu)
	return d
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

// Sync returns once an fsync of the directory that began after the call
// has succeeded, or with the error of the one that should have covered it.
func (d *DirSync) Sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	need := d.started + 1
	for d.completed < need {
		if d.running {
			d.cond.Wait()
			continue
		}
		d.running = true
		d.started++
		ticket := d.started
		d.mu.Unlock()
		err := d.Fsync(d.path)
		d.mu.Lock()
		d.running = false
		d.completed = ticket
		if err == nil {
			d.lastOK = ticket
		} else {
			d.lastErr = err
		}
		d.cond.Broadcast()
	}
	// Any successful fsync that began after our rename covers it.
	if d.lastOK >= need {
		return nil
	}
	return d.lastErr
}
