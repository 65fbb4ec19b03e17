// Package queue is mailward's durable spool and its delivery scheduler.
//
// The promise it keeps is the one the SMTP layer makes with "250 2.6.0":
// Commit returns only after the message and its envelope are in a file
// that has been fsynced and renamed into active/, and that rename has been
// fsynced too. A crash at any moment loses only messages that were never
// acknowledged. The on-disk format is documented in docs/queue.md.
package queue

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"mailward/events"
	"mailward/internal/durable"
)

// Message is a queued message as the delivery stages see it.
type Message struct {
	Env        *Envelope
	Status     []RcptStatus
	Recovered  bool // found on disk at start: it may have been partly delivered before a crash
	path       string
	bodyOffset int64
	attempt    int
	cached     []byte // content still in memory from receipt, or nil
	hasState   bool   // the <id>.state file exists
	// mu guards Status against the queue viewer while a worker updates it.
	mu sync.Mutex
	// inflight is set (under Queue.mu) while a worker or Delete holds it.
	inflight bool
	// next is its next attempt while it waits in the retry heap, else
	// zero (under Queue.mu).
	next time.Time
	// share is what it contributes to the per-queue sums (under tally.mu).
	share share
	// size is the content's size in octets, known at commit or load.
	size int64
	// frozen: an administrator holds it (freeze.go); it is in live but
	// neither ready nor in the retry heap (under Queue.mu).
	frozen bool
	// msgID is its header's Message-ID, read once (msgid.go).
	msgID     string
	msgIDOnce sync.Once
}

// Open returns the message content (header and body, CRLF line ends).
func (m *Message) Open() (io.ReadCloser, error) {
	if m.cached != nil {
		return io.NopCloser(bytes.NewReader(m.cached)), nil
	}
	f, err := os.Open(m.path)
	if err != nil {
		return nil, fmt.Errorf("queue: open %s: %w", m.Env.ID, err)
	}
	if _, err := f.Seek(m.bodyOffset, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("queue: seek %s: %w", m.Env.ID, err)
	}
	return f, nil
}

// Size is the content's size in octets (for SIZE=, RFC 1870); 0 if unknown.
func (m *Message) Size() int64 { return m.size }

// Pending lists the indexes of recipients not yet final.
func (m *Message) Pending() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int
	for i, s := range m.Status {
		if s.State == Pending {
			out = append(out, i)
		}
	}
	return out
}

// Handler attempts delivery of a message's pending recipients and
// returns one Result per recipient it attempted.
type Handler func(ctx context.Context, m *Message) []Result

// Bouncer queues a non-delivery report for the failed recipients of m.
// It is called after their failure is on disk and before the message is
// removed; an error keeps the message queued and the bounce is retried.
type Bouncer func(m *Message, failed []int) error

// Options configure a Queue.
type Options struct {
	Dir           string
	Workers       int
	RetrySchedule []time.Duration // the waits between attempts; the last repeats
	// MaxAge: a message still undelivered this long after arrival
	// bounces (5.4.7); 0 never.
	MaxAge time.Duration
	Events *events.Log
	// DelayWarning: a recipient still pending this long after arrival gets
	// a "delayed" DSN (RFC 3464), once; 0 never.
	DelayWarning time.Duration
	// FSSync, when set, makes commits durable with a group syncfs of the
	// spool's file system instead of a per-file fdatasync plus a grouped
	// directory fsync (see durable.NewFSSync).
	FSSync *durable.Group
}

