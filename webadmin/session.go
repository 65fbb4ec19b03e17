package webadmin

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// CookieName is the session cookie's name.
const CookieName = "mailward_session"

// CSRFField is the form field that carries the session's CSRF token on
// every POST.
const CSRFField = "csrf_token"

// maxSessions bounds the sessions kept, so that logins cannot fill the
// memory; the oldest goes first.
const maxSessions = 1000

// session is one administrator's login.
type session struct {
	id, user string
	// csrf is the token every POST of this session must carry.
	csrf    string
	expires time.Time
	// flash is the result of the last action, shown once on the next
	// page.
	flash      string
	flashError bool
}

// sessions are the logged-in administrators, in memory: a restart logs
// everybody out.
type sessions struct {
	mu      sync.Mutex
	byID    map[string]*session
	timeout time.Duration
	now     func() time.Time
}

func newSessions(timeout time.Duration, now func() time.Time) *sessions {
	return &sessions{byID: map[string]*session{}, timeout: timeout, now: now}
}

// token is 32 random bytes, base64url: unguessable.
func token() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for user.
func (ss *sessions) create(user string) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	for id, s := range ss.byID {
		if now.After(s.expires) {
			delete(ss.byID, id)
		}
	}
	if len(ss.byID) >= maxSessions {
		var oldest *session
		for _, s := range ss.byID {
			if oldest == nil || s.expires.Before(oldest.expires) {
				oldest = s
			}
		}
		delete(ss.byID, oldest.id)
	}
	s := &session{id: token(), user: user, csrf: token(), expires: now.Add(ss.timeout)}
	ss.byID[s.id] = s
	return s
}

// get returns the live session of the request's cookie and extends it.
func (ss *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.byID[c.Value]
	if !ok {
		return nil
	}
	now := ss.now()
	if now.After(s.expires) {
		delete(ss.byID, s.id)
		return nil
	}
	s.expires = now.Add(ss.timeout)
	return s
}

func (ss *sessions) end(s *session) {
	ss.mu.Lock()
	delete(ss.byID, s.id)
	ss.mu.Unlock()
}

// setFlash keeps an action's result for the next page.
func (ss *sessions) setFlash(s *session, msg string, isErr bool) {
	ss.mu.Lock()
	s.flash, s.flashError = msg, isErr
	ss.mu.Unlock()
}

// takeFlash returns the kept result once.
func (ss *sessions) takeFlash(s *session) (string, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	m, e := s.flash, s.flashError
	s.flash, s.flashError = "", false
	return m, e
}

// setCookie sends the session cookie: Secure (only over HTTPS, or to a
// loopback address, which browsers count as a secure context),
// HttpOnly (no script reads it), SameSite=Strict (no other site's page
// sends it, the first defence against CSRF; the token is the second).
func setCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: value, Path: "/", MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// validCSRF compares the form's token with the session's in constant
// time.
func validCSRF(s *session, r *http.Request) bool {
	got := r.PostFormValue(CSRFField)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

// session wraps a handler that needs a login: without a session a page
// redirects to the login page and an action is refused (403); a POST
// without the session's CSRF token is refused (403).
func (s *Server) session(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := s.sessions.get(r)
		if sess == nil {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "403 forbidden: no session; log in first", http.StatusForbidden)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if !validCSRF(sess, r) {
				http.Error(w, "403 forbidden: missing or wrong CSRF token; reload the page and try again", http.StatusForbidden)
				return
			}
		}
		h(w, r, sess)
	}
}
