package queue

import (
	"path/filepath"
	"sort"
)

// Inspect reads the spool at dir without a running server, in the same
// form the running queue's Messages gives (the queue viewer's fallback).
func Inspect(dir string) ([]View, error) {
	q := &Queue{active: filepath.Join(dir, "active")}
	ids, err := q.ids()
	if err != nil {
		return nil, err
	}
	sort.Strings(ids)
	var out []View
	for _, id := range ids {
		m, err := q.readMessage(id)
		if err != nil {
			continue // being written or removed right now
		}
		v := m.view()
		v.Frozen = m.frozen
		out = append(out, v)
	}
	return out, nil
}
