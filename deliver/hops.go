package deliver

import (
	"sort"
	"sync"
	"time"
)

// LocalHop is the delivery queue of local mailboxes (Exchange's
// "mailbox delivery queue").
const LocalHop = "local"

// HopState is what the queue viewer shows of one delivery queue beside
// its messages: whether it is suspended and how its last attempt ended
// (KB979174: the "last error" of a remote delivery queue).
type HopState struct {
	Name        string    `json:"name"`
	Suspended   bool      `json:"suspended"`
	Failing     bool      `json:"failing"` // the last attempt failed temporarily
	LastError   string    `json:"last_error,omitempty"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
}

// Hops is the registry of delivery queues, one per next hop.
type Hops struct {
	mu   sync.Mutex
	hops map[string]*HopState
	// dir keeps the suspensions across a restart (hops_persist.go); ""
	// keeps them in memory only.
	dir string
}

// NewHops returns an empty registry.
func NewHops() *Hops { return &Hops{hops: map[string]*HopState{}} }

func (h *Hops) get(name string) *HopState {
	s, ok := h.hops[name]
	if !ok {
		s = &HopState{Name: name}
		h.hops[name] = s
	}
	return s
}

// Record notes the outcome of an attempt through hop name: lastErr is
// empty on success.
func (h *Hops) Record(name, lastErr string, when time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.get(name)
	s.LastAttempt = when
	s.Failing = lastErr != ""
	if lastErr != "" {
		s.LastError = lastErr
	}
}

// Suspend stops (on) or restarts (off) deliveries through a hop. With
// Persist the change is on disk before it applies; if it cannot be
// written, nothing changes.
func (h *Hops) Suspend(name string, on bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.persist(name, on); err != nil {
		return err
	}
	h.get(name).Suspended = on
	return nil
}

// Suspended reports whether deliveries through a hop are held.
func (h *Hops) Suspended(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.hops[name]
	return ok && s.Suspended
}

// Get returns a copy of one hop's state.
func (h *Hops) Get(name string) HopState {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s, ok := h.hops[name]; ok {
		return *s
	}
	return HopState{Name: name}
}

// All returns every known hop, by name.
func (h *Hops) All() []HopState {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]HopState, 0, len(h.hops))
	for _, s := range h.hops {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
