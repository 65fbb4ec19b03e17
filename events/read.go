package events

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Filter selects records for Read.
type Filter struct {
	ID    int       // 0: any
	Since time.Time // zero: any
}

// Read returns the records of an event log that match f, oldest first: the
// rotated files path.N ... path.1, then path itself. Lines that are not
// valid records (a torn write at a crash) are skipped. It is an error only
// when none of the files exists.
func Read(path string, f Filter) ([]Record, error) {
	files, err := openRotated(path)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, fh := range files {
			fh.Close()
		}
	}()
	var out []Record
	for i := len(files) - 1; i >= 0; i-- {
		// A file last written before f.Since holds no record at or
		// after it: skip it unread (the Event Viewer's and a message
		// history's time filter, docs/web-admin.md).
		if st, err := files[i].Stat(); err == nil && !f.Since.IsZero() && st.ModTime().Before(f.Since) {
			continue
		}
		if out, err = readFile(files[i], f, out); err != nil {
			return nil, fmt.Errorf("events: %s: %w", files[i].Name(), err)
		}
	}
	return out, nil
}

// openRotated opens path and its rotated files (path.1, path.2, ... as
// the directory lists them), newest first. A file that a concurrent
// rotation renamed between the listing and its opening is met again under
// its next name and skipped (same inode), so no record is read twice; such
// a rotation can only make the walk miss the oldest file.
func openRotated(path string) ([]*os.File, error) {
	var files []*os.File
	var infos []os.FileInfo
	fail := func(err error) ([]*os.File, error) {
		for _, fh := range files {
			fh.Close()
		}
		return nil, fmt.Errorf("events: %w", err)
	}
	// The current file is missing for a moment during a rotation; then
	// path.1 holds its records.
	names := []string{path}
	for _, i := range rotatedIndices(path) {
		names = append(names, rotatedName(path, i))
	}
	for _, name := range names {
		fh, err := os.Open(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fail(err)
		}
		st, err := fh.Stat()
		if err != nil {
			fh.Close()
			return fail(err)
		}
		if slices.ContainsFunc(infos, func(o os.FileInfo) bool { return os.SameFile(o, st) }) {
			fh.Close()
			continue
		}
		files, infos = append(files, fh), append(infos, st)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("events: open %s: %w", path, fs.ErrNotExist)
	}
	return files, nil
}

// rotatedIndices lists the N of the files path.N in path's directory,
// in increasing order (newest first), at most maxRotated of them.
func rotatedIndices(path string) []int {
	ents, _ := os.ReadDir(filepath.Dir(path))
	prefix := filepath.Base(path) + "."
	var out []int
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || rest == "" || rest[0] == '0' {
			continue
		}
		if n, err := strconv.Atoi(rest); err == nil && n > 0 && strconv.Itoa(n) == rest {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	if len(out) > maxRotated {
		out = out[:maxRotated]
	}
	return out
}

func readFile(fh *os.File, f Filter, out []Record) ([]Record, error) {
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r Record
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		if f.ID != 0 && r.ID != f.ID {
			continue
		}
		if !f.Since.IsZero() && r.Time.Before(f.Since) {
			continue
		}
		out = append(out, r)
	}
	return out, sc.Err()
}
