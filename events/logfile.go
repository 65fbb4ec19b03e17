package events

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// logFile is the event log file: it writes each record with one write(2),
// rotates the file by size and age, and keeps a reserve of allocated space
// past its end for the errors of a full disk.
//
// Why a reserve, and why this one: when the disk is full the spool's
// failures (event 2001) are what the administrator needs, and they are
// exactly what a plain append cannot write: it needs a new block for
// each few lines, and the spool's writers race it for every block freed.
// fallocate(2) with FALLOC_FL_KEEP_SIZE allocates blocks past the end of
// the file without changing its size; a later write into them needs no new
// block, so it succeeds on a full file system (ext4 keeps reserved
// clusters for turning such unwritten extents into written ones; tmpfs
// has the pages already). It needs no second file, nothing to release at
// the right moment, and survives a restart: the blocks stay with the file.
// The alternative, a ballast file deleted on ENOSPC, frees space for every
// writer on the file system, and the spool (or a stranger) takes it first.
type logFile struct {
	mu   sync.Mutex
	f    *os.File
	path string // "" for a file given to New: not rotated, no reserve
	opt  Options
	// own: the file was opened here and is closed by close.
	own bool

	size     int64     // bytes written (the file's size)
	first    time.Time // time of the file's first record; zero when empty
	allocEnd int64     // space is allocated up to here
	checkAt  time.Time // next top-up of the reserve, at the latest
	noFalloc bool      // the file system has no fallocate: no reserve
	// rotateAt: no rotation before then (after a failed one).
	rotateAt time.Time

	// The file system is full: only important records are written (into
	// the reserve) until the reserve can be extended again.
	full      bool
	fullSince time.Time
	retryAt   time.Time // next attempt to extend the reserve
	withheld  int       // records not written, being unimportant
	lost      int       // records that did not fit at all

	// torn: the last write was partial; the next line starts with a
	// newline so that the torn one does not swallow it.
	torn bool

	closed bool
}

// Rotated files are path.1 (newest) to path.<keep>; Read reads up to this
// many of them.
const maxRotated = 1000

func rotatedName(path string, i int) string { return fmt.Sprintf("%s.%d", path, i) }

// openLogFile opens path for appending and establishes its reserve; it
// returns notices (events 1006, 1009) already written to the file.
func openLogFile(path string, opt Options, now time.Time) (*logFile, []Record, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("events: open %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("events: %w", err)
	}
	w := &logFile{f: f, path: path, opt: opt, own: true, size: st.Size(), allocEnd: st.Size()}
	if w.size > 0 {
		w.first = firstRecordTime(path, now)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w, w.keepReserve(now, nil), nil
}

// firstRecordTime is the time of a log file's first record, for rotation
// by age; a file that does not start with one counts as started now.
func firstRecordTime(path string, now time.Time) time.Time {
	fh, err := os.Open(path)
	if err != nil {
		return now
	}
	defer fh.Close()
	line, err := bufio.NewReaderSize(fh, 64<<10).ReadSlice('\n')
	var r Record
	if err != nil || json.Unmarshal(line, &r) != nil || r.Time.IsZero() {
		return now
	}
	return r.Time
}

// write writes rec as one line. important records (errors, level none)
// are written while the file system is full; others are then counted
// and left to the server log. Notices the writing caused (1006, 1007,
// 1008, 1009) are written to the file too and returned for the server log.
func (w *logFile) write(rec Record, important bool) ([]Record, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	b = append(b, '\n')
	now := rec.Time
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, os.ErrClosed
	}
	var notes []Record
	if w.full && w.reserving() && !now.Before(w.retryAt) {
		w.retryAt = now.Add(time.Second)
		if w.extend() == nil {
			notes = w.spaceBack(notes, now)
		}
	}
	if !w.full && w.rotateDue(now, len(b)) {
		if err := w.rotate(); err != nil {
			w.rotateAt = now.Add(time.Minute)
			notes = w.note(notes, now, EventLogRotateFailed, "file", w.path, "error", err)
		}
	}
	if w.full && w.reserving() && !important {
		w.withheld++
		return notes, nil
	}
	err = w.put(b, now)
	switch {
	case err != nil && isNoSpace(err):
		w.lost++
		if !w.full {
			// No reserve: none configured, unsupported, or used up.
			w.enterFull(now)
			notes = w.note(notes, now, EventLogFull, "file", w.path, "reserve", max(w.allocEnd-w.size, 0))
		}
	case err == nil && w.full && !w.reserving():
		// Without a reserve to extend, a write that succeeds is the
		// sign of space.
		notes = w.spaceBack(notes, now)
	}
	return w.keepReserve(now, notes), err
}

// reserving reports whether this file keeps a reserve.
func (w *logFile) reserving() bool { return w.path != "" && w.opt.Reserve > 0 && !w.noFalloc }

// spaceBack leaves the full state with event 1007.
func (w *logFile) spaceBack(notes []Record, now time.Time) []Record {
	w.full = false
	notes = w.note(notes, now, EventLogSpaceBack, "since", w.fullSince.Format(time.RFC3339),
		"withheld", w.withheld, "lost", w.lost)
	w.withheld, w.lost = 0, 0
	return notes
}