// Queue is the spool directory and the scheduler over it.
type Queue struct {
	opt     Options
	tmp     string
	active  string
	corrupt string
	spares  *spares
	syncer  *durable.Group
	ev      *events.Log

	handler Handler
	bouncer Bouncer
	delayer Bouncer
	// succeeder queues RFC 3461 success notices (NOTIFY=SUCCESS) for
	// recipients delivered here or relayed to a hop without DSN.
	succeeder Bouncer
	live      map[string]*Message // every message queued and not finished

	// The load of the spool found at start (load.go), under mu.
	load     loadProgress
	loadSkip map[string]struct{} // IDs handed out while loading; nil otherwise
	loadDone chan struct{}
	noting   atomic.Bool // loadSkip is not nil: the fast path of noteNew

	// tally keeps the per-delivery-queue sums for the viewer (tally.go).
	tally *tally
	// inflightN counts the messages a worker or Delete holds (under mu).
	inflightN int
	// frozenN counts the frozen messages; bytes sums the live messages'
	// sizes (under mu).
	frozenN int
	bytes   int64

	mu      sync.Mutex
	cond    *sync.Cond
	ready   []*Message
	retries retryHeap
	wake    chan struct{}
	closed  bool
	wg      sync.WaitGroup
	now     func() time.Time
	cached  atomic.Int64 // bytes of message content held in memory
}

// Open creates the spool directories if needed.
func Open(opt Options) (*Queue, error) {
	// The defaults live in the configuration (config/defaults.go); the
	// queue takes what it is given.
	if opt.Workers <= 0 || len(opt.RetrySchedule) == 0 {
		return nil, fmt.Errorf("queue: need at least one worker and a retry schedule")
	}
	q := &Queue{
		opt: opt, tmp: filepath.Join(opt.Dir, "tmp"), active: filepath.Join(opt.Dir, "active"),
		corrupt: filepath.Join(opt.Dir, "corrupt"), ev: opt.Events, wake: make(chan struct{}, 1), now: time.Now,
		loadDone: make(chan struct{}), tally: newTally(),
	}
	if q.ev == nil {
		q.ev = events.Discard()
	}
	q.cond = sync.NewCond(&q.mu)
	q.live = map[string]*Message{}
	q.startLoad()
	spareDir := filepath.Join(opt.Dir, "spare")
	for _, d := range []string{q.tmp, q.active, q.corrupt, spareDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("queue: %w", err)
		}
	}
	q.spares = newSpares(spareDir, maxSpares, maxSpareBytes)
	q.syncer = durable.NewDirSync(q.active)
	if opt.FSSync != nil {
		q.syncer = opt.FSSync
	}
	return q, nil
}

// NewID returns a queue ID: 13 hex digits of microseconds since 1970
// (sortable by arrival until the year 2112) and 6 of randomness, upper
// case like Postfix's.
func NewID(now time.Time) string {
	var r [4]byte
	rand.Read(r[:])
	return fmt.Sprintf("%013X%06X", uint64(now.UnixMicro())&0xFFFFFFFFFFFFF, binary.BigEndian.Uint32(r[:])&0xFFFFFF)
}

// Writer receives one message's content. Nothing is acknowledged until
// Commit returns nil.
type Writer struct {
	q    *Queue
	env  *Envelope
	f    *durable.File
	tmp  string
	done bool
	// bodyOffset is where the content starts, after the envelope.
	bodyOffset int64
	// A message is held in memory while it is small (most mail is): it
	// reaches the disk in one write at Commit, and the delivery workers
	// read it from memory instead of reading the file back. A large one
	// spills to the file through bw.
	mem []byte
	bw  *bufio.Writer
	// headSCL is the SCL the written envelope records (rehead.go).
	headSCL *int
	// size counts the content written, for the queue viewer's sizes.
	size int64
}

// memLimit is the largest message kept in memory; cacheBudget bounds the
// memory held by all queued messages waiting for delivery.
const (
	memLimit    = 256 << 10
	cacheBudget = 64 << 20
)

// Create starts a queue file for env, assigning env.ID and env.Arrival
// when empty. The envelope is written first; the content follows.
func (q *Queue) Create(env *Envelope) (*Writer, error) {
	if env.Arrival.IsZero() {
		env.Arrival = q.now()
	}
	if env.ID == "" {
		env.ID = NewID(env.Arrival)
	}
	q.noteNew(env.ID)
	head, err := encodeEnvelope(env)
	if err != nil {
		return nil, fmt.Errorf("queue: write %s: %w", env.ID, err)
	}
	tmp := filepath.Join(q.tmp, env.ID)
	f, ok := q.spares.take(tmp)
	if !ok {
		if f, err = durable.OpenFile(tmp, syscall.O_CREAT|syscall.O_EXCL|syscall.O_WRONLY, 0o600); err != nil {
			q.ev.Emit(events.SpoolWriteFailed, "error", err)
			return nil, fmt.Errorf("queue: create %s: %w", env.ID, err)
		}
	}
	w := &Writer{q: q, env: env, f: f, tmp: tmp, bodyOffset: int64(len(head)), mem: make([]byte, 0, 8<<10), headSCL: env.SCL}
	w.mem = append(w.mem, head...)
	return w, nil
}

