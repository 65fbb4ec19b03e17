package queue

import (
	"path/filepath"
	"sort"
	"time"
)

// Summary is a queued message as the queue viewer shows it.
type Summary struct {
	ID         string        `json:"id"`
	Arrival    time.Time     `json:"arrival"`
	From       string        `json:"from"`
	Recipients []RcptSummary `json:"recipients"`
}

// RcptSummary is one recipient's state in the viewer.
type RcptSummary struct {
	Addr     string `json:"address"`
	State    string `json:"state"`
	Status   string `json:"status,omitempty"`
	Diag     string `json:"last_error,omitempty"`
	Attempts int    `json:"attempts"`
}

// Inspect reads the spool at dir without a running server.
func Inspect(dir string) ([]Summary, error) {
	q := &Queue{active: filepath.Join(dir, "active")}
	ids, err := q.ids()
	if err != nil {
		return nil, err
	}
	sort.Strings(ids)
	var out []Summary
	for _, id := range ids {
		m, err := q.load(id)
		if err != nil {
			continue // being written or removed right now
		}
		s := Summary{ID: id, Arrival: m.Env.Arrival, From: m.Env.From}
		for i, r := range m.Env.Recipients {
			st := m.Status[i]
			s.Recipients = append(s.Recipients, RcptSummary{Addr: r.Addr, State: st.State.String(),
				Status: st.Status, Diag: st.Diag, Attempts: st.Attempts})
		}
		out = append(out, s)
	}
	return out, nil
}
