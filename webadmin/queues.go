package webadmin

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"mailward/admin"
	"mailward/events"
	"mailward/queue"
)

// The Queue Viewer: the delivery queues, a queue's messages, find, one
// message, and the actions, all through package admin.

func (s *Server) queuesPage(w http.ResponseWriter, r *http.Request, sess *session) {
	s.render(w, http.StatusOK, "queues", s.pageFor(r, sess, "queues", "Queues", s.o.Queue.Overview()))
}

type queueData struct {
	Detail admin.QueueDetail
	// Suspendable: not the submission queue.
	Suspendable bool
}

func (s *Server) queuePage(w http.ResponseWriter, r *http.Request, sess *session) {
	name := r.PathValue("name")
	d, err := s.o.Queue.QueuePage(name, r.URL.Query().Get("after"), admin.DefaultPage)
	if err != nil {
		s.sessions.setFlash(sess, err.Error(), true)
		http.Redirect(w, r, "/queues", http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, "queue", s.pageFor(r, sess, "queues", "Queue "+name,
		queueData{Detail: d, Suspendable: name != admin.SubmissionQueue}))
}

// findData is the find form and its answer.
type findData struct {
	By, Q    string
	Searched bool
	Found    admin.Found
}

// findBy are the find form's fields: the envelope sender, a recipient,
// the Subject, or the queue ID.
var findBy = []string{"to", "from", "subject", "id"}

func (s *Server) findPage(w http.ResponseWriter, r *http.Request, sess *session) {
	q := r.URL.Query()
	d := findData{By: q.Get("by"), Q: strings.TrimSpace(q.Get("q"))}
	if !slices.Contains(findBy, d.By) {
		d.By = "to"
	}
	if d.Q != "" {
		d.Searched = true
		switch d.By {
		case "id":
			if v, ok := s.o.Queue.Message(d.Q); ok {
				d.Found = admin.Found{Messages: []queue.View{v}, Total: 1}
			}
		default:
			f := queue.Filter{}
			switch d.By {
			case "to":
				f.To = d.Q
			case "from":
				f.From = d.Q
			case "subject":
				f.Subject = d.Q
			}
			d.Found = s.o.Queue.Find(f, admin.MaxFind)
		}
	}
	s.render(w, http.StatusOK, "find", s.pageFor(r, sess, "queues", "Find messages", d))
}

// messageData is one message with its attempt history: the events of
// the log that name its queue ID.
type messageData struct {
	Message admin.MessageView
	History []events.Record
	// HistoryError says why the history could not be read.
	HistoryError string
}

func (s *Server) messagePage(w http.ResponseWriter, r *http.Request, sess *session) {
	id := r.PathValue("id")
	v, ok := s.o.Queue.Message(id)
	if !ok {
		s.sessions.setFlash(sess, "no message "+id+" in the queue (delivered, bounced or deleted)", true)
		http.Redirect(w, r, "/queues", http.StatusSeeOther)
		return
	}
	d := messageData{Message: v}
	recs, err := events.Read(s.o.EventLogPath, events.Filter{Since: v.Arrival.Add(-1)})
	if err != nil {
		d.HistoryError = err.Error()
	}
	for _, rec := range recs {
		// Every event of a message's path names its queue ID
		// (docs/tracking.md), the administrators' actions too.
		if rec.Fields["queue_id"] == id {
			d.History = append(d.History, rec)
		}
	}
	s.render(w, http.StatusOK, "message", s.pageFor(r, sess, "queues", "Message "+id, d))
}

// webCaller names the administrator in event 2010.
func webCaller(r *http.Request, sess *session) admin.Caller {
	return admin.Caller{Via: admin.ViaWeb, Fields: []any{"user", sess.user, "ip", clientIP(r)}}
}

func (s *Server) queueAction(w http.ResponseWriter, r *http.Request, sess *session) {
	name, c := r.PathValue("name"), webCaller(r, sess)
	var res admin.Result
	var err error
	switch r.PathValue("action") {
	case "retry":
		res, err = s.o.Queue.Retry(c, name)
	case "suspend":
		res, err = s.o.Queue.Suspend(c, name)
	case "resume":
		res, err = s.o.Queue.Resume(c, name)
	default:
		http.NotFound(w, r)
		return
	}
	s.done(w, r, sess, "queue "+name, res, err)
}

func (s *Server) messageAction(w http.ResponseWriter, r *http.Request, sess *session) {
	id, c := r.PathValue("id"), webCaller(r, sess)
	var res admin.Result
	var err error
	switch r.PathValue("action") {
	case "freeze":
		res, err = s.o.Queue.Freeze(c, id, true)
	case "unfreeze":
		res, err = s.o.Queue.Freeze(c, id, false)
	case "delete":
		res, err = s.o.Queue.Delete(c, id, r.PostFormValue("ndr") == "1")
	default:
		http.NotFound(w, r)
		return
	}
	s.done(w, r, sess, "message "+id, res, err)
}

// done shows an action's result on the page the form was on (back),
// after a redirect, so that a reload does not repeat the action.
func (s *Server) done(w http.ResponseWriter, r *http.Request, sess *session, target string, res admin.Result, err error) {
	back := localPath(r.PostFormValue("back"), "/queues")
	if err != nil {
		var e *admin.Error
		msg := err.Error()
		if errors.As(err, &e) {
			msg = e.Message
		}
		s.sessions.setFlash(sess, r.PathValue("action")+" "+target+" refused: "+msg, true)
	} else {
		s.sessions.setFlash(sess, res.Action+" "+target+": "+res.Result, false)
		// A deleted message has no page any more.
		if res.Action == "delete" && strings.HasPrefix(back, "/messages/") {
			back = "/queues"
		}
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
