package admin

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// maxSocketPath is the longest path a Unix socket address holds
// (sun_path is 108 bytes with its NUL).
const maxSocketPath = 107

// listen creates the admin socket at path with mode 0600. A stale socket
// (one nobody answers on) is replaced; a live one is an error, so a
// second server never steals the first one's socket.
//
// The socket is bound inside a fresh private directory (mode 0700), set
// to 0600 there and renamed into place, so there is no moment at which
// it exists at path with a wider mode, and the process umask, which
// other goroutines depend on, is never touched. When that temporary path
// would be too long for a socket address, the socket is bound at path
// directly and chmodded at once; the peer credential check (see
// peerListener) covers that short window.
func listen(path string) (*net.UnixListener, os.FileInfo, error) {
	if len(path) > maxSocketPath {
		return nil, nil, fmt.Errorf("admin: socket path %s is longer than %d bytes", path, maxSocketPath)
	}
	if err := clearStale(path); err != nil {
		return nil, nil, err
	}
	var ln *net.UnixListener
	tmpDir, err := os.MkdirTemp(filepath.Dir(path), ".admin-")
	if err == nil && len(filepath.Join(tmpDir, "s")) <= maxSocketPath {
		tmp := filepath.Join(tmpDir, "s")
		ln, err = bind(tmp)
		if err == nil {
			if err = os.Rename(tmp, path); err != nil {
				ln.Close()
				ln = nil
			}
		}
		os.RemoveAll(tmpDir)
		if err != nil {
			return nil, nil, fmt.Errorf("admin: %w", err)
		}
	} else {
		if tmpDir != "" {
			os.RemoveAll(tmpDir)
		}
		if ln, err = bind(path); err != nil {
			return nil, nil, fmt.Errorf("admin: %w", err)
		}
	}
	fi, err := os.Lstat(path)
	if err != nil {
		ln.Close()
		return nil, nil, fmt.Errorf("admin: %w", err)
	}
	return ln, fi, nil
}

// bind listens on a Unix socket at path and makes it 0600. The socket
// file is removed by Serve, not by Close (it may have been renamed).
func bind(path string) (*net.UnixListener, error) {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		os.Remove(path)
		return nil, err
	}
	return ln, nil
}

// clearStale removes a socket left at path by a server that is gone.
func clearStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("admin: %s exists and is not a socket; remove it or move the data directory", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("admin: %s is in use: another mailward is serving its admin socket", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("admin: remove stale socket: %w", err)
	}
	return nil
}

// removeIfSame removes the socket at path if it is still the one we
// created (another server may have taken the path since).
func removeIfSame(path string, created os.FileInfo) {
	fi, err := os.Lstat(path)
	if err == nil && os.SameFile(fi, created) {
		os.Remove(path)
	}
}

// peerConn is an accepted connection with its peer's credentials.
type peerConn struct {
	*net.UnixConn
	uid uint32
	pid int32
}

// peerListener refuses connections whose peer is neither root nor the
// server's own user (SO_PEERCRED), whatever the socket's mode.
type peerListener struct {
	*net.UnixListener
	self   uint32
	refuse func(uid uint32, pid int32, why string)
}

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return nil, err
		}
		cred, err := peerCred(c)
		if err != nil {
			c.Close()
			l.refuse(^uint32(0), 0, "refused: cannot read the peer's credentials: "+err.Error())
			continue
		}
		if !permitted(cred.Uid, l.self) {
			c.Close()
			l.refuse(cred.Uid, cred.Pid, fmt.Sprintf("refused: only root and the server's user (uid %d) may use the admin socket", l.self))
			continue
		}
		return &peerConn{UnixConn: c, uid: cred.Uid, pid: cred.Pid}, nil
	}
}

// permitted: root and the server's own user may use the socket.
func permitted(uid, self uint32) bool { return uid == 0 || uid == self }

// peerCred reads the credentials of the process at the other end of c.
func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, cerr
}
