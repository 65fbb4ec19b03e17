// Package admin is the queue viewer's server side: a small JSON API on a
// Unix socket (<data_dir>/admin.sock) through which `mailward queue`
// lists the delivery queues with their last error (KB979174), shows their
// messages, retries, suspends and resumes a queue, and deletes a message
// with or without a non-delivery report.
//
// Only root and the server's own user may use the socket: it is created
// with mode 0600 and every connection's peer credentials are checked.
// Every action is logged as event 2010.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"mailward/deliver"
	"mailward/events"
	"mailward/internal/httpserve"
	"mailward/queue"
)

// Server serves the admin API over a running queue.
type Server struct {
	q    *queue.Queue
	hops *deliver.Hops
	ev   *events.Log
	// now is replaceable in tests.
	now func() time.Time
	// reloader answers POST /reload (reload.go).
	reloader reloaderBox
}

// New returns an admin server for q and the delivery queues in hops.
// hops and ev may be nil.
func New(q *queue.Queue, hops *deliver.Hops, ev *events.Log) *Server {
	if hops == nil {
		hops = deliver.NewHops()
	}
	if ev == nil {
		ev = events.Discard()
	}
	return &Server{q: q, hops: hops, ev: ev, now: time.Now}
}

type ctxKey struct{}

// Serve answers on a Unix socket at socketPath until ctx is done, then
// removes the socket. It returns nil after ctx is done, or the error
// that stopped it.
func (s *Server) Serve(ctx context.Context, socketPath string) error {
	sock, err := s.Listen(socketPath)
	if err != nil {
		return err
	}
	return s.ServeSocket(ctx, sock)
}

// Socket is the admin socket, created and listening.
type Socket struct {
	ln      *peerListener
	path    string
	created os.FileInfo
}

// Listen creates the socket, so that a client can connect as soon as it
// returns (serve tells systemd it is ready after that); ServeSocket then
// answers on it.
func (s *Server) Listen(socketPath string) (*Socket, error) {
	ln, created, err := listen(socketPath)
	if err != nil {
		return nil, err
	}
	return &Socket{ln: &peerListener{UnixListener: ln, self: uint32(os.Getuid()), refuse: s.refused}, path: socketPath, created: created}, nil
}

// ServeSocket answers on sock until ctx ends, then removes the socket
// file if it is still the one Listen made.
func (s *Server) ServeSocket(ctx context.Context, sock *Socket) error {
	defer removeIfSame(sock.path, sock.created)
	pl := sock.ln
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          log.New(io.Discard, "", 0),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if pc, ok := c.(*peerConn); ok {
				return context.WithValue(ctx, ctxKey{}, pc)
			}
			return ctx
		},
	}
	if err := httpserve.Serve(ctx, srv, pl); err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	return nil
}

// Handler is the API without the socket, for tests and embedding.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /summary", s.summary)
	mux.HandleFunc("GET /queues", s.listQueues)
	mux.HandleFunc("GET /queues/{name}", s.showQueue)
	mux.HandleFunc("POST /queues/{name}/retry", s.retryQueue)
	mux.HandleFunc("POST /queues/{name}/suspend", s.suspendQueue)
	mux.HandleFunc("POST /queues/{name}/resume", s.resumeQueue)
	mux.HandleFunc("GET /messages", s.listMessages)
	mux.HandleFunc("GET /messages/{id}", s.showMessage)
	mux.HandleFunc("POST /messages/{id}/delete", s.deleteMessage)
	mux.HandleFunc("POST /messages/{id}/freeze", s.freezeMessage)
	mux.HandleFunc("POST /messages/{id}/unfreeze", s.unfreezeMessage)
	mux.HandleFunc("GET /find", s.find)
	mux.HandleFunc("POST /reload", s.reload)
	return mux
}

func (s *Server) summary(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.overview(""))
}

func (s *Server) listQueues(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.overview("").Queues)
}

