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
