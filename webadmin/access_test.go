package webadmin

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func testServer(t *testing.T, failures int) *Server {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("admin-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return New(Options{Users: map[string]string{"admin": string(h)}, LoginFailures: failures, Categories: []string{"queue"}})
}

func postLogin(h http.Handler, user, pass string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(url.Values{"user": {user}, "password": {pass}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "192.0.2.1:40000"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestLoginLocks: the handler locks logins after the configured failures.
func TestLoginLocks(t *testing.T) {
	h := testServer(t, 3).Handler()
	for i := 0; i < 3; i++ {
		if rec := postLogin(h, "admin", "wrong"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i+1, rec.Code)
		}
	}
	if rec := postLogin(h, "admin", "admin-secret"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("right password while locked: %d, want 429", rec.Code)
	}
}

// TestSessionCookieAndCSRF: the login sets a Secure, HttpOnly,
// SameSite=Strict cookie; a POST needs the session's own token.
func TestSessionCookieAndCSRF(t *testing.T) {
	s := testServer(t, 5)
	h := s.Handler()
	rec := postLogin(h, "admin", "admin-secret")
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("login: %d", rec.Code)
	}
	c := rec.Result().Cookies()
	if len(c) != 1 || c[0].Name != CookieName || !c[0].Secure || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode || c[0].Path != "/" {
		t.Fatalf("session cookie: %+v", c)
	}
	other := s.sessions.create("admin")
	for _, tc := range []struct {
		token string
		want  int
	}{{"", http.StatusForbidden}, {"x", http.StatusForbidden}, {other.csrf, http.StatusForbidden}} {
		req := httptest.NewRequest(http.MethodPost, "/logout", strings.NewReader(url.Values{CSRFField: {tc.token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(c[0])
		r := httptest.NewRecorder()
		h.ServeHTTP(r, req)
		if r.Code != tc.want {
			t.Errorf("logout with token %q: %d, want %d", tc.token, r.Code, tc.want)
		}
	}
	if s.sessions.get(httptest.NewRequest(http.MethodGet, "/", nil)) != nil {
		t.Error("a request without a cookie has a session")
	}
}

// TestLocalPath: a login's next= never leads to another site.
func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{"/events?id=1": "/events?id=1", "//evil.test/": "/queues",
		"https://evil.test/": "/queues", "/\\evil.test": "/queues", "": "/queues", "/a\r\nSet-Cookie: x": "/queues"} {
		if got := localPath(in, "/queues"); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLoginFromAnotherSite: a login form posted from another site's
// page (login CSRF) is refused.
func TestLoginFromAnotherSite(t *testing.T) {
	h := testServer(t, 5).Handler()
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8025/login", strings.NewReader(url.Values{"user": {"admin"}, "password": {"admin-secret"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.test")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden || len(rec.Result().Cookies()) != 0 {
		t.Errorf("login posted from another site: %d, cookies %v", rec.Code, rec.Result().Cookies())
	}
}