// showQueue answers a page of the queue's messages, oldest first:
// ?limit=N (default DefaultPage, at most MaxPage) and ?after=ID (the last
// ID of the previous page). A queue of 100,000 messages is not sent whole.
func (s *Server) showQueue(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	limit := DefaultPage
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPage {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit=%q: want 1 to %d", v, MaxPage))
			return
		}
		limit = n
	}
	d, err := s.QueuePage(name, r.URL.Query().Get("after"), limit)
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// stillLoading explains a "not found" while the spool is loading.
func stillLoading(l *Loading) string {
	if l == nil {
		return ""
	}
	return " (the spool found at start is still loading: try again when it is loaded)"
}

func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.q.Messages())
}

func (s *Server) showMessage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if v, ok := s.q.Message(id); ok {
		writeJSON(w, http.StatusOK, v)
		return
	}
	writeError(w, http.StatusNotFound, s.messageError(queue.ErrNotFound, id))
}

func (s *Server) retryQueue(w http.ResponseWriter, r *http.Request) {
	s.answer(w)(s.Retry(socketCaller(r), r.PathValue("name")))
}

func (s *Server) suspendQueue(w http.ResponseWriter, r *http.Request) {
	s.answer(w)(s.Suspend(socketCaller(r), r.PathValue("name")))
}

func (s *Server) resumeQueue(w http.ResponseWriter, r *http.Request) {
	s.answer(w)(s.Resume(socketCaller(r), r.PathValue("name")))
}

func (s *Server) deleteMessage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ndr := false
	if v := r.URL.Query().Get("ndr"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.answer(w)(s.refuse(socketCaller(r), http.StatusBadRequest, "delete", "message "+id, fmt.Sprintf("ndr=%q: want 1 or 0", v)))
			return
		}
		ndr = b
	}
	s.answer(w)(s.Delete(socketCaller(r), id, ndr))
}

// answer writes an action's result, or its error (an *Error with the
// HTTP status) as the socket's clients read it.
func (s *Server) answer(w http.ResponseWriter) func(Result, error) {
	return func(res Result, err error) {
		var e *Error
		switch {
		case errors.As(err, &e):
			writeError(w, e.Code, e.Message)
		case err != nil:
			writeError(w, http.StatusInternalServerError, err.Error())
		default:
			writeJSON(w, http.StatusOK, res)
		}
	}
}

// retry makes the named queue's waiting messages ready now. queue.Retry
// with no IDs would retry every message, so an empty queue retries
// nothing.
func (s *Server) retry(name string) int {
	ids := s.q.HopIDs(hopOf(name))
	if len(ids) == 0 {
		return 0
	}
	return s.q.Retry(ids...)
}

// checkQueueName refuses names no next hop can have.
func checkQueueName(name string) string {
	if name == "" || len(name) > 255 {
		return "a queue name is 1 to 255 characters"
	}
	for _, c := range name {
		if c <= ' ' || c == 0x7f {
			return "a queue name has no spaces or control characters"
		}
	}
	return ""
}

// socketCaller is who asked through the socket: the peer's uid and pid.
func socketCaller(r *http.Request) Caller {
	uid, pid := "?", "?"
	if pc, ok := r.Context().Value(ctxKey{}).(*peerConn); ok {
		uid, pid = strconv.FormatUint(uint64(pc.uid), 10), strconv.FormatInt(int64(pc.pid), 10)
	}
	return Caller{Via: ViaSocket, Fields: []any{"uid", uid, "pid", pid}}
}

// refused logs a connection refused for its peer's credentials.
func (s *Server) refused(uid uint32, pid int32, why string) {
	who := "unknown user"
	if uid != ^uint32(0) {
		who = fmt.Sprintf("uid %d (pid %d)", uid, pid)
	}
	s.ev.Emit(events.QueueAction, "action", "connected as", "target", who, "result", why, "via", ViaSocket,
		"uid", strconv.FormatUint(uint64(uid), 10), "pid", strconv.FormatInt(int64(pid), 10))
}

// printable keeps a client-supplied name from forging log lines.
func printable(s string) string {
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return strings.Map(func(c rune) rune {
		if c < ' ' || c == 0x7f {
			return '?'
		}
		return c
	}, s)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}
