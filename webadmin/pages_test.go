package webadmin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"mailward/diag"
	"mailward/directory"
	"mailward/events"
)

// pageServer is a web administration over a real event log file (no
// queue), with one logged-in session.
func pageServer(t *testing.T, o Options) (*Server, *session, *events.Log) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.log")
	ev, err := events.OpenLog(nil, map[string]events.Level{}, path, events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ev.Close() })
	o.Events, o.EventLogPath, o.Categories = ev, path, []string{"service", "queue", "delivery"}
	s := New(o)
	return s, s.sessions.create("admin"), ev
}

func do(s *Server, sess *session, method, target string, form url.Values) *httptest.ResponseRecorder {
	var req *http.Request
	if method == http.MethodPost {
		form.Set(CSRFField, sess.csrf)
		req = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	req.AddCookie(&http.Cookie{Name: CookieName, Value: sess.id})
	req.RemoteAddr = "192.0.2.9:5555"
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}

// TestEventViewerFilters: ID, category, severity and text filters, newest
// first, with the catalogue's cause; a bad ID is said, not ignored.
func TestEventViewerFilters(t *testing.T) {
	s, sess, ev := pageServer(t, Options{})
	ev.Emit(events.MessageQueued, "queue_id", "Q1", "from", "a@example.test", "recipients", 1, "size", 1, "virtual_server", "default", "ip", "192.0.2.1")
	ev.Emit(events.DeliveryDeferred, "queue_id", "Q1", "rcpt", "b@remote.test", "error", "451 4.4.0 alpha-error")
	ev.Emit(events.DeliveryDeferred, "queue_id", "Q2", "rcpt", "c@remote.test", "error", "451 4.4.0 beta-error")
	body := func(target string) string {
		rec := do(s, sess, http.MethodGet, target, nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", target, rec.Code)
		}
		return rec.Body.String()
	}
	rows := func(b string) int { return strings.Count(b, "data-event=") }
	if b := body("/events?id=3001"); rows(b) != 2 || strings.Index(b, "beta-error") > strings.Index(b, "alpha-error") ||
		!strings.Contains(b, events.Catalogue[events.DeliveryDeferred].Cause[:30]) {
		t.Errorf("id=3001: %d rows, newest first and with the cause?\n%s", rows(b), b)
	}
	if b := body("/events?category=queue"); rows(b) != 1 || !strings.Contains(b, `data-event="2000"`) {
		t.Errorf("category=queue: %d rows", rows(b))
	}
	if b := body("/events?severity=warning&text=BETA-ERROR"); rows(b) != 1 || !strings.Contains(b, "c@remote.test") {
		t.Errorf("severity=warning&text=BETA-ERROR: %d rows", rows(b))
	}
	if b := body("/events?since=2999-01-01T00:00"); rows(b) != 0 {
		t.Errorf("since the future: %d rows", rows(b))
	}
	if b := body("/events?id=abc"); !strings.Contains(b, "the event ID is a number") {
		t.Errorf("a bad ID is not reported")
	}
}

// TestRuntimeLevel: a level set on the Event Viewer applies to the
// running log at once, writes event 1083, and the page says it is
// runtime only.
func TestRuntimeLevel(t *testing.T) {
	s, sess, ev := pageServer(t, Options{})
	if ev.Enabled(events.DeliveryDeferred) == false || ev.Levels()["delivery"] == events.Maximum {
		t.Fatal("unexpected start levels")
	}
	rec := do(s, sess, http.MethodPost, "/events/levels", url.Values{"category": {"delivery"}, "level": {"maximum"}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("POST /events/levels: %d", rec.Code)
	}
	if got := ev.Levels()["delivery"]; got != events.Maximum {
		t.Errorf("delivery level after the change: %v", got)
	}
	recs, _ := events.Read(s.o.EventLogPath, events.Filter{ID: events.WebAdminLevelsChanged})
	if len(recs) != 1 || !strings.Contains(recs[0].Message, "until the next reload or restart") || recs[0].Fields["old"] != "minimum" {
		t.Errorf("event 1083: %+v", recs)
	}
	b := do(s, sess, http.MethodGet, "/events", nil).Body.String()
	if !strings.Contains(b, "Runtime only, until the next reload or restart") || !strings.Contains(b, `<td class="level">maximum</td>`) {
		t.Errorf("the page does not show the runtime level and its note")
	}
	if rec := do(s, sess, http.MethodPost, "/events/levels", url.Values{"category": {"nope"}, "level": {"maximum"}}); rec.Code != http.StatusSeeOther || len(ev.Levels()) != 1 {
		t.Errorf("an unknown category changed the levels: %v", ev.Levels())
	}
}

// TestOrganizationPage: missing and duplicate SPNs are highlighted as
// diag spn reports them, and diag auth runs against the chosen server's
// delivery address and shows its steps.
func TestOrganizationPage(t *testing.T) {
	org := &directory.Org{Name: "Example", Servers: []directory.OrgServer{
		{Name: "mx1", FQDN: "mx1.example.test", Auth: "gssapi", DeliveryAddress: "127.0.0.1:2725",
			SPNs: []string{"SMTP/mx1", "SMTP/mx1.example.test", "SMTPSVC/mx1"}},
		{Name: "mx2", FQDN: "mx2.example.test", Auth: "gssapi",
			SPNs: []string{"SMTP/mx2", "SMTP/mx2.example.test", "SMTPSVC/mx2", "SMTPSVC/mx2.example.test", "SMTP/mx1.example.test"}},
	}}
	org.Normalize()
	var asked string
	s, sess, _ := pageServer(t, Options{
		Org: func() (*directory.Org, []diag.SPNHolder, error) { return org, diag.OrgSPNs(org), nil },
		DiagAuth: func(_ context.Context, addr, rcpt string) []diag.AuthStep {
			asked = addr + " " + rcpt
			return []diag.AuthStep{{Name: "connect and greeting", Reply: "220 mx1", OK: true},
				{Name: "X-EXPS GSSAPI", Reply: "454 4.7.0 Temporary authentication failure", OK: false, Advice: "SPN missing"}}
		},
	})
	b := do(s, sess, http.MethodGet, "/organization", nil).Body.String()
	for _, want := range []string{`<div class="spn missing">SMTPSVC/mx1.example.test <strong>MISSING</strong>`,
		`<div class="spn duplicate">SMTP/mx1.example.test <strong>DUPLICATE</strong>: also on mx2`,
		`<tr data-server="mx1" class="problem">`} {
		if !strings.Contains(b, want) {
			t.Errorf("the page lacks %s\n%s", want, b)
		}
	}
	rec := do(s, sess, http.MethodPost, "/organization/diag-auth", url.Values{"server": {"mx1"}, "rcpt": {"bob@example.test"}})
	b = rec.Body.String()
	if asked != "127.0.0.1:2725 bob@example.test" || !strings.Contains(b, `<tr class="fail"><td>X-EXPS GSSAPI</td><td>FAIL</td>`) ||
		!strings.Contains(b, "The organization path fails") {
		t.Errorf("diag auth asked %q; page:\n%s", asked, b)
	}
	recs, _ := events.Read(s.o.EventLogPath, events.Filter{ID: events.WebAdminDiagAuth})
	if len(recs) != 1 || recs[0].Fields["server"] != "mx1" {
		t.Errorf("event 1084: %+v", recs)
	}
	if do(s, sess, http.MethodPost, "/organization/diag-auth", url.Values{"server": {"evil"}}); asked != "127.0.0.1:2725 bob@example.test" {
		t.Errorf("diag auth ran against a server not in the directory")
	}
	// A server without delivery_address is checked where delivery
	// reaches it: its FQDN on delivery.remote_port.
	s.o.RemotePort = 2526
	if do(s, sess, http.MethodPost, "/organization/diag-auth", url.Values{"server": {"mx2"}}); asked != "mx2.example.test:2526 " {
		t.Errorf("diag auth for mx2 asked %q, want mx2.example.test:2526", asked)
	}
}
