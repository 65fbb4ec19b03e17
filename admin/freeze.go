package admin

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"mailward/queue"
)

// MaxFind is the most messages GET /find answers with.
const MaxFind = 1000

func (s *Server) freezeMessage(w http.ResponseWriter, r *http.Request)   { s.freeze(w, r, true) }
func (s *Server) unfreezeMessage(w http.ResponseWriter, r *http.Request) { s.freeze(w, r, false) }

// freeze holds or releases one message (queue.Freeze); the action is
// logged as event 2010 like every other.
func (s *Server) freeze(w http.ResponseWriter, r *http.Request, on bool) {
	id := r.PathValue("id")
	action := "unfreeze"
	if on {
		action = "freeze"
	}
	changed, err := s.q.Freeze(id, on)
	switch {
	case errors.Is(err, queue.ErrNotFound):
		s.fail(w, r, http.StatusNotFound, action, "message "+id,
			fmt.Sprintf("no message %q in the queue%s", id, stillLoading(loading(s.q.LoadState()))))
		return
	case errors.Is(err, queue.ErrInFlight):
		s.fail(w, r, http.StatusConflict, action, "message "+id, err.Error())
		return
	case err != nil:
		s.fail(w, r, http.StatusInternalServerError, action, "message "+id, err.Error())
		return
	}
	var text string
	switch {
	case on && changed:
		text = "frozen: it is not attempted until it is unfrozen, also after a restart"
	case on:
		text = "was already frozen"
	case changed:
		text = "unfrozen: it is attempted now"
	default:
		text = "was not frozen"
	}
	n := 0
	if changed {
		n = 1
	}
	s.done(w, r, Result{Action: action, Target: id, Count: n, Result: text})
}

// find answers GET /find?from=A&to=A&subject=S&limit=N: the messages of
// every queue that match (queue.Find). At least one of from, to and
// subject is needed.
func (s *Server) find(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := queue.Filter{From: q.Get("from"), To: q.Get("to"), Subject: q.Get("subject")}
	if f.From == "" && f.To == "" && f.Subject == "" {
		writeError(w, http.StatusBadRequest, "find needs from=, to= or subject=")
		return
	}
	limit := MaxFind
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxFind {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit=%q: want 1 to %d", v, MaxFind))
			return
		}
		limit = n
	}
	msgs, total := s.q.Find(f, limit)
	if msgs == nil {
		msgs = []queue.View{}
	}
	writeJSON(w, http.StatusOK, Found{Messages: msgs, Total: total})
}
