// Package protolog writes the protocol log: one line per SMTP command
// and per reply, for the virtual servers and the outbound delivery that
// turn it on (docs/protocol-log.md). Secrets (AUTH and X-EXPS
// responses) and message data (DATA, BDAT, XEXCH50) are never written.
package protolog

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Options say where the log goes and when it is rotated. It mirrors
// the event log's rotation (events/logfile.go): by size, by the age of
// the file's first line, keeping MaxFiles older files as path.1 (newest)
// to path.N.
type Options struct {
	// Path is the log file, e.g. /var/log/mailward/protocol.log.
	Path string
	// MaxSize rotates before a line would take the file past it
	// (0: never by size).
	MaxSize int64
	// MaxAge rotates a file whose first line is older (0: never by age).
	MaxAge time.Duration
	// MaxFiles is how many rotated files are kept (0: none).
	MaxFiles int
	// Now is the clock; nil is time.Now (tests inject one).
	Now func() time.Time
	// OnError, when set, is told of a failed write or rotation: once
	// when the log starts failing, again only after a line was written
	// since (setup makes it event 1016).
	OnError func(path string, err error)
}

// Log is one protocol log file, shared by every session that writes to
// it; each line is written with one write(2) under a lock, so lines of
// concurrent sessions never interleave.
type Log struct {
	mu    sync.Mutex
	opt   Options
	f     *os.File
	size  int64
	first time.Time // time of the file's first line; zero when empty
	// failing: OnError was told, and no line was written since.
	failing bool
	// rotateAt: no rotation before then (a minute after a failed one,
	// as the event log does), so a failing rename is not retried on
	// every line.
	rotateAt time.Time
}

// Open opens (creates) the log file for appending; its directory is
// created if missing.
func Open(opt Options) (*Log, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(opt.Path), 0o750); err != nil {
		return nil, fmt.Errorf("protolog: %w", err)
	}
	l := &Log{opt: opt}
	if err := l.open(); err != nil {
		return nil, err
	}
	if l.size > 0 {
		// The file's age is unknown after a restart: count from its
		// modification time, which is no earlier than its first line.
		if st, err := l.f.Stat(); err == nil {
			l.first = st.ModTime()
		}
	}
	return l, nil
}

func (l *Log) open() error {
	// 0640: the log names peers and users; it is not for everyone.
	f, err := os.OpenFile(l.opt.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("protolog: open %s: %w", l.opt.Path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("protolog: %w", err)
	}
	l.f, l.size, l.first = f, st.Size(), time.Time{}
	return nil
}

// Close closes the file.
func (l *Log) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// write writes one line (b ends in a newline), rotating first when due.
// The protocol log is a diagnostic aid: a full disk loses lines here,
// never a session, and the first failure is reported (OnError).
func (l *Log) write(b []byte, now time.Time) {
	if err := l.put(b, now); err != nil && l.opt.OnError != nil {
		l.opt.OnError(l.opt.Path, err)
	}
}

// put writes b; it returns an error only when OnError is to be told.
func (l *Log) put(b []byte, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	var rerr error
	if l.rotateDue(now, len(b)) && !now.Before(l.rotateAt) {
		if rerr = l.rotate(); rerr != nil {
			l.rotateAt = now.Add(time.Minute)
		}
	}
	n, err := l.f.Write(b)
	l.size += int64(n)
	if err == nil && rerr == nil {
		l.failing = false
		if l.first.IsZero() {
			l.first = now
		}
		return nil
	}
	if err == nil {
		err = rerr
	}
	if l.failing {
		return nil
	}
	l.failing = true
	return err
}

func (l *Log) rotateDue(now time.Time, n int) bool {
	if l.size == 0 {
		return false
	}
	if l.opt.MaxSize > 0 && l.size+int64(n) > l.opt.MaxSize {
		return true
	}
	return l.opt.MaxAge > 0 && !l.first.IsZero() && now.Sub(l.first) >= l.opt.MaxAge
}

// rotate renames path.i to path.i+1 (dropping the oldest), path to
// path.1, and opens a new path.
func (l *Log) rotate() error {
	p := l.opt.Path
	if l.opt.MaxFiles <= 0 {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("protolog: rotate: %w", err)
		}
	} else {
		os.Remove(fmt.Sprintf("%s.%d", p, l.opt.MaxFiles))
		for i := l.opt.MaxFiles - 1; i >= 1; i-- {
			os.Rename(fmt.Sprintf("%s.%d", p, i), fmt.Sprintf("%s.%d", p, i+1))
		}
		// A file already gone (deleted by hand) needs only a new one.
		if err := os.Rename(p, p+".1"); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("protolog: rotate: %w", err)
		}
	}
	old := l.f
	if err := l.open(); err != nil {
		l.f = old // keep writing to the renamed file rather than lose lines
		return err
	}
	old.Close()
	return nil
}
