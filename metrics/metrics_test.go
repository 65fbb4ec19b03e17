package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"mailward/queue"
	"mailward/reply"
)

// scrape serves r's handler once and parses the exposition.
func scrape(t *testing.T, r *Recorder) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", Path, nil))
	if rec.Code != 200 {
		t.Fatalf("GET %s: %d", Path, rec.Code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, rec.Body.String())
	}
	return fams
}

// value is the sample of name with exactly these labels (counter, gauge,
// or a histogram's count); ok false when there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		if len(m.Label) != len(labels) {
			continue
		}
		for _, l := range m.Label {
			if labels[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func expect(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string, want float64) {
	t.Helper()
	if got, ok := value(fams, name, labels); !ok || got != want {
		t.Errorf("%s%v = %v (present %v), want %v", name, labels, got, ok, want)
	}
}

// Every recording method lands in its metric with its labels; a nil
// Recorder records nothing and does not panic.
func TestRecorder(t *testing.T) {
	var none *Recorder
	none.SessionOpened("x")
	none.Refused("x", "RCPT", "5.1.1")
	none.Attempt(KindLocal, time.Second, nil)
	if none.GroupCommit("spool") != nil {
		t.Error("a nil Recorder's GroupCommit observer is not nil")
	}

	r := New()
	r.SessionOpened("default")
	r.SessionOpened("default")
	r.SessionClosed("default")
	r.SessionRefused("default", RefusedMaxConnectionsPerIP)
	r.Received("default", 1000)
	r.Received("default", 24)
	r.Accepted("default")
	r.Refused("default", "RCPT", "5.1.1")
	r.Refused("default", "RCPT", "5.1.1")
	r.Refused("submission", "MAIL", "5.7.1")
	r.Auth("PLAIN", AuthFailure)
	r.Auth("X-EXPS GSSAPI", AuthSuccess)
	r.Attempt(KindRemote, 30*time.Millisecond, []queue.Result{
		{Index: 0, State: queue.Pending, Hop: "example.net", Reply: reply.FromStatus("4.4.1", "x")},
		{Index: 1, State: queue.Delivered, Hop: "example.net"},
		{Index: 2, State: queue.Failed, Hop: "example.net"}})
	r.Attempt(KindLocal, time.Millisecond, []queue.Result{{State: queue.Delivered, Hop: "local"}})
	r.DSN("failed")
	r.DSN("delayed")
	r.Event(2000)
	r.Event(2000)
	obs := r.GroupCommit("spool")
	obs(5, 2*time.Millisecond)
	obs(1, time.Millisecond)

	f := scrape(t, r)
	vs := map[string]string{"virtual_server": "default"}
	expect(t, f, "mailward_smtp_sessions_open", vs, 1)
	expect(t, f, "mailward_smtp_sessions_refused_total", map[string]string{"virtual_server": "default", "reason": "max_connections_per_ip"}, 1)
	expect(t, f, "mailward_smtp_received_bytes_total", vs, 1024)
	expect(t, f, "mailward_smtp_messages_accepted_total", vs, 1)
	expect(t, f, "mailward_smtp_messages_refused_total", map[string]string{"virtual_server": "default", "command": "RCPT", "status": "5.1.1"}, 2)
	expect(t, f, "mailward_smtp_messages_refused_total", map[string]string{"virtual_server": "submission", "command": "MAIL", "status": "5.7.1"}, 1)
	expect(t, f, "mailward_smtp_auth_total", map[string]string{"mechanism": "PLAIN", "result": "failure"}, 1)
	expect(t, f, "mailward_smtp_auth_total", map[string]string{"mechanism": "X-EXPS GSSAPI", "result": "success"}, 1)
	for _, res := range []string{"deferred", "delivered", "failed"} {
		expect(t, f, "mailward_delivery_results_total", map[string]string{"queue": "example.net", "result": res}, 1)
	}
	expect(t, f, "mailward_delivery_results_total", map[string]string{"queue": "local", "result": "delivered"}, 1)
	expect(t, f, "mailward_delivery_attempt_duration_seconds", map[string]string{"kind": "remote"}, 1)
	expect(t, f, "mailward_delivery_attempt_duration_seconds", map[string]string{"kind": "local"}, 1)
	expect(t, f, "mailward_dsn_total", map[string]string{"kind": "failed"}, 1)
	expect(t, f, "mailward_dsn_total", map[string]string{"kind": "delayed"}, 1)
	expect(t, f, "mailward_events_total", map[string]string{"id": "2000"}, 2)
	expect(t, f, "mailward_group_commit_size", map[string]string{"group": "spool"}, 2)
	expect(t, f, "mailward_group_commit_sync_duration_seconds", map[string]string{"group": "spool"}, 2)
	if h := f["mailward_group_commit_size"].Metric[0].Histogram; h.GetSampleSum() != 6 {
		t.Errorf("group commit sizes sum to %v, want 6", h.GetSampleSum())
	}
	if h := f["mailward_delivery_attempt_duration_seconds"].GetType(); h != dto.MetricType_HISTOGRAM {
		t.Errorf("attempt duration is a %v", h)
	}
}

// fakeQueue is a QueueSource with a fixed summary; it counts the calls.
type fakeQueue struct {
	s     queue.Summary
	calls int
}

func (f *fakeQueue) Summary(time.Time) queue.Summary { f.calls++; return f.s }

// The queue collector reads the summary at each scrape, and only then:
// one gauge per delivery queue, the queue without a next hop under the
// viewer's name, and the spool's totals.
func TestQueueCollector(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	src := &fakeQueue{s: queue.Summary{Messages: 3, Frozen: 1, Bytes: 3000, Hops: []queue.HopSummary{
		{Hop: "", Messages: 1, Recipients: 2, Bytes: 1000, Oldest: now.Add(-time.Minute)},
		{Hop: "example.net", Messages: 2, Recipients: 5, Bytes: 2500, Oldest: now.Add(-90 * time.Second)},
	}}}
	c := NewQueueCollector(src, "submission")
	c.now = func() time.Time { return now }
	r := New()
	r.MustRegister(c)
	if src.calls != 0 {
		t.Fatalf("the collector read the queue %d time(s) before a scrape", src.calls)
	}
	f := scrape(t, r)
	if src.calls != 1 {
		t.Errorf("one scrape read the queue %d time(s)", src.calls)
	}
	sub, net := map[string]string{"queue": "submission"}, map[string]string{"queue": "example.net"}
	expect(t, f, "mailward_queue_messages", sub, 1)
	expect(t, f, "mailward_queue_recipients", sub, 2)
	expect(t, f, "mailward_queue_size_bytes", sub, 1000)
	expect(t, f, "mailward_queue_oldest_message_age_seconds", sub, 60)
	expect(t, f, "mailward_queue_messages", net, 2)
	expect(t, f, "mailward_queue_recipients", net, 5)
	expect(t, f, "mailward_queue_size_bytes", net, 2500)
	expect(t, f, "mailward_queue_oldest_message_age_seconds", net, 90)
	expect(t, f, "mailward_spool_messages", nil, 3)
	expect(t, f, "mailward_spool_frozen_messages", nil, 1)
	expect(t, f, "mailward_spool_size_bytes", nil, 3000)

	// A queue that emptied is gone at the next scrape.
	src.s = queue.Summary{}
	f = scrape(t, r)
	if _, ok := value(f, "mailward_queue_messages", net); ok {
		t.Error("an emptied queue is still exposed")
	}
	expect(t, f, "mailward_spool_messages", nil, 0)
}
