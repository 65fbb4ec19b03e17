package contentfilter

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
)

// The envelope goes to rspamd as its protocol's headers, one Rcpt per
// recipient, and the message as the body of POST /checkv2.
func TestCheckSendsEnvelopeAsHeaders(t *testing.T) {
	var got *http.Request
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got, body = r, string(b)
		io.WriteString(w, `{"is_skipped":false,"score":7.5,"required_score":15.0,"action":"add header","symbols":{"B":{},"A":{}}}`)
	}))
	defer srv.Close()
	c := NewClient(srv.URL+"/", time.Second)
	env := Envelope{QueueID: "Q1", From: "erin@partner.test", Rcpts: []string{"alice@example.test", "bob@example.test"},
		IP: netip.MustParseAddr("192.0.2.7"), Helo: "mail.partner.test", User: "alice"}
	v, err := c.Check(context.Background(), env, []byte("Subject: x\r\n\r\nhello\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if v.Score != 7.5 || v.Action != "add header" || v.Required != 15 || !slices.Equal(v.Symbols, []string{"A", "B"}) {
		t.Errorf("verdict %+v", v)
	}
	h := got.Header
	if got.Method != "POST" || got.URL.Path != "/checkv2" || body != "Subject: x\r\n\r\nhello\r\n" {
		t.Errorf("request %s %s body %q", got.Method, got.URL.Path, body)
	}
	for k, want := range map[string]string{"From": "erin@partner.test", "IP": "192.0.2.7", "Helo": "mail.partner.test",
		"User": "alice", "Queue-Id": "Q1"} {
		if h.Get(k) != want {
			t.Errorf("header %s = %q, want %q", k, h.Get(k), want)
		}
	}
	if r := h.Values("Rcpt"); !slices.Equal(r, []string{"alice@example.test", "bob@example.test"}) {
		t.Errorf("Rcpt headers %q", r)
	}
	if _, ok := h["Hostname"]; ok {
		t.Error("Hostname sent although unknown")
	}
}

// Every way rspamd can fail is an *Error, and a slow rspamd is given up
// on at the timeout, not waited for.
func TestCheckFailures(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("Queue-Id") {
		case "status":
			http.Error(w, "Message has no body", http.StatusBadRequest)
		case "json":
			io.WriteString(w, "<html>not rspamd</html>")
		case "error":
			io.WriteString(w, `{"error":"cannot parse input"}`)
		case "empty":
			io.WriteString(w, `{}`)
		case "slow":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	defer srv.Close()
	defer close(release)
	c := NewClient(srv.URL, 300*time.Millisecond)
	for _, id := range []string{"status", "json", "error", "empty", "slow"} {
		start := time.Now()
		_, err := c.Check(context.Background(), Envelope{QueueID: id}, []byte("x"))
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: error %v, want *Error", id, err)
			continue
		}
		if id == "slow" {
			if !e.Timeout() {
				t.Errorf("slow: %v is not a timeout", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("slow: gave up after %s", d)
			}
		}
	}
	// Nothing listening: connection refused.
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	if _, err := NewClient(url, time.Second).Check(context.Background(), Envelope{}, []byte("x")); err == nil || !strings.Contains(err.Error(), "rspamd scan") {
		t.Errorf("closed port: %v", err)
	}
}

func TestMapping(t *testing.T) {
	m := Mapping(DefaultScores)
	for score, want := range map[float64]int{-5: 0, 0: 0, 0.99: 0, 1: 1, 3.9: 2, 6: 4, 7.5: 4, 14.99: 6, 15: 7, 29: 8, 30: 9, 1000: 9} {
		if got := m.SCL(score); got != want {
			t.Errorf("SCL(%v) = %d, want %d", score, got, want)
		}
	}
}

// Against a real rspamd: GTUBE is its reject at 15 (SCL 7, the default
// gateway threshold), the tests' score header gives a score between,
// and a plain message scores 0.
func TestCheckRealRspamd(t *testing.T) {
	r := testkit.SharedRspamd(t)
	c := NewClient(r.URL, 5*time.Second)
	env := Envelope{From: "erin@partner.test", Rcpts: []string{"alice@example.test"}, IP: netip.MustParseAddr("127.0.0.1"), Helo: "client.test"}
	for _, tc := range []struct {
		msg    string
		action string
		scl    int
	}{
		{"Subject: spam\r\n\r\n" + testkit.GTUBE + "\r\n", "reject", 7},
		{"Subject: junk\r\n" + testkit.ScoreHeader + ": 7.5\r\n\r\nhello\r\n", "add header", 4},
		{"Subject: hello\r\n\r\nhello\r\n", "no action", 0},
	} {
		v, err := c.Check(context.Background(), env, []byte(tc.msg))
		if err != nil {
			t.Fatal(err)
		}
		if v.Action != tc.action || Mapping(DefaultScores).SCL(v.Score) != tc.scl {
			t.Errorf("%q: %+v, want %s and SCL %d", tc.msg, v, tc.action, tc.scl)
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	testkit.StopSharedRspamd()
	os.Exit(code)
}
