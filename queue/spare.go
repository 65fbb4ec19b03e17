package queue

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"mailward/internal/durable"
)

// maxSpares bounds the pool of recycled queue files.
const maxSpares = 1024

// spares recycles queue files instead of deleting them.
//
// Why: creating and deleting an inode per message is what a spool costs
// most on ext4. Inode allocation scans the group's bitmap, and on a file
// system without a journal (like this project's machines) every recently
// deleted inode it passes costs an inode-table lookup
// (ext4 find_inode_bit/recently_deleted), so a spool that deletes
// thousands of files a second slows itself down quadratically. A finished
// queue file is renamed into spare/ and later renamed back into tmp/ and
// truncated: a rename, never an inode allocation or deletion.
//
// Safety: a spare file holds nothing anyone relies on. If a crash loses
// the rename of a finished message into spare/, the message is found in
// active/ at start and re-delivered, and local delivery recognises its
// earlier copies (see deliver.Maildir.FileName).
type spares struct {
	dir   string
	mu    sync.Mutex
	names []string
}

// newSpares adopts the spare files found at start. After an unclean
// shutdown a rename may have left one file under two names (repaired by
// fsck to a link count of 2): such a spare may also be a committed queue
// file, so only files with exactly one name are reused; the others lose
// their spare name only.
func newSpares(dir string) *spares {
	s := &spares{dir: dir}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		var st syscall.Stat_t
		if syscall.Lstat(p, &st) != nil || st.Nlink != 1 || st.Mode&syscall.S_IFMT != syscall.S_IFREG || len(s.names) >= maxSpares {
			os.Remove(p)
			continue
		}
		s.names = append(s.names, e.Name())
	}
	return s
}

// Renames here and on the hot path use syscall.Rename: os.Rename first
// Lstats the target to refuse renaming over a directory, a syscall per
// message that our own fixed names never need.

// take moves a spare file to path and opens it truncated; ok is false
// when none is available (the caller creates a new file).
func (s *spares) take(path string) (*durable.File, bool) {
	for {
		s.mu.Lock()
		n := len(s.names)
		if n == 0 {
			s.mu.Unlock()
			return nil, false
		}
		name := s.names[n-1]
		s.names = s.names[:n-1]
		s.mu.Unlock()
		if syscall.Rename(filepath.Join(s.dir, name), path) != nil {
			continue // vanished (removed by hand): try the next
		}
		f, err := durable.OpenFile(path, syscall.O_WRONLY|syscall.O_TRUNC, 0o600)
		if err != nil {
			os.Remove(path)
			continue
		}
		return f, true
	}
}

// put retires a file that is no longer needed; beyond the pool's bound it
// is deleted.
func (s *spares) put(path string) {
	s.mu.Lock()
	full := len(s.names) >= maxSpares
	s.mu.Unlock()
	name := filepath.Base(path)
	if full || syscall.Rename(path, filepath.Join(s.dir, name)) != nil {
		os.Remove(path)
		return
	}
	s.mu.Lock()
	s.names = append(s.names, name)
	s.mu.Unlock()
}
