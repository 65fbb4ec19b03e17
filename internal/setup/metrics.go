package setup

import (
	"mailward/admin"
	"mailward/metrics"
)

// newMetrics is the Recorder when [metrics] has an address, else nil:
// every stage then records nothing (docs/metrics.md).
func (s *Stages) newMetrics() {
	if s.Config.Metrics.Address == "" {
		return
	}
	s.Metrics = metrics.New()
}

// instrument hands the Recorder to the stages Open made, before anything
// is received or delivered. The event log's counter is set as soon as
// the log exists (Open), so that the events of the start count too.
func (s *Stages) instrument() {
	m := s.Metrics
	if m == nil {
		return
	}
	s.Remote.Metrics = m
	s.Categorizer.Metrics = m
	s.Bouncer.Metrics = m
	spool := s.Queue.SyncGroup()
	spool.Observe = m.GroupCommit("spool")
	if b := s.Maildir.FSSync; b != nil && b != spool {
		b.Observe = m.GroupCommit("mailboxes")
	}
	// The queue viewer's name for recipients without a next hop.
	m.MustRegister(metrics.NewQueueCollector(s.Queue, admin.SubmissionQueue))
}
