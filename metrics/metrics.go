// Package metrics is mailward's Prometheus instrumentation: the counters,
// gauges and histograms of docs/metrics.md, in a registry of its own,
// served as the text exposition by Handler.
//
// The stages take a *Recorder as a plain value and call its methods at
// the points they already own (the session loop's one place that writes
// replies, the acceptance of a message, a delivery attempt per next hop,
// a notice queued, an event emitted, a group commit). A nil *Recorder
// records nothing, so the stages and their tests need no metrics. Only
// this package imports client_golang.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"mailward/queue"
)

// Recorder holds every metric and the registry they are in.
type Recorder struct {
	reg *prometheus.Registry

	sessionsOpen    *prometheus.GaugeVec
	sessionsRefused *prometheus.CounterVec
	accepted        *prometheus.CounterVec
	refused         *prometheus.CounterVec
	received        *prometheus.CounterVec
	auth            *prometheus.CounterVec
	deliveries      *prometheus.CounterVec
	attemptSeconds  *prometheus.HistogramVec
	dsns            *prometheus.CounterVec
	events          *prometheus.CounterVec
	groupSize       *prometheus.HistogramVec
	syncSeconds     *prometheus.HistogramVec
}

// New returns a Recorder with its own registry. It is not the global
// default registry: nothing a library registers there is exposed, two
// servers (or tests) in one process do not collide, and every metric
// served is one docs/metrics.md lists.
func New() *Recorder {
	r := &Recorder{reg: prometheus.NewRegistry()}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		r.reg.MustRegister(c)
		return c
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
		r.reg.MustRegister(h)
		return h
	}
	r.sessionsOpen = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mailward_smtp_sessions_open",
		Help: "SMTP sessions open now, by virtual server."}, []string{"virtual_server"})
	r.reg.MustRegister(r.sessionsOpen)
	r.sessionsRefused = counter("mailward_smtp_sessions_refused_total",
		"SMTP connections refused before the greeting, by virtual server and reason.", "virtual_server", "reason")
	r.accepted = counter("mailward_smtp_messages_accepted_total",
		"Messages accepted (250 after the data: on disk), by virtual server.", "virtual_server")
	r.refused = counter("mailward_smtp_messages_refused_total",
		"Negative replies (4xx other than 421, and 5xx) to MAIL, RCPT, DATA and BDAT, by virtual server, command and enhanced status.",
		"virtual_server", "command", "status")
	r.received = counter("mailward_smtp_received_bytes_total",
		"Octets of message data received whole (accepted or refused after the data), by virtual server.", "virtual_server")
	r.auth = counter("mailward_smtp_auth_total",
		"Authentication attempts (AUTH, X-EXPS), by mechanism and result (success, failure, error).", "mechanism", "result")
	r.deliveries = counter("mailward_delivery_results_total",
		"Recipients attempted, by delivery queue (next hop) and result (delivered, deferred, failed).", "queue", "result")
	r.attemptSeconds = histogram("mailward_delivery_attempt_duration_seconds",
		"Time one delivery attempt through one delivery queue took, by kind (local, remote).",
		[]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}, "kind")
	r.dsns = counter("mailward_dsn_total",
		"Delivery status notifications queued, by kind (the RFC 3464 action: failed, delayed, delivered, relayed, expanded).", "kind")
	r.events = counter("mailward_events_total",
		"Events emitted at the current diagnostic levels, by event ID (docs/events.md).", "id")
	r.groupSize = histogram("mailward_group_commit_size",
		"Callers one flush of a group commit served, by group (spool, mailboxes).",
		[]float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}, "group")
	r.syncSeconds = histogram("mailward_group_commit_sync_duration_seconds",
		"Time one flush (syncfs or fsync) of a group commit took, by group.",
		[]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}, "group")
	return r
}

// Handler serves the registry's metrics in the Prometheus text format;
// mount it at /metrics on any listener (its own, or an admin one).
func (r *Recorder) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{MaxRequestsInFlight: 4, Timeout: 10 * time.Second})
}

// MustRegister adds a collector (the queue's, NewQueueCollector).
func (r *Recorder) MustRegister(c prometheus.Collector) { r.reg.MustRegister(c) }

// SessionOpened and SessionClosed bracket one SMTP session.
func (r *Recorder) SessionOpened(vs string) {
	if r != nil {
		r.sessionsOpen.WithLabelValues(vs).Inc()
	}
}

func (r *Recorder) SessionClosed(vs string) {
	if r != nil {
		r.sessionsOpen.WithLabelValues(vs).Dec()
	}
}

// Reasons a connection is refused before the greeting.
const (
	RefusedMaxConnections      = "max_connections"
	RefusedMaxConnectionsPerIP = "max_connections_per_ip"
	RefusedConnectionFilter    = "connection_filter"
)

// SessionRefused counts a connection refused before the greeting.
func (r *Recorder) SessionRefused(vs, reason string) {
	if r != nil {
		r.sessionsRefused.WithLabelValues(vs, reason).Inc()
	}
}

// Received counts the octets of a message read whole.
func (r *Recorder) Received(vs string, octets int64) {
	if r != nil && octets > 0 {
		r.received.WithLabelValues(vs).Add(float64(octets))
	}
}

// Accepted counts a message committed to the queue and acknowledged.
func (r *Recorder) Accepted(vs string) {
	if r != nil {
		r.accepted.WithLabelValues(vs).Inc()
	}
}

// Refused counts a negative reply to a transaction's command. status
// is the reply's enhanced status code (its class's own when the reply
// had none), which says why in a bounded set of values.
func (r *Recorder) Refused(vs, command, status string) {
	if r != nil {
		r.refused.WithLabelValues(vs, command, status).Inc()
	}
}

// Auth results.
const (
	AuthSuccess = "success"
	AuthFailure = "failure" // wrong credentials or ticket
	AuthError   = "error"   // could not be checked (454)
)

// Auth counts an authentication attempt.
func (r *Recorder) Auth(mechanism, result string) {
	if r != nil {
		r.auth.WithLabelValues(mechanism, result).Inc()
	}
}

// Delivery kinds.
const (
	KindLocal  = "local"
	KindRemote = "remote"
)

// Attempt records one delivery attempt through one delivery queue: how
// long it took and each recipient's result.
func (r *Recorder) Attempt(kind string, took time.Duration, results []queue.Result) {
	if r == nil {
		return
	}
	r.attemptSeconds.WithLabelValues(kind).Observe(took.Seconds())
	for _, res := range results {
		r.deliveries.WithLabelValues(res.Hop, resultWord(res.State)).Inc()
	}
}

func resultWord(s queue.State) string {
	switch s {
	case queue.Delivered:
		return "delivered"
	case queue.Failed:
		return "failed"
	}
	return "deferred"
}

// DSN counts a delivery status notification queued; kind is its RFC 3464
// action.
func (r *Recorder) DSN(kind string) {
	if r != nil {
		r.dsns.WithLabelValues(kind).Inc()
	}
}

// Event counts an event; events.Log calls it for every event its
// diagnostic levels let through (SetCounter).
func (r *Recorder) Event(id int) {
	if r != nil {
		r.events.WithLabelValues(strconv.Itoa(id)).Inc()
	}
}

// GroupCommit returns the observer of one group commit (durable.Group's
// Observe) named group.
func (r *Recorder) GroupCommit(group string) func(callers int, took time.Duration) {
	if r == nil {
		return nil
	}
	size, secs := r.groupSize.WithLabelValues(group), r.syncSeconds.WithLabelValues(group)
	return func(callers int, took time.Duration) {
		size.Observe(float64(callers))
		secs.Observe(took.Seconds())
	}
}
