package e2e

// The web administration's access model with a plain HTTP client:
// nothing without a session, no action without the session's CSRF
// token, and the login rate limit (docs/web-admin.md).

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestWebAdminRefusesWithoutSessionOrCSRF: every page redirects to the
// login page without a session and shows nothing of the queue; every
// action is refused (403) without a session, without a CSRF token, with
// a wrong one and with another session's, and the server shows that
// none of them happened; the same action with the token goes through.
func TestWebAdminRefusesWithoutSessionOrCSRF(t *testing.T) {
	w := startWebAdmin(t, 5)
	id := w.held(t, "bob@remote.test", "must stay untouched")
	hop := url.PathEscape(w.Hop)

	for _, p := range []string{"/", "/queues", "/queues/" + hop, "/find?by=to&q=bob%40remote.test", "/messages/" + id,
		"/events", "/events?id=2010", "/organization"} {
		code, loc, body := webGet(t, w.Base, p, "")
		// The sender's address is in no URL: a body with it would show
		// the queue to a visitor.
		if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?next=") || strings.Contains(body, "alice@example.test") {
			t.Errorf("GET %s without a session: %d to %q; want 303 to the login page, and nothing of the queue in the body:\n%s", p, code, loc, body)
		}
		if code, _, _ := webGet(t, w.Base, p, "forged-session-id"); code != http.StatusSeeOther {
			t.Errorf("GET %s with a made-up session cookie: %d, want 303 to the login page", p, code)
		}
	}

	cookie, csrf := httpLogin(t, w.Base)
	cookie2, csrf2 := httpLogin(t, w.Base) // a second session
	if csrf == csrf2 || cookie == cookie2 {
		t.Fatalf("two sessions share a cookie or a CSRF token")
	}
	actions := []struct {
		path string
		form url.Values
	}{
		{"/queues/" + hop + "/retry", nil},
		{"/queues/" + hop + "/suspend", nil},
		{"/queues/" + hop + "/resume", nil},
		{"/messages/" + id + "/freeze", nil},
		{"/messages/" + id + "/unfreeze", nil},
		{"/messages/" + id + "/delete", url.Values{"ndr": {"1"}}},
		{"/messages/" + id + "/delete", url.Values{"ndr": {"0"}}},
		{"/events/levels", url.Values{"category": {"delivery"}, "level": {"maximum"}}},
		{"/organization/diag-auth", url.Values{"server": {"mx2"}}},
		{"/logout", nil},
	}
	with := func(form url.Values, token string) url.Values {
		v := url.Values{}
		for k, x := range form {
			v[k] = x
		}
		if token != "" {
			v.Set("csrf_token", token)
		}
		return v
	}
	for _, a := range actions {
		for _, c := range []struct {
			what, cookie, token string
		}{
			{"without a session (with a valid session's token)", "", csrf},
			{"with a made-up session", "forged-session-id", csrf},
			{"without a CSRF token", cookie, ""},
			{"with a wrong CSRF token", cookie, strings.Repeat("A", len(csrf))},
			{"with another session's CSRF token", cookie, csrf2},
		} {
			if code, loc, _ := webPost(t, w.Base, a.path, c.cookie, with(a.form, c.token)); code != http.StatusForbidden {
				t.Errorf("POST %s %s: %d (Location %q), want 403", a.path, c.what, code, loc)
			}
		}
	}

	// Nothing happened: no action logged, the message is still queued,
	// neither frozen nor deleted, the queue not suspended, no level
	// changed, and the sessions are still there (logout was refused).
	time.Sleep(500 * time.Millisecond) // an action that slipped through would have been logged by now
	if n := len(w.Events(2010)); n != 0 {
		t.Errorf("%d queue action(s) logged after refused requests:\n%s", n, describeEvents(w.server, 2010))
	}
	if n := len(w.Events(1083)); n != 0 {
		t.Errorf("a diagnostic level was changed by a refused request")
	}
	if got := w.QueueActive(); len(got) != 1 || got[0] != id {
		t.Errorf("queue files: %v; want %s still queued", got, id)
	}
	if out := queueCLI(t, w.server, "find", "--to", "bob@remote.test"); strings.Contains(out, "[frozen]") || !strings.HasPrefix(out, id+" ") {
		t.Errorf("mailward queue find after refused requests:\n%s", out)
	}
	if q, ok := liveQueue(t, w.server, w.Hop); !ok || q.State == "suspended" {
		t.Errorf("queue %s after refused requests: %+v", w.Hop, q)
	}
	if code, _, _ := webGet(t, w.Base, "/queues", cookie); code != http.StatusOK {
		t.Errorf("the session was ended by a refused logout: GET /queues %d", code)
	}

	// The same action with the session's token goes through: the
	// refusals above were the token's doing.
	if code, loc, _ := webPost(t, w.Base, "/messages/"+id+"/freeze", cookie, with(nil, csrf)); code != http.StatusSeeOther || loc != "/queues" {
		t.Fatalf("POST freeze with the session's token: %d to %q, want 303 to /queues", code, loc)
	}
	if n := webActions(w.server); n != 1 {
		t.Errorf("%d web actions logged after one freeze, want 1", n)
	}
}

// TestWebAdminLoginRateLimit: after login_failures (3) wrong passwords
// from one address, logins from it are refused even with the right
// password, for any name, and logins as that name are refused from
// another address too; events 1081 and 1082 say so.
func TestWebAdminLoginRateLimit(t *testing.T) {
	w := startWebAdmin(t, 3)
	login := func(from, user, password string) (int, bool) {
		t.Helper()
		d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c := httpClient()
		c.Transport = &http.Transport{DialContext: d.DialContext}
		resp, err := c.PostForm(w.Base+"/login", url.Values{"user": {user}, "password": {password}})
		if err != nil {
			t.Fatalf("login from %s: %v", from, err)
		}
		resp.Body.Close()
		for _, ck := range resp.Cookies() {
			if ck.Name == "mailward_session" && ck.Value != "" {
				return resp.StatusCode, true
			}
		}
		return resp.StatusCode, false
	}
	for i := 1; i <= 3; i++ {
		if code, got := login("127.0.0.1", webUser, "wrong-"+string(rune('0'+i))); code != http.StatusUnauthorized || got {
			t.Fatalf("wrong password %d: %d (session %v), want 401", i, code, got)
		}
	}
	if code, got := login("127.0.0.1", webUser, webPassword); code != http.StatusTooManyRequests || got {
		t.Errorf("the right password after 3 failures: %d (session %v), want 429 and no session", code, got)
	}
	if code, got := login("127.0.0.1", "someone-else", "x"); code != http.StatusTooManyRequests || got {
		t.Errorf("another name from the locked address: %d, want 429", code)
	}
	if code, got := login("127.0.0.2", webUser, webPassword); code != http.StatusTooManyRequests || got {
		t.Errorf("the locked name from another address: %d (session %v), want 429", code, got)
	}
	locks := w.Events(1082)
	var who []string
	for _, r := range locks {
		who = append(who, r.Fields["who"])
	}
	if len(locks) != 2 || !strings.Contains(strings.Join(who, ","), "from 127.0.0.1") || !strings.Contains(strings.Join(who, ","), "as admin") {
		t.Errorf("events 1082: %v; want the address 127.0.0.1 and the name admin locked", who)
	}
	if n := len(w.Events(1081)); n != 6 {
		t.Errorf("%d events 1081 (refused logins), want 6:\n%s", n, describeEvents(w.server, 1081))
	}
	if n := len(w.Events(1080)); n != 0 {
		t.Errorf("a login succeeded while locked")
	}
}
