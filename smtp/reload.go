package smtp

import (
	"context"
	"log/slog"

	"mailward/events"
)

// current is one generation of a virtual server's options: every session
// takes the one in force when its client connects and keeps it to the
// end, so that a reload never changes the rules of a conversation
// half-way (a limit, the relay rules, the mechanisms offered in EHLO,
// the certificate of a STARTTLS yet to come). docs/configuration.md,
// "Reloading".
type current struct {
	opt Options
	log *slog.Logger
}

// newCurrent fills in the defaults of opt. The event log and the
// logger stay those of the first generation (prev): a reload does not
// reopen them.
func newCurrent(opt Options, prev *current) *current {
	if prev != nil {
		opt.Events, opt.Logger = prev.opt.Events, prev.opt.Logger
	}
	if opt.Events == nil {
		opt.Events = events.Discard()
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Sleep == nil {
		opt.Sleep = sleepCtx
	}
	if opt.AuthGuard == nil {
		opt.AuthGuard = NewAuthGuard(AuthLimits{})
		if prev != nil {
			// The virtual server's own memory of failed logins
			// survives the reload.
			opt.AuthGuard = prev.opt.AuthGuard
		}
	}
	return &current{opt: opt, log: opt.Logger.With("virtual_server", opt.Settings.Name)}
}

// Update gives the sessions that connect from now on new options (a
// reload); those in progress finish on the options they started with.
// The listener is not touched: a virtual server whose address is
// unchanged keeps accepting without a gap.
func (s *Server) Update(opt Options) {
	s.cur.Store(newCurrent(opt, s.cur.Load()))
}

// Sessions is the number of sessions in progress.
func (s *Server) Sessions() int { return int(s.active.Load()) }

// Retire stops accepting (a reload removed or moved the virtual server):
// the listening socket closes at once, and Serve returns when the
// sessions in progress have ended on their own, as they would have
// without the reload. If Serve's context ends first (the server stops),
// they are drained as at any stop.
func (s *Server) Retire() {
	s.mu.Lock()
	s.retired.Store(true)
	ln := s.ln
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
}

// waitRetired waits for the sessions of a retired server to end (done),
// and reports true; false if ctx ended first, and they must be drained.
func (s *Server) waitRetired(ctx context.Context, done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}
