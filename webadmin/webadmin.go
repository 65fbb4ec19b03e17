// Package webadmin is the web administration that `mailward serve` runs
// on a listener of its own ([web_admin], docs/web-admin.md): the Queue
// Viewer (/queues), the Event Viewer (/events) and the Organization page
// (/organization), for administrators used to Exchange System Manager's
// queue viewer (KB979174) and event log (KB843106).
//
// It is net/http and html/template with a few lines of JavaScript, its
// assets embedded in the binary. Every queue action goes through package
// admin in-process, so it is done and logged (event 2010) exactly as
// `mailward queue` does it over the admin socket.
//
// Access: administrators from the configuration (bcrypt hashes), a
// session cookie (Secure, HttpOnly, SameSite=Strict), a CSRF token per
// session on every POST, and a login rate limit per client address and
// per user name. Only the login page answers without a session.
package webadmin

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"mailward/admin"
	"mailward/diag"
	"mailward/directory"
	"mailward/events"
	"mailward/internal/httpserve"
)

// Options are what the web administration shows and acts on; setup
// builds them from [web_admin] (internal/setup).
type Options struct {
	// Users maps each administrator's name to the bcrypt hash of the
	// password.
	Users map[string]string
	// SessionTimeout ends a session this long after its last request.
	SessionTimeout time.Duration
	// LoginFailures failed logins from one client address or for one
	// name lock further logins from it or as it for LoginLockout.
	LoginFailures int
	LoginLockout  time.Duration

	// Queue is the queue viewer's server side (package admin), called
	// in-process.
	Queue *admin.Server
	// Events is the running event log (its levels are changed at
	// runtime); EventLogPath the file it writes (events.Read reads it).
	Events       *events.Log
	EventLogPath string
	// Categories are the diagnostic categories, in the configuration's
	// order.
	Categories []string
	// FQDN names the server in the page titles.
	FQDN string
	// Org reads the organization directory and the accounts that carry
	// SPNs (as diag spn does); nil when the server is in no
	// organization.
	Org func() (*directory.Org, []diag.SPNHolder, error)
	// DiagAuth runs the organization authentication check against the
	// server at addr ("host:port"), as `mailward diag auth` does, with
	// rcpt as its recipient ("": postmaster).
	DiagAuth func(ctx context.Context, addr, rcpt string) []diag.AuthStep
	// RemotePort is delivery.remote_port: where a server without a
	// delivery_address is reached, as delivery reaches it (0: 25).
	RemotePort int
}

// Server is the web administration.
type Server struct {
	o        Options
	sessions *sessions
	limit    *loginLimit
	// now is replaceable in tests.
	now func() time.Time
}

// New returns the web administration for o.
func New(o Options) *Server {
	if o.Events == nil {
		o.Events = events.Discard()
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = 8 * time.Hour
	}
	if o.LoginFailures <= 0 {
		o.LoginFailures = 5
	}
	if o.LoginLockout <= 0 {
		o.LoginLockout = time.Minute
	}
	s := &Server{o: o, now: time.Now}
	s.sessions = newSessions(o.SessionTimeout, func() time.Time { return s.now() })
	s.limit = newLoginLimit(o.LoginFailures, o.LoginLockout)
	return s
}

// Handler is every page and action, behind the session check.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.session(s.logout))
	mux.HandleFunc("GET /{$}", s.session(func(w http.ResponseWriter, r *http.Request, _ *session) {
		http.Redirect(w, r, "/queues", http.StatusSeeOther)
	}))
	mux.HandleFunc("GET /queues", s.session(s.queuesPage))
	mux.HandleFunc("GET /queues/{name}", s.session(s.queuePage))
	mux.HandleFunc("GET /find", s.session(s.findPage))
	mux.HandleFunc("GET /messages/{id}", s.session(s.messagePage))
	mux.HandleFunc("POST /queues/{name}/{action}", s.session(s.queueAction))
	mux.HandleFunc("POST /messages/{id}/{action}", s.session(s.messageAction))
	mux.HandleFunc("GET /events", s.session(s.eventsPage))
	mux.HandleFunc("POST /events/levels", s.session(s.setLevel))
	mux.HandleFunc("GET /organization", s.session(s.orgPage))
	mux.HandleFunc("POST /organization/diag-auth", s.session(s.diagAuth))
	return headers(mux)
}

// headers sets what every answer carries: no caching of pages with
// queue contents, no framing (clickjacking of the action buttons), no
// content sniffing, no referrer with message IDs leaving the site. The
// Content-Security-Policy is set per page (render.go), with the nonce of
// its inline style and script.
func headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Cache-Control", "no-store")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.ServeHTTP(w, r)
	})
}

// Serve answers on ln until ctx is done; with tlsCfg it serves HTTPS.
func (s *Server) Serve(ctx context.Context, ln net.Listener, tlsCfg *tls.Config) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		// diag auth waits up to its own timeout per reply.
		WriteTimeout:   3 * time.Minute,
		IdleTimeout:    60 * time.Second,
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       log.New(io.Discard, "", 0),
		TLSConfig:      tlsCfg,
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	if err := httpserve.Serve(ctx, srv, ln); err != nil {
		return fmt.Errorf("web administration: %w", err)
	}
	return nil
}

// Listen opens the web administration's listener at address, at start
// with the virtual servers, so that a port conflict stops the start.
func Listen(ctx context.Context, address string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", address)
	if err != nil {
		return nil, fmt.Errorf("web_admin.address %s: %w", address, err)
	}
	return ln, nil
}
