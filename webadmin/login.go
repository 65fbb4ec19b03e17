package webadmin

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"mailward/events"
)

// dummyHash is compared against when the user name is unknown, so that
// a wrong name costs the same bcrypt time as a wrong password and the
// answer's timing does not tell which names exist.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("no such administrator"), bcrypt.DefaultCost)

type loginData struct {
	Next, User, Error string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"), "/queues")
	if s.sessions.get(r) != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, "login", page{Title: "Log in", Data: loginData{Next: next}})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	user, pass := r.PostFormValue("user"), r.PostFormValue("password")
	next := localPath(r.PostFormValue("next"), "/queues")
	client := clientIP(r)
	refuse := func(code int, reason, shown string) {
		s.o.Events.Emit(events.WebAdminLoginFailed, "user", printable(user), "ip", client, "reason", reason)
		s.render(w, code, "login", page{Title: "Log in", Data: loginData{Next: next, User: user, Error: shown}})
	}
	// A login form posted from another site's page (login CSRF): the
	// browser names that site's origin.
	if o := r.Header.Get("Origin"); o != "" && o != "null" && !sameOrigin(o, r) {
		refuse(http.StatusForbidden, "the form was posted from another site ("+printable(o)+")", "Log in from this server's own login page.")
		return
	}
	now := s.now()
	if until, locked := s.limit.locked(now, client, user); locked {
		refuse(http.StatusTooManyRequests, "logins are locked until "+until.UTC().Format(time.RFC3339),
			"Too many failed logins: try again in "+until.Sub(now).Round(time.Second).String()+".")
		return
	}
	hash, known := s.o.Users[user]
	if !known {
		hash = string(dummyHash)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(pass)) != nil || !known {
		reason := "wrong password"
		if !known {
			reason = "no such administrator"
		}
		// Counted before the answer: a client that sends its next guess
		// as soon as it reads this one finds the count already raised.
		// Likewise the events are written before the answer.
		locked := s.limit.failed(now, client, user)
		s.o.Events.Emit(events.WebAdminLoginFailed, "user", printable(user), "ip", client, "reason", reason)
		for _, who := range locked {
			s.o.Events.Emit(events.WebAdminLockout, "who", who, "lockout", s.o.LoginLockout, "failures", s.o.LoginFailures)
		}
		s.render(w, http.StatusUnauthorized, "login", page{Title: "Log in", Data: loginData{Next: next, User: user, Error: "Wrong user name or password."}})
		return
	}
	s.limit.succeeded(client, user)
	sess := s.sessions.create(user)
	setCookie(w, sess.id, 0)
	s.o.Events.Emit(events.WebAdminLogin, "user", user, "action", "logged in", "ip", client)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, sess *session) {
	s.sessions.end(sess)
	setCookie(w, "", -1)
	s.o.Events.Emit(events.WebAdminLogin, "user", sess.user, "action", "logged out", "ip", clientIP(r))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// clientIP is the address of the connection; no forwarding header is
// believed (the rate limit would be trivially escaped).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// sameOrigin reports whether origin is this server's own.
func sameOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// localPath is p when it is a path of this site, else def: a login link
// must not redirect elsewhere (an open redirect).
func localPath(p, def string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return def
	}
	return p
}

// printable keeps a client-supplied name from forging log lines.
func printable(s string) string {
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return strings.Map(func(c rune) rune {
		if c < ' ' || c == 0x7f {
			return '?'
		}
		return c
	}, s)
}

// loginLimit counts failed logins per client address and per user name:
// after max failures, logins from that address or as that name are
// refused for lockout, even with the right password (a guesser learns
// nothing during a lockout). A success clears both counts; a lockout's
// end clears its own.
type loginLimit struct {
	mu      sync.Mutex
	max     int
	lockout time.Duration
	byKey   map[string]*failures
}

type failures struct {
	count  int
	last   time.Time
	locked time.Time // zero: not locked
}

// maxLimitKeys bounds the memory of the limit; idle counts go first.
const maxLimitKeys = 10000

func newLoginLimit(max int, lockout time.Duration) *loginLimit {
	return &loginLimit{max: max, lockout: lockout, byKey: map[string]*failures{}}
}

func ipKey(ip string) string     { return "from " + ip }
func userKey(user string) string { return "as " + printable(user) }

// locked reports whether logins from ip or as user are locked, and
// until when.
func (l *loginLimit) locked(now time.Time, ip, user string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var until time.Time
	for _, k := range []string{ipKey(ip), userKey(user)} {
		f := l.byKey[k]
		if f == nil || f.locked.IsZero() {
			continue
		}
		if now.Before(f.locked) {
			if f.locked.After(until) {
				until = f.locked
			}
			continue
		}
		delete(l.byKey, k) // the lockout is over: a fresh count
	}
	return until, !until.IsZero()
}

// failed counts a failure and returns the keys it has just locked.
func (l *loginLimit) failed(now time.Time, ip, user string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.byKey) >= maxLimitKeys {
		for k, f := range l.byKey {
			if now.Sub(f.last) > l.lockout && (f.locked.IsZero() || now.After(f.locked)) {
				delete(l.byKey, k)
			}
		}
	}
	var locked []string
	for _, k := range []string{ipKey(ip), userKey(user)} {
		f := l.byKey[k]
		if f == nil {
			if len(l.byKey) >= maxLimitKeys {
				continue
			}
			f = &failures{}
			l.byKey[k] = f
		}
		f.count++
		f.last = now
		if f.count >= l.max && f.locked.IsZero() {
			f.locked = now.Add(l.lockout)
			locked = append(locked, k)
		}
	}
	return locked
}

func (l *loginLimit) succeeded(ip, user string) {
	l.mu.Lock()
	delete(l.byKey, ipKey(ip))
	delete(l.byKey, userKey(user))
	l.mu.Unlock()
}
