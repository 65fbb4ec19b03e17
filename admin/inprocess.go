package admin

import (
	"fmt"
	"net/http"

	"mailward/queue"
)

// What the socket's GET requests answer, for a front end in the same
// process (the web administration): the same sums and pages.

// Overview is the whole queue at a glance (GET /summary).
func (s *Server) Overview() Overview { return s.overview("") }

// QueuePage is one queue with up to limit of its messages after the ID
// after (GET /queues/{name}); an *Error 404 when there is no such queue.
func (s *Server) QueuePage(name, after string, limit int) (QueueDetail, error) {
	if limit < 1 || limit > MaxPage {
		limit = DefaultPage
	}
	o := s.overview(name)
	if len(o.Queues) == 0 {
		return QueueDetail{}, &Error{Code: http.StatusNotFound, Message: fmt.Sprintf("no delivery queue %q%s", name, stillLoading(o.Loading))}
	}
	msgs, next := s.page(name, after, limit)
	return QueueDetail{Queue: o.Queues[0], Messages: msgs, Next: next, Loading: o.Loading}, nil
}

// Message is one whole message (GET /messages/{id}).
func (s *Server) Message(id string) (MessageView, bool) { return s.q.Message(id) }

// Find is GET /find: the messages of every queue that match f, at most
// limit (1 to MaxFind) of them, and how many match in all.
func (s *Server) Find(f queue.Filter, limit int) Found {
	if limit < 1 || limit > MaxFind {
		limit = MaxFind
	}
	msgs, total := s.q.Find(f, limit)
	if msgs == nil {
		msgs = []queue.View{}
	}
	return Found{Messages: msgs, Total: total}
}
