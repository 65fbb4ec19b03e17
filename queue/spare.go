package queue

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"mailward/internal/durable"
)

// Bounds of the pool of recycled queue files, by count and by bytes. A
// spare holds no content (see put), so the bytes are what its inode still
// occupies on disk (st_blocks): normally nothing, but an inode that keeps
// a block after ftruncate (an external extended-attribute block, for one)
// must not let the pool grow without bound either.
const (
	maxSpares     = 1024
	maxSpareBytes = 4 << 20
)

// spares recycles queue files instead of deleting them.
//
// Why: creating and deleting an inode per message is what a spool costs
// most on ext4. Inode allocation scans the group's bitmap, and on a file
// system without a journal (like this project's machines) every recently
// deleted inode it passes costs an inode-table lookup
// (ext4 find_inode_bit/recently_deleted), so a spool that deletes
// thousands of files a second slows itself down quadratically. A queue
// file that is no longer needed is truncated and renamed into spare/, and
// later renamed back into tmp/: a rename, never an inode allocation or
// deletion. (Truncating frees the file's data blocks; block allocation
// has no such cost.)
//
// Content: a spare holds none. Every file is truncated to 0 (ftruncate)
// on its way into the pool, finished and refused messages alike, and at
// start every spare that still has content is truncated: an older
// mailward kept it, and a kill can come between a finished message's
// rename into spare/ and its truncation. Otherwise refused mail could
// fill the disk through the pool (up to maxSpares × max_message_size),
// and old messages would stay readable there.
//
// Safety: a spare file holds nothing anyone relies on. A finished message
// is renamed into spare/ before it is truncated, so a killed process
// never leaves an emptied file in active/. Neither step is fsynced, so
// after a power failure either may be undone. If the rename is lost, the
// message is found in active/ at start: still with its content, it is
// re-delivered, and local delivery recognises its earlier copies (see
// deliver.Maildir.FileName); emptied, it is removed (recover), because an
// empty file in active/ was never an acknowledged message (Commit answers
// only once the content is durable). A file with more than one name (see
// newSpares) is never truncated: its other name may be a committed
// message.
type spares struct {
	dir      string
	maxFiles int
	maxBytes int64
	mu       sync.Mutex
	names    []spare
	bytes    int64 // sum of the pool's spare.bytes
	reserved int   // puts under way, counted against maxFiles
}

// spare is one pooled file and the bytes its inode occupies on disk.
type spare struct {
	name  string
	bytes int64
}

// newSpares adopts the spare files found at start, truncating any that
// still hold content. After an unclean shutdown a rename may have left one
// file under two names (repaired by fsck to a link count of 2): such a
// spare may also be a committed queue file, so only files with exactly
// one name are truncated and reused; the others lose their spare name
// only.
func newSpares(dir string, maxFiles int, maxBytes int64) *spares {
	s := &spares{dir: dir, maxFiles: maxFiles, maxBytes: maxBytes}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		var st syscall.Stat_t
		if syscall.Lstat(p, &st) != nil || st.Nlink != 1 || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
			os.Remove(p)
			continue
		}
		bytes := st.Blocks * 512
		if st.Size != 0 || st.Blocks != 0 {
			f, err := durable.OpenFile(p, syscall.O_WRONLY|syscall.O_NOFOLLOW, 0)
			if err != nil {
				os.Remove(p)
				continue
			}
			var ok bool
			bytes, ok = empty(f)
			f.Close()
			if !ok {
				os.Remove(p)
				continue
			}
		}
		if len(s.names) >= s.maxFiles || s.bytes+bytes > s.maxBytes {
			os.Remove(p)
			continue
		}
		s.names = append(s.names, spare{e.Name(), bytes})
		s.bytes += bytes
	}
	return s
}

// empty truncates f to nothing and returns the bytes its inode still
// occupies. ok is false when f has more than one name (it is then left
// untouched) or cannot be truncated: either way it must not be pooled.
func empty(f *durable.File) (bytes int64, ok bool) {
	var st syscall.Stat_t
	if f.Stat(&st) != nil || st.Nlink != 1 || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return 0, false
	}
	if f.Truncate(0) != nil || f.Stat(&st) != nil {
		return 0, false
	}
	return st.Blocks * 512, true
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
		sp := s.names[n-1]
		s.names = s.names[:n-1]
		s.bytes -= sp.bytes
		s.mu.Unlock()
		if syscall.Rename(filepath.Join(s.dir, sp.name), path) != nil {
			continue // vanished (removed by hand): try the next
		}
		// O_TRUNC although a spare is empty: it costs nothing then, and
		// nothing but this message may end up in its queue file.
		f, err := durable.OpenFile(path, syscall.O_WRONLY|syscall.O_TRUNC, 0o600)
		if err != nil {
			os.Remove(path)
			continue
		}
		return f, true
	}
}

// put retires the queue file at path, truncated, into the pool; beyond
// the pool's bounds, or when it cannot be truncated, it is deleted.
//
// f is the file itself, still open, when the caller has it (a message
// refused or abandoned in tmp/): it is truncated there and then moved,
// and put closes it. Without f (a finished message in active/) the file
// is moved first and truncated in spare/, so that a kill in between
// leaves content in spare/ (cleared at start), never an empty file in
// active/.
func (s *spares) put(path string, f *durable.File) {
	s.mu.Lock()
	full := len(s.names)+s.reserved >= s.maxFiles || s.bytes > s.maxBytes
	if !full {
		s.reserved++
	}
	s.mu.Unlock()
	if full {
		if f != nil {
			f.Close()
		}
		os.Remove(path)
		return
	}
	name := filepath.Base(path)
	dest := filepath.Join(s.dir, name)
	if f == nil {
		var err error
		if err = syscall.Rename(path, dest); err == nil {
			path = dest
			f, err = durable.OpenFile(dest, syscall.O_WRONLY|syscall.O_NOFOLLOW, 0)
		}
		if err != nil {
			s.unreserve()
			os.Remove(path)
			return
		}
	}
	bytes, ok := empty(f)
	f.Close()
	if ok && path != dest {
		ok = syscall.Rename(path, dest) == nil
	}
	if !ok {
		s.unreserve()
		os.Remove(path)
		return
	}
	s.mu.Lock()
	s.reserved--
	ok = s.bytes+bytes <= s.maxBytes
	if ok {
		s.names = append(s.names, spare{name, bytes})
		s.bytes += bytes
	}
	s.mu.Unlock()
	if !ok {
		os.Remove(dest)
	}
}

func (s *spares) unreserve() {
	s.mu.Lock()
	s.reserved--
	s.mu.Unlock()
}
