package admin

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
)

// ReloadResult is a reload's answer: the file the server read again,
// what it applied, and what changed but only a restart applies (event
// 1003's report).
type ReloadResult struct {
	File        string   `json:"file"`
	Applied     []string `json:"applied"`
	NeedRestart []string `json:"need_restart"`
}

// Reloader reloads the running server's configuration (mailward reload):
// its report, or why the file was refused. who names the caller.
type Reloader func(ctx context.Context, who string) (ReloadResult, error)

// reloaderBox holds the Server's Reloader, set once the server runs.
type reloaderBox struct{ f atomic.Pointer[Reloader] }

// SetReloader makes POST /reload call f; without it the server answers
// that it cannot reload.
func (s *Server) SetReloader(f Reloader) { s.reloader.f.Store(&f) }

// reload answers POST /reload: 200 with the report, or 422 with why the
// configuration was refused (the running one is kept).
func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	f := s.reloader.f.Load()
	if f == nil {
		writeError(w, http.StatusNotImplemented, "this server cannot reload through its admin socket; send SIGHUP")
		return
	}
	who := "uid ?"
	if pc, ok := r.Context().Value(ctxKey{}).(*peerConn); ok {
		who = fmt.Sprintf("uid %d (pid %d)", pc.uid, pc.pid)
	}
	res, err := (*f)(r.Context(), who)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// Reload asks the running server to read its configuration file again.
// A refused file is an *Error with Code 422 whose Message says why.
func (c *Client) Reload(ctx context.Context) (*ReloadResult, error) {
	var out ReloadResult
	if err := c.do(ctx, http.MethodPost, "/reload", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// IsRefused reports whether err is a reload the server refused (the
// configuration does not load or validate).
func IsRefused(err error) bool {
	e, ok := err.(*Error)
	return ok && e.Code == http.StatusUnprocessableEntity
}