// ID is the message's queue ID.
func (w *Writer) ID() string { return w.env.ID }

// Write appends message content.
func (w *Writer) Write(p []byte) (int, error) {
	w.size += int64(len(p))
	if w.bw != nil {
		return w.bw.Write(p)
	}
	if len(w.mem)+len(p) <= memLimit {
		w.mem = append(w.mem, p...)
		return len(p), nil
	}
	w.bw = bufio.NewWriterSize(w.f, 64<<10)
	if _, err := w.bw.Write(w.mem); err != nil {
		return 0, err
	}
	w.mem = nil
	return w.bw.Write(p)
}

// Commit makes the message durable and schedules its delivery. On error
// nothing was queued and the caller must answer 4xx.
func (w *Writer) Commit() error {
	if w.done {
		return errors.New("queue: commit after commit or abort")
	}
	w.done = true
	id := w.env.ID
	closed := false
	fail := func(step string, err error) error {
		if closed {
			w.q.spares.put(w.tmp, nil)
		} else {
			w.q.spares.put(w.tmp, w.f)
		}
		w.q.ev.Emit(events.SpoolWriteFailed, "error", fmt.Sprintf("%s %s: %v", step, id, err))
		return fmt.Errorf("queue: %s %s: %w", step, id, err)
	}
	if err := w.rehead(); err != nil {
		return fail("write", err)
	}
	if w.bw != nil {
		if err := w.bw.Flush(); err != nil {
			return fail("write", err)
		}
	} else if _, err := w.f.Write(w.mem); err != nil {
		return fail("write", err)
	}
	// fdatasync suffices: the file is new and its size is data for
	// this purpose. With FSSync the group syncfs below covers it.
	if w.q.opt.FSSync == nil {
		if err := w.f.Datasync(); err != nil {
			return fail("fsync", err)
		}
	}
	closed = true
	if err := w.f.Close(); err != nil {
		return fail("close", err)
	}
	final := filepath.Join(w.q.active, id)
	if err := syscall.Rename(w.tmp, final); err != nil {
		return fail("rename", err)
	}
	if err := w.q.syncer.Sync(); err != nil {
		// The rename may or may not survive a crash: we must not
		// acknowledge, and we must not deliver what the client will
		// send again.
		os.Remove(final)
		w.q.ev.Emit(events.SpoolWriteFailed, "error", fmt.Sprintf("fsync spool directory for %s: %v", id, err))
		return fmt.Errorf("queue: fsync directory for %s: %w", id, err)
	}
	m := &Message{Env: w.env, Status: make([]RcptStatus, len(w.env.Recipients)), path: final, bodyOffset: w.bodyOffset,
		size: w.size}
	if w.mem != nil && w.q.cached.Add(int64(len(w.mem))) <= cacheBudget {
		m.cached = w.mem[w.bodyOffset:]
	} else if w.mem != nil {
		w.q.cached.Add(-int64(len(w.mem)))
	}
	w.q.schedule(m)
	return nil
}

// Abort discards an uncommitted message.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.q.spares.put(w.tmp, w.f)
}

// IsNoSpace reports whether err is the disk being full, which SMTP
// answers with 452 4.3.1 (RFC 3463) rather than a generic 451.
func IsNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// ids returns the IDs of all committed messages.
func (q *Queue) ids() ([]string, error) {
	ents, err := os.ReadDir(q.active)
	if err != nil {
		return nil, fmt.Errorf("queue: scan: %w", err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && !strings.Contains(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}
