package e2e

// Prometheus /metrics of a real mailward process after a known load
// (docs/metrics.md).

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"mailward/internal/testkit"
)

// scrapeMetrics GETs url and parses the exposition with expfmt.
func scrapeMetrics(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// sample is the value of name with exactly these labels (a histogram's
// count); -1 when there is no such series.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, m := range f.Metric {
		if len(m.Label) != len(want) {
			continue
		}
		for _, l := range m.Label {
			if v, ok := want[l.GetName()]; !ok || v != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// TestMetricsAfterKnownLoad: 5 messages accepted (3 local, one deferred
// once by KB979174's 454 then delivered, one refused by the next hop and
// bounced), 2 recipients refused, an AUTH failure; the scrape counts
// exactly that, its bytes agree with the events, a session held open is
// a gauge of 1, and a message held by a suspended queue shows in the
// queue's gauges.
func TestMetricsAfterKnownLoad(t *testing.T) {
	d := startDNS(t)
	oneMX(d)
	mx1, port := oneFake(t)
	cfg := remoteConfig(d.Addr, port)
	cfg.Metrics = &testkit.Metrics{Address: freeAddr(t)}
	cfg.Mailboxes[0].PasswordHash = bcryptHash(t, "right-password")
	vs := &cfg.VirtualServers[0]
	vs.Auth, vs.AuthPlaintext = []string{"PLAIN"}, true
	s := startServer(t, cfg)
	url := "http://" + cfg.Metrics.Address + "/metrics"

	// A deferral (454 once), then the delivery on the 1 s retry.
	mx1.SetHandler(flaky(1, authFail454))
	deferred := relayMsg(t, s, "<alice@example.test>", "<bob@remote.test>", "deferred once")
	waitEvents(t, s, 3000, deferred, 1, 15*time.Second)
	// A permanent refusal by the next hop: an NDR to alice.
	mx1.SetHandler(refuseAt("RCPT", "550 5.1.1 <carol@remote.test>: no such user"))
	bounced := relayMsg(t, s, "<alice@example.test>", "<carol@remote.test>", "bounced")
	waitEvents(t, s, 4000, bounced, 1, 15*time.Second)
	// Three local messages; two unknown recipients; a wrong password.
	for i := 0; i < 3; i++ {
		relayMsg(t, s, "<postmaster@example.test>", "<alice@example.test>", fmt.Sprintf("local %d", i))
	}
	c := dial(t, s.Addr)
	c.expect("EHLO client.test", 250)
	c.expect("MAIL FROM:<postmaster@example.test>", 250)
	c.expect("RCPT TO:<nobody@example.test>", 550)
	c.expect("RCPT TO:<nobody2@example.test>", 550)
	c.expect("RSET", 250)
	auth := base64.StdEncoding.EncodeToString([]byte("\x00alice@example.test\x00wrong-password"))
	c.expect("AUTH PLAIN "+auth, 535)
	// The session stays open: one open session.
	f := scrapeMetrics(t, url)
	if v := sample(f, "mailward_smtp_sessions_open", "virtual_server", "default"); v != 1 {
		t.Errorf("sessions open with one client connected: %v, want 1", v)
	}
	c.cmdErr("QUIT")
	c.Close()
	settle(t, s)
	testkit.WaitFor(t, 10*time.Second, "no session open", func() bool {
		return sample(scrapeMetrics(t, url), "mailward_smtp_sessions_open", "virtual_server", "default") == 0
	})

	f = scrapeMetrics(t, url)
	var octets float64
	for _, r := range s.Events(2000) {
		n, _ := strconv.ParseFloat(r.Fields["size"], 64)
		octets += n
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"mailward_smtp_messages_accepted_total", []string{"virtual_server", "default"}, 5},
		{"mailward_smtp_messages_refused_total", []string{"virtual_server", "default", "command", "RCPT", "status", "5.1.1"}, 2},
		{"mailward_smtp_received_bytes_total", []string{"virtual_server", "default"}, octets},
		{"mailward_smtp_auth_total", []string{"mechanism", "PLAIN", "result", "failure"}, 1},
		{"mailward_delivery_results_total", []string{"queue", "remote.test", "result", "deferred"}, 1},
		{"mailward_delivery_results_total", []string{"queue", "remote.test", "result", "delivered"}, 1},
		{"mailward_delivery_results_total", []string{"queue", "remote.test", "result", "failed"}, 1},
		// The three local messages and the NDR.
		{"mailward_delivery_results_total", []string{"queue", "local", "result", "delivered"}, 4},
		{"mailward_delivery_attempt_duration_seconds", []string{"kind", "remote"}, 3},
		{"mailward_delivery_attempt_duration_seconds", []string{"kind", "local"}, 4},
		{"mailward_dsn_total", []string{"kind", "failed"}, 1},
		{"mailward_events_total", []string{"id", "2000"}, 5},
		{"mailward_events_total", []string{"id", "4000"}, 1},
		{"mailward_events_total", []string{"id", "1030"}, 1},
		{"mailward_spool_messages", nil, 0},
	} {
		if got := sample(f, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if octets < 5*100 {
		t.Errorf("events 2000 sum up to %v octets for 5 messages", octets)
	}
	if n := sample(f, "mailward_group_commit_size", "group", "spool"); n < 1 {
		t.Errorf("no group commit of the spool observed (%v)", n)
	}
	if n := mx1.Count(); n != 1 {
		t.Errorf("the next hop took %d message(s), want 1", n)
	}

	// A message held by a suspended queue: the queue's gauges at scrape.
	queueCLI(t, s, "suspend", "remote.test")
	held := relayMsg(t, s, "<alice@example.test>", "<dave@remote.test>", "held")
	waitEvents(t, s, 3001, held, 1, 10*time.Second)
	f = scrapeMetrics(t, url)
	if v := sample(f, "mailward_queue_messages", "queue", "remote.test"); v != 1 {
		t.Errorf("mailward_queue_messages{queue=remote.test} = %v, want 1", v)
	}
	if v := sample(f, "mailward_queue_size_bytes", "queue", "remote.test"); v < 100 {
		t.Errorf("mailward_queue_size_bytes{queue=remote.test} = %v", v)
	}
	if v := sample(f, "mailward_queue_oldest_message_age_seconds", "queue", "remote.test"); v < 0 || v > 60 {
		t.Errorf("oldest age %v s", v)
	}
	if v := sample(f, "mailward_spool_messages"); v != 1 {
		t.Errorf("mailward_spool_messages = %v, want 1", v)
	}
}
