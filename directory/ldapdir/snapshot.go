package ldapdir

import (
	"context"
	"fmt"
	"sync"
	"time"

	"mailward/directory"
)

// Snapshot keeps a running server's copy of the organization read from
// LDAP: the whole organization, read again every TTL (docs/directory.md
// says why a snapshot and not per-address queries). While the directory
// cannot be read the last copy keeps serving until it is StaleTTL old;
// after that Err reports the outage and lookups answer 451 4.3.0 (RCPT)
// and 454 4.7.0 (organization authentication), never a 550 or a relay.
type Snapshot struct {
	// Load reads the organization.
	Load func() (*directory.Org, error)
	// Check judges a newly read organization; a copy it refuses is not
	// used (the last good one keeps serving) and counts as a failure.
	Check func(*directory.Org) error
	// Apply puts a newly read organization in force.
	Apply func(*directory.Org)
	// TTL is how often the directory is read; StaleTTL how long after
	// the last good read the copy still serves.
	TTL, StaleTTL time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Report is told of every change of state (may be nil).
	Report func(State)

	mu      sync.Mutex
	loaded  time.Time // of the copy in force
	failing error     // the last read's failure, nil after a good one
	expired bool
}

// State is what Report is told.
type State struct {
	// Kind is "failing" (serving the cached copy), "expired" (lookups
	// fail) or "recovered".
	Kind      string
	Err       error
	Loaded    time.Time
	StaleTill time.Time
}

func (s *Snapshot) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Start records that the copy in force (read at start, applied by the
// caller) is fresh now.
func (s *Snapshot) Start() {
	s.mu.Lock()
	s.loaded = s.now()
	s.mu.Unlock()
}

// Refresh reads the directory once and, when it can, puts the new copy
// in force.
func (s *Snapshot) Refresh() error {
	org, err := s.Load()
	if err == nil && s.Check != nil {
		err = s.Check(org)
	}
	s.mu.Lock()
	now := s.now()
	var report *State
	if err != nil {
		if s.failing == nil {
			report = &State{Kind: "failing", Err: err, Loaded: s.loaded, StaleTill: s.loaded.Add(s.StaleTTL)}
		}
		s.failing = err
		if !s.expired && now.Sub(s.loaded) >= s.StaleTTL {
			s.expired = true
			report = &State{Kind: "expired", Err: err, Loaded: s.loaded, StaleTill: s.loaded.Add(s.StaleTTL)}
		}
	} else {
		if s.failing != nil {
			report = &State{Kind: "recovered", Loaded: now}
		}
		s.failing, s.expired, s.loaded = nil, false, now
	}
	s.mu.Unlock()
	if err == nil {
		s.Apply(org)
	}
	if report != nil && s.Report != nil {
		s.Report(*report)
	}
	return err
}

// Err is nil while the copy in force may serve: read less than StaleTTL
// ago, or the last read worked. Otherwise it wraps
// directory.ErrUnavailable with the last failure.
func (s *Snapshot) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing == nil || s.now().Sub(s.loaded) < s.StaleTTL {
		return nil
	}
	return fmt.Errorf("%w: LDAP unreachable since the copy of %s expired: %v", directory.ErrUnavailable,
		s.loaded.Format(time.RFC3339), s.failing)
}

// Run refreshes every TTL until ctx ends; while the directory fails it
// tries again sooner (every TTL/4, at least a second), to recover fast.
func (s *Snapshot) Run(ctx context.Context) {
	for {
		wait := s.TTL
		s.mu.Lock()
		if s.failing != nil {
			wait = max(s.TTL/4, time.Second)
		}
		s.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		s.Refresh()
	}
}
