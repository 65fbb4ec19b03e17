package events

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Filter selects records for Read.
type Filter struct {
	ID    int       // 0: any
	Since time.Time // zero: any
}

// Read returns the records of an event log file that match f, oldest
// first. Lines that are not valid records (a torn write at a crash) are
// skipped.
func Read(path string, f Filter) ([]Record, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	defer fh.Close()
	var out []Record
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
