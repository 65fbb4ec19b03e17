package deliver

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"mailward/internal/durable"
)

// A suspension outlives a restart: an administrator who held a queue
// (a next hop that misbehaves) expects it still held after the server
// restarts, as Exchange keeps a suspended queue suspended. Each suspended
// hop is an empty file in a directory (<data_dir>/queue/suspended/, see
// docs/queue.md) named after the hop, created when the queue is suspended
// and removed when it is resumed, the directory fsynced each time.

// Persist makes suspensions durable in dir (created if missing) and
// restores the ones found there; it returns the hops it restored. Call it
// before the server delivers anything.
func (h *Hops) Persist(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("suspended queues: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("suspended queues: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dir = dir
	var restored []string
	for _, e := range ents {
		name, err := url.PathUnescape(e.Name())
		if err != nil || e.IsDir() || strings.HasPrefix(e.Name(), ".tmp") {
			continue
		}
		h.get(name).Suspended = true
		restored = append(restored, name)
	}
	return restored, nil
}

// hopFile names a hop's file: path-escaped, so that "/" cannot leave the
// directory, and a leading dot escaped, so that "." and ".." are names
// like the others.
func hopFile(name string) string {
	f := url.PathEscape(name)
	if strings.HasPrefix(f, ".") {
		f = "%2E" + f[1:]
	}
	return f
}

// persist writes or removes name's file (under h.mu).
func (h *Hops) persist(name string, on bool) error {
	if h.dir == "" {
		return nil
	}
	p := filepath.Join(h.dir, hopFile(name))
	if on {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("suspend %s: %w", name, err)
		}
		f.Close()
	} else if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("resume %s: %w", name, err)
	}
	if err := durable.FsyncPath(h.dir); err != nil {
		return fmt.Errorf("suspended queues: fsync %s: %w", h.dir, err)
	}
	return nil
}
