// Package directory is the organization's directory: local domains and the
// mailboxes in them, with their logins.
//
// Domains and mailboxes come from the configuration file; an optional
// recipients file (directory.file) adds mailboxes and is re-read whenever
// it changes. While that file cannot be read every lookup returns an
// error, and the SMTP layer answers 451 4.3.0: KB304897 requires that a
// directory outage never turn into accepted-then-lost mail or into relay.
package directory

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pelletier/go-toml/v2"
	"golang.org/x/crypto/bcrypt"
)

// ErrUnavailable wraps every failure to read the directory.
var ErrUnavailable = errors.New("directory unavailable")

// Mailbox is one local recipient.
type Mailbox struct {
	Address      string
	PasswordHash string
}

// Directory answers "is this domain ours" and "does this mailbox exist".
type Directory struct {
	// cur is replaced whole by Replace (a reload of the configuration);
	// a lookup sees the old contents or the new, never a mix.
	cur atomic.Pointer[contents]

	mu sync.Mutex
	// from the recipients file, valid while fileStamp matches the file
	// and filePath is the current file
	filePath  string
	fileBoxes map[string]Mailbox
	fileStamp stamp
	fileErr   error
}

type contents struct {
	domains map[string]bool
	static  map[string]Mailbox
	file    string
}

type stamp struct {
	mod  time.Time
	size int64
}

// FileFormat is the recipients file: the same [[mailbox]] tables as the
// main configuration, and nothing else (strictly parsed).
type FileFormat struct {
	Mailboxes []FileMailbox `toml:"mailbox"`
}

// FileMailbox is one [[mailbox]] table of the recipients file.
type FileMailbox struct {
	Address      string `toml:"address"`
	PasswordHash string `toml:"password_hash"`
}

// New builds the directory from the local domains, the configured
// mailboxes and the recipients file (file may be "").
func New(domains []string, mailboxes []Mailbox, file string) *Directory {
	d := &Directory{}
	d.Replace(domains, mailboxes, file)
	return d
}

// Replace swaps in new domains, mailboxes and recipients file (a reload
// of the configuration, SIGHUP): lookups from then on see only them.
func (d *Directory) Replace(domains []string, mailboxes []Mailbox, file string) {
	c := &contents{domains: map[string]bool{}, static: map[string]Mailbox{}, file: file}
	for _, dom := range domains {
		c.domains[strings.ToLower(dom)] = true
	}
	for _, m := range mailboxes {
		a := strings.ToLower(m.Address)
		c.static[a] = Mailbox{Address: a, PasswordHash: m.PasswordHash}
	}
	d.cur.Store(c)
}

// IsLocalDomain reports whether mail for domain is delivered here. Only
// configured domains are local: not IP literals, not "localhost", not our
// own host name (KB304897: none of those is a licence to relay).
func (d *Directory) IsLocalDomain(domain string) bool {
	return d.cur.Load().domains[strings.ToLower(domain)]
}

// Lookup finds a mailbox by its lower-case address.
func (d *Directory) Lookup(addr string) (Mailbox, bool, error) {
	addr = strings.ToLower(addr)
	c := d.cur.Load()
	if c.file != "" {
		boxes, err := d.fileMailboxes(c)
		if err != nil {
			return Mailbox{}, false, err
		}
		if m, ok := boxes[addr]; ok {
			return m, true, nil
		}
	}
	m, ok := c.static[addr]
	return m, ok, nil
}

// Authenticate checks a login. An unknown user and a wrong password give
// the same answer, so AUTH cannot be used to probe for mailboxes.
func (d *Directory) Authenticate(user, password string) (bool, error) {
	m, ok, err := d.Lookup(user)
	if err != nil {
		return false, err
	}
	if !ok {
		m.PasswordHash = ""
	}
	return checkPassword(m.PasswordHash, password), nil
}

// checkPassword compares a password with a bcrypt hash; without a hash
// it spends the same time and fails (no timing side channel telling
// which users exist).
func checkPassword(hash, password string) bool {
	if hash == "" {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

var dummyHash = []byte("$2a$10$7EqJtq98hPqEX7fNZaFWoOhi5BWX4Z2ZS9sf1dn4o0/fMWQ7pN2Ke")

// fileMailboxes returns the recipients file's mailboxes, re-reading the
// file when its size or modification time changed.
func (d *Directory) fileMailboxes(c *contents) (map[string]Mailbox, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.filePath != c.file {
		d.filePath, d.fileBoxes, d.fileErr, d.fileStamp = c.file, nil, nil, stamp{}
	}
	fi, err := os.Stat(c.file)
	if err != nil {
		d.fileBoxes, d.fileErr = nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		d.fileStamp = stamp{}
		return nil, d.fileErr
	}
	st := stamp{fi.ModTime(), fi.Size()}
	if st == d.fileStamp && (d.fileBoxes != nil || d.fileErr != nil) {
		return d.fileBoxes, d.fileErr
	}
	d.fileStamp = st
	d.fileBoxes, d.fileErr = readFile(c.file, c.domains)
	return d.fileBoxes, d.fileErr
}

func readFile(path string, domains map[string]bool) (map[string]Mailbox, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	var f FileFormat
	dec := toml.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, path, err)
	}
	out := make(map[string]Mailbox, len(f.Mailboxes))
	for _, m := range f.Mailboxes {
		a := strings.ToLower(m.Address)
		at := strings.LastIndexByte(a, '@')
		if at <= 0 || !domains[a[at+1:]] {
			return nil, fmt.Errorf("%w: %s: mailbox %q is not in a local domain", ErrUnavailable, path, m.Address)
		}
		out[a] = Mailbox{Address: a, PasswordHash: m.PasswordHash}
	}
	return out, nil
}

// Exists reports whether addr is a mailbox (policy.Directory).
func (d *Directory) Exists(addr string) (bool, error) {
	_, ok, err := d.Lookup(addr)
	return ok, err
}