// put writes one line with one write(2) (os.File repeats only a short
// write), under w.mu and with O_APPEND: lines of concurrent writers never
// interleave, and a SIGKILL leaves at most a torn last line, which Read
// skips.
func (w *logFile) put(b []byte, now time.Time) error {
	if w.torn {
		b = append([]byte{'\n'}, b...)
	}
	n, err := w.f.Write(b)
	w.size += int64(n)
	if n > 0 {
		w.torn = n < len(b)
	}
	if err != nil {
		return err
	}
	if w.first.IsZero() {
		w.first = now
	}
	return nil
}

// note writes a notice of the event log itself (bypassing the rate limit:
// these are few by construction) and appends it to notes.
func (w *logFile) note(notes []Record, now time.Time, id int, kv ...any) []Record {
	rec := newRecord(Catalogue[id], now, kv)
	if b, err := json.Marshal(rec); err == nil {
		w.put(append(b, '\n'), now)
	}
	return append(notes, rec)
}

func (w *logFile) enterFull(now time.Time) {
	w.full, w.fullSince, w.retryAt = true, now, now.Add(time.Second)
}

// keepReserve tops the reserve up when a sixteenth of it is used, and
// at least once a second: an attempt that fails is how a full file system
// is noticed, within a second or reserve/16 bytes written, and from then
// on the rest of the reserve is kept for important records.
func (w *logFile) keepReserve(now time.Time, notes []Record) []Record {
	if !w.reserving() || w.full {
		return notes
	}
	used := w.allocEnd-w.size <= w.opt.Reserve-w.opt.Reserve/16
	// (A check time more than a second ahead means the clock went back.)
	due := !now.Before(w.checkAt) || now.Before(w.checkAt.Add(-time.Second))
	if !used && !due {
		return notes
	}
	w.checkAt = now.Add(time.Second)
	switch err := w.extend(); {
	case err == nil:
	case isNoSpace(err):
		w.enterFull(now)
		notes = w.note(notes, now, EventLogFull, "file", w.path, "reserve", max(w.allocEnd-w.size, 0))
	default:
		w.noFalloc = true
		notes = w.note(notes, now, EventLogNoReserve, "file", w.path, "error", err)
	}
	return notes
}

// extend allocates opt.Reserve bytes past the end of the file.
func (w *logFile) extend() error {
	if err := fallocate(w.f, unix.FALLOC_FL_KEEP_SIZE, w.size, w.opt.Reserve); err != nil {
		return err
	}
	w.allocEnd = w.size + w.opt.Reserve
	return nil
}

func (w *logFile) rotateDue(now time.Time, n int) bool {
	if w.path == "" || w.size == 0 || now.Before(w.rotateAt) {
		return false
	}
	return (w.opt.MaxSize > 0 && w.size+int64(n) > w.opt.MaxSize) ||
		(w.opt.MaxAge > 0 && !w.first.IsZero() && now.Sub(w.first) >= w.opt.MaxAge)
}

// rotate renames path to path.1 (path.1 to path.2 and so on, dropping
// the oldest) and continues in a new file. The new file gets its reserve
// before anything is renamed: if the file system has no room for it the
// rotation waits, because the current file's reserve is what the errors
// of a full disk are written into.
func (w *logFile) rotate() error {
	tmp := w.path + ".new"
	nf, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	abort := func(err error) error {
		nf.Close()
		os.Remove(tmp)
		return err
	}
	var alloc int64
	if w.opt.Reserve > 0 && !w.noFalloc {
		switch err := fallocate(nf, unix.FALLOC_FL_KEEP_SIZE, 0, w.opt.Reserve); {
		case err == nil:
			alloc = w.opt.Reserve
		case isNoSpace(err):
			return abort(fmt.Errorf("no room for the new file's reserve: %w", err))
		}
	}
	keep := max(w.opt.Keep, 1)
	// Files beyond keep (keep was lowered) go.
	for _, i := range rotatedIndices(w.path) {
		if i > keep {
			os.Remove(rotatedName(w.path, i))
		}
	}
	for i := keep - 1; i >= 1; i-- {
		if err := os.Rename(rotatedName(w.path, i), rotatedName(w.path, i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return abort(err)
		}
	}
	if err := os.Rename(w.path, rotatedName(w.path, 1)); err != nil {
		return abort(err)
	}
	if err := os.Rename(tmp, w.path); err != nil {
		os.Rename(rotatedName(w.path, 1), w.path)
		return abort(err)
	}
	// The rotated file gives its reserve back: ext4 frees blocks past the
	// end on a truncate to the same size (it punches no hole there), tmpfs
	// only on a punched hole.
	if w.allocEnd > w.size {
		fallocate(w.f, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, w.size, w.allocEnd-w.size)
		w.f.Truncate(w.size)
	}
	w.f.Close()
	w.f, w.size, w.first, w.allocEnd, w.torn = nf, 0, time.Time{}, alloc, false
	return nil
}

func (w *logFile) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	if !w.own {
		return nil
	}
	// The reserve stays allocated: a server restarted on a full disk
	// still has it.
	return w.f.Close()
}

func fallocate(f *os.File, mode uint32, off, n int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for range 100 { // EINTR: bounded retries
			if ferr = unix.Fallocate(int(fd), mode, off, n); ferr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if ferr != nil {
		return &os.SyscallError{Syscall: "fallocate", Err: ferr}
	}
	return nil
}

func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
