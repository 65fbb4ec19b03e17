package smtp_test

import (
	"bufio"
	"encoding/base64"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"mailward/internal/testkit"
	"mailward/metrics"
	"mailward/smtp"
)

// metricValue scrapes rec and returns the sample of name whose labels
// are exactly labels (name=value pairs); -1 when there is none.
func metricValue(t *testing.T, rec *metrics.Recorder, name string, labels ...string) float64 {
	t.Helper()
	w := httptest.NewRecorder()
	rec.Handler().ServeHTTP(w, httptest.NewRequest("GET", metrics.Path, nil))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(w.Body.String()))
	if err != nil {
		t.Fatal(err)
	}
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		if len(m.Label)*2 != len(labels) {
			continue
		}
		for _, l := range m.Label {
			found := false
			for j := 0; j+1 < len(labels); j += 2 {
				if labels[j] == l.GetName() && labels[j+1] == l.GetValue() {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		if m.Counter != nil {
			return m.Counter.GetValue()
		}
		return m.Gauge.GetValue()
	}
	return -1
}

// The session loop counts what it answers: an accepted message and its
// octets, refusals of MAIL/RCPT/DATA by enhanced status (not other
// commands' errors, not a 421), an AUTH failure by mechanism, the open
// sessions, and a connection refused over the per-address limit.
func TestSessionMetrics(t *testing.T) {
	rec := metrics.New()
	ts := startServer(t, `name = "default"
auth = ["PLAIN"]
auth_plaintext = true
max_connections_per_ip = 1`, func(o *smtp.Options) { o.Metrics = rec })
	wrong := base64.StdEncoding.EncodeToString([]byte("\x00alice@example.test\x00wrong"))
	msg := "Subject: hi\r\n\r\nbody\r\n"
	play(t, ts.addr, greeting+`
C: HELO client.test
S~ 250 .*
C: DATA
S~ 503 5\.5\.1 .*
C: MAIL FROM:<someone@elsewhere.test>
S~ 250 .*
C: RCPT TO:<nobody@example.test>
S~ 550 5\.1\.1 .*
C: RCPT TO:<someone@elsewhere.test>
S~ 550 5\.7\.1 .*
C: RCPT TO:<alice@example.test>
S~ 250 .*
C: DATA
S~ 354 .*
W: `+strings.ReplaceAll(strings.ReplaceAll(msg, "\r", `\r`), "\n", `\n`)+`.\r\n
S~ 250 2\.6\.0 .*
C: FROBNICATE
S~ 500 .*
C: QUIT
S~ 221 .*
`)
	vs := []string{"virtual_server", "default"}
	// AUTH after EHLO, whose lines are not the point here.
	testkit.WaitFor(t, 5*time.Second, "the first session closed", func() bool {
		return metricValue(t, rec, "mailward_smtp_sessions_open", vs...) == 0
	})
	c := dialGreeted(t, ts.addr)
	r := bufio.NewReader(c)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("EHLO client.test\r\n"))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "250 ") {
			break
		}
	}
	c.Write([]byte("AUTH PLAIN " + wrong + "\r\n"))
	if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, "535 ") {
		t.Errorf("AUTH with a wrong password: %q", line)
	}
	c.Close()
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"mailward_smtp_messages_accepted_total", vs, 1},
		{"mailward_smtp_received_bytes_total", vs, float64(len(msg))},
		{"mailward_smtp_messages_refused_total", append(vs, "command", "RCPT", "status", "5.1.1"), 1},
		{"mailward_smtp_messages_refused_total", append(vs, "command", "RCPT", "status", "5.7.1"), 1},
		{"mailward_smtp_messages_refused_total", append(vs, "command", "DATA", "status", "5.5.1"), 1},
		{"mailward_smtp_auth_total", []string{"mechanism", "PLAIN", "result", "failure"}, 1},
	} {
		if got := metricValue(t, rec, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// Only those three refusals: FROBNICATE's 500 and AUTH's 535 are not
	// a transaction's.
	w := httptest.NewRecorder()
	rec.Handler().ServeHTTP(w, httptest.NewRequest("GET", metrics.Path, nil))
	if n := strings.Count(w.Body.String(), "\nmailward_smtp_messages_refused_total{"); n != 3 {
		t.Errorf("%d refusal series, want 3:\n%s", n, w.Body.String())
	}

	// One session held open; a second from the same address is refused
	// before the greeting (421, not a message refusal).
	testkit.WaitFor(t, 5*time.Second, "the first session closed", func() bool {
		return metricValue(t, rec, "mailward_smtp_sessions_open", vs...) == 0
	})
	c1 := dialGreeted(t, ts.addr)
	defer c1.Close()
	if v := metricValue(t, rec, "mailward_smtp_sessions_open", vs...); v != 1 {
		t.Errorf("sessions open with one client: %v", v)
	}
	c2, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetDeadline(time.Now().Add(5 * time.Second))
	if line, _ := bufio.NewReader(c2).ReadString('\n'); !strings.HasPrefix(line, "421 ") {
		t.Fatalf("second connection: %q, want 421", line)
	}
	if v := metricValue(t, rec, "mailward_smtp_sessions_refused_total", append(vs, "reason", "max_connections_per_ip")...); v != 1 {
		t.Errorf("sessions refused per address: %v, want 1", v)
	}
	c1.Close()
	testkit.WaitFor(t, 5*time.Second, "no session open", func() bool {
		return metricValue(t, rec, "mailward_smtp_sessions_open", vs...) == 0
	})
}
