package durable

import (
	"fmt"
	"syscall"
)

// File is a regular file written with raw system calls. os.File would
// first try to register every file with the network poller (an fcntl and
// an epoll_ctl that fails with EPERM for regular files): three wasted
// system calls per message on the spool's hot path.
type File struct {
	fd   int
	path string
}

// OpenFile opens path with flags (O_CLOEXEC is added).
func OpenFile(path string, flags int, perm uint32) (*File, error) {
	fd, err := syscall.Open(path, flags|syscall.O_CLOEXEC, perm)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &File{fd: fd, path: path}, nil
}

// Write writes all of p (regular files take short writes only on error).
func (f *File) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := syscall.Write(f.fd, p[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("write %s: %w", f.path, err)
		}
		n += m
	}
	return n, nil
}

// Datasync is fdatasync(2).
func (f *File) Datasync() error {
	if err := syscall.Fdatasync(f.fd); err != nil {
		return fmt.Errorf("fdatasync %s: %w", f.path, err)
	}
	return nil
}

// Close closes the file; close errors matter (NFS reports write errors there).
func (f *File) Close() error {
	if f.fd < 0 {
		return nil
	}
	err := syscall.Close(f.fd)
	f.fd = -1
	if err != nil {
		return fmt.Errorf("close %s: %w", f.path, err)
	}
	return nil
}

// Stat is fstat(2).
func (f *File) Stat(st *syscall.Stat_t) error {
	if err := syscall.Fstat(f.fd, st); err != nil {
		return fmt.Errorf("fstat %s: %w", f.path, err)
	}
	return nil
}

// Truncate is ftruncate(2).
func (f *File) Truncate(size int64) error {
	for {
		err := syscall.Ftruncate(f.fd, size)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("ftruncate %s: %w", f.path, err)
		}
		return nil
	}
}
