// Package deliver puts messages where they go: local Maildirs here, the
// next hop's SMTP server for remote recipients.
package deliver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"mailward/internal/durable"
)

// Maildir delivers into <base>/<address>/Maildir/{tmp,new,cur}.
type Maildir struct {
	Base string
	FQDN string
	// FSSync, when set, replaces the per-file fdatasync and the new/
	// directory fsync with one group syncfs (see durable.NewFSSync).
	FSSync *durable.Group

	mu      sync.Mutex
	syncers map[string]*durable.Group
	// made remembers Maildirs known to exist, saving three stats per copy.
	made sync.Map
}

// NewMaildir returns a Maildir deliverer rooted at base.
func NewMaildir(base, fqdn string) *Maildir {
	return &Maildir{Base: base, FQDN: fqdn, syncers: map[string]*durable.Group{}}
}

// Dir returns the Maildir of a mailbox address. The address becomes one
// path element: '/' and control characters are %-escaped so no address
// can name a path outside Base.
func (md *Maildir) Dir(addr string) string {
	var b strings.Builder
	for i := 0; i < len(addr); i++ {
		c := addr[i]
		if c == '/' || c == '%' || c < 0x20 || c == 0x7f || c == '\\' {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	name := b.String()
	if name == "." || name == ".." {
		name = "%2E" + name[1:]
	}
	return filepath.Join(md.Base, name, "Maildir")
}

// Item is one copy to deliver.
type Item struct {
	QueueID   string
	Index     int // recipient index, part of the file name
	Arrival   time.Time
	From      string // envelope sender, "" for <>
	Rcpt      string // the mailbox address
	Recovered bool   // check for a copy left by a delivery before a crash
	// Name, when set, is the file name: a shared folder's replica is
	// named by its replication ID, the same on every server and every
	// time it is received (replica.go).
	Name string
	// SCL, when known, is added as a header (junk.go); Junk delivers
	// into the mailbox's Junk folder.
	SCL  *int
	Junk bool
}

// FileName is the Maildir file name of an item: unique per message and
// recipient, and the same on every attempt, so a delivery repeated after
// a crash finds its earlier copy instead of making a second one.
func (md *Maildir) FileName(it Item) string {
	if it.Name != "" {
		return it.Name
	}
	return fmt.Sprintf("%d.M%sR%d.%s", it.Arrival.Unix(), it.QueueID, it.Index, md.FQDN)
}

var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// ErrTemporary marks failures worth retrying (disk full, I/O errors).
var ErrTemporary = errors.New("temporary local delivery failure")

// Deliver writes one copy and makes it durable: Write, then Sync.
func (md *Maildir) Deliver(it Item, content io.Reader) (string, error) {
	path, err := md.Write(it, content)
	if err == nil {
		err = md.Sync()
	}
	if err != nil {
		return "", err
	}
	return path, nil
}

// Write writes one copy: tmp/, rename into new/ (the Maildir protocol).
// It adds Return-Path and Delivered-To (RFC 5321 §4.4) before content.
// Without FSSync the copy is durable when Write returns (fdatasync before
// the rename, then a grouped fsync of new/); with FSSync it is not until
// Sync returns, so that the copies of a message to a thousand members
// share one syncfs instead of queuing for one in groups of a few.
func (md *Maildir) Write(it Item, content io.Reader) (string, error) {
	dir := md.folder(it)
	name := md.FileName(it)
	final := filepath.Join(dir, "new", name)
	if (it.Recovered || it.Name != "") && md.readByUser(dir, name) {
		// A mail reader already took it into cur/: the user has it.
		return final, nil
	}
	// A copy in new/ left by an attempt before a crash is not trusted:
	// its name may have reached the disk before its data. It is replaced
	// below by a complete copy under the same name (rename over it), so
	// the mailbox still ends up with exactly one.
	if err := md.ensure(dir); err != nil {
		return "", err
	}
	tmp := filepath.Join(dir, "tmp", name)
	f, err := durable.OpenFile(tmp, syscall.O_CREAT|syscall.O_TRUNC|syscall.O_WRONLY, 0o600)
	if err != nil {
		md.made.Delete(dir) // removed behind our back? re-create next time
		return "", fmt.Errorf("%w: %w", ErrTemporary, err)
	}
	err = md.writeFile(f, it, it.Rcpt, content)
	if err == nil {
		err = syscall.Rename(tmp, final)
	}
	if err == nil && md.FSSync == nil {
		err = md.syncer(filepath.Join(dir, "new")).Sync()
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("%w: maildir %s: %w", ErrTemporary, dir, err)
	}
	return final, nil
}

// writeFile writes a copy into f and closes it: the trace fields
// (deliveredTo in Delivered-To), then content without its own SCL field.
// Without FSSync its data is synced before the close.
func (md *Maildir) writeFile(f *durable.File, it Item, deliveredTo string, content io.Reader) error {
	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(f)
	bw.WriteString(traceFields(it, deliveredTo))
	_, err := io.Copy(bw, withoutSCL(content))
	if err == nil {
		err = bw.Flush() // a typical message is one write(2)
	}
	bw.Reset(nil)
	writerPool.Put(bw)
	if err == nil && md.FSSync == nil {
		err = f.Datasync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ensure makes a Maildir's tmp/, new/ and cur/, once per process.
func (md *Maildir) ensure(dir string) error {
	if _, ok := md.made.Load(dir); ok {
		return nil
	}
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return fmt.Errorf("%w: maildir %s: %w", ErrTemporary, dir, err)
		}
	}
	if err := markFolder(dir); err != nil {
		return fmt.Errorf("%w: maildir %s: %w", ErrTemporary, dir, err)
	}
	md.made.Store(dir, true)
	return nil
}

// Sync returns once every copy Write returned before the call is
// durable: one group syncfs of the mailboxes' file system with FSSync
// (file data and new/ entries alike), nothing to do without it.
func (md *Maildir) Sync() error {
	if md.FSSync == nil {
		return nil
	}
	if err := md.FSSync.Sync(); err != nil {
		return fmt.Errorf("%w: maildir sync: %w", ErrTemporary, err)
	}
	return nil
}

// readByUser reports whether an earlier attempt's copy was already moved
// to cur/ by a mail reader (which appends ":2,flags").
func (md *Maildir) readByUser(dir, name string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "cur", name+":*"))
	if len(m) > 0 {
		return true
	}
	_, err := os.Stat(filepath.Join(dir, "cur", name))
	return err == nil
}

// syncer returns the group-commit fsyncer of a mailbox's new/ directory:
// twenty sessions delivering to one mailbox share one directory fsync.
func (md *Maildir) syncer(dir string) *durable.Group {
	md.mu.Lock()
	defer md.mu.Unlock()
	s, ok := md.syncers[dir]
	if !ok {
		s = durable.NewDirSync(dir)
		md.syncers[dir] = s
	}
	return s
}
