package admin

import (
	"fmt"
	"net/http"
	"strconv"

	"mailward/queue"
)

// MaxFind is the most messages GET /find answers with.
const MaxFind = 1000

func (s *Server) freezeMessage(w http.ResponseWriter, r *http.Request) {
	s.answer(w)(s.Freeze(socketCaller(r), r.PathValue("id"), true))
}

func (s *Server) unfreezeMessage(w http.ResponseWriter, r *http.Request) {
	s.answer(w)(s.Freeze(socketCaller(r), r.PathValue("id"), false))
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
	writeJSON(w, http.StatusOK, s.Find(f, limit))
}
