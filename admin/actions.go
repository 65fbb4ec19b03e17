package admin

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"mailward/events"
	"mailward/queue"
)

// The queue viewer's actions, for the admin socket and for any other
// front end in the same process (the web administration, package
// webadmin): each one is done here once and logged as event 2010 the
// same way, whoever asked.

// Where an action came from, as event 2010 says it ("via {via}").
const (
	ViaSocket = "the admin socket"
	ViaWeb    = "the web administration"
)

// Caller is who asked for an action: Via (ViaSocket, ViaWeb) and the
// event's fields naming the caller (uid and pid for the socket; user and
// client for the web).
type Caller struct {
	Via    string
	Fields []any
}

// Retry makes the named queue's waiting messages ready for an attempt
// now. A refusal is an *Error with the HTTP status the socket answers.
func (s *Server) Retry(c Caller, name string) (Result, error) {
	if len(s.overview(name).Queues) == 0 {
		return s.refuse(c, http.StatusNotFound, "retry", "queue "+name, fmt.Sprintf("no delivery queue %q", name))
	}
	n := s.retry(name)
	text := fmt.Sprintf("%d message(s) made ready for an attempt now", n)
	if s.hops.Suspended(name) {
		text += " (the queue is suspended: deliveries stay held until it is resumed)"
	}
	return s.did(c, Result{Action: "retry", Target: name, Count: n, Result: text})
}

// Suspend holds the deliveries of the named queue until Resume, also
// across a restart.
func (s *Server) Suspend(c Caller, name string) (Result, error) {
	if msg := checkQueueName(name); msg != "" {
		return s.refuse(c, http.StatusBadRequest, "suspend", "queue "+name, msg)
	}
	if name == SubmissionQueue {
		return s.refuse(c, http.StatusBadRequest, "suspend", "queue "+name,
			"the submission queue cannot be suspended: its messages have no next hop yet")
	}
	if err := s.hops.Suspend(name, true); err != nil {
		return s.refuse(c, http.StatusInternalServerError, "suspend", "queue "+name, err.Error())
	}
	return s.did(c, Result{Action: "suspend", Target: name,
		Result: "deliveries through this queue are held until it is resumed; messages keep arriving and are queued"})
}

// Resume releases a suspended queue and makes its messages ready now.
func (s *Server) Resume(c Caller, name string) (Result, error) {
	if msg := checkQueueName(name); msg != "" {
		return s.refuse(c, http.StatusBadRequest, "resume", "queue "+name, msg)
	}
	was := s.hops.Suspended(name)
	if err := s.hops.Suspend(name, false); err != nil {
		return s.refuse(c, http.StatusInternalServerError, "resume", "queue "+name, err.Error())
	}
	n := s.retry(name)
	text := fmt.Sprintf("deliveries resumed; %d message(s) made ready for an attempt now", n)
	if !was {
		text = fmt.Sprintf("the queue was not suspended; %d message(s) made ready for an attempt now", n)
	}
	return s.did(c, Result{Action: "resume", Target: name, Count: n, Result: text})
}

// Delete removes a message from the queue; with ndr its pending
// recipients fail (5.0.0) and the sender gets a non-delivery report.
func (s *Server) Delete(c Caller, id string, ndr bool) (Result, error) {
	err := s.q.Delete(id, ndr)
	if err != nil {
		return s.refuse(c, s.statusOf(err, id), "delete", "message "+id, s.messageError(err, id))
	}
	text := "deleted without a non-delivery report"
	if ndr {
		text = "deleted; its pending recipients failed (5.0.0) and the sender gets a non-delivery report"
	}
	return s.did(c, Result{Action: "delete", Target: id, Count: 1, Result: text})
}

// Freeze holds (on) or releases one message (queue.Freeze).
func (s *Server) Freeze(c Caller, id string, on bool) (Result, error) {
	action := "unfreeze"
	if on {
		action = "freeze"
	}
	changed, err := s.q.Freeze(id, on)
	if err != nil {
		return s.refuse(c, s.statusOf(err, id), action, "message "+id, s.messageError(err, id))
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
	return s.did(c, Result{Action: action, Target: id, Count: n, Result: text})
}

// statusOf is the HTTP status of a queue error about one message.
func (s *Server) statusOf(err error, id string) int {
	switch {
	case errors.Is(err, queue.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, queue.ErrInFlight):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// messageError says a queue error about one message in words.
func (s *Server) messageError(err error, id string) string {
	if errors.Is(err, queue.ErrNotFound) {
		return fmt.Sprintf("no message %q in the queue%s", id, stillLoading(loading(s.q.LoadState())))
	}
	return err.Error()
}

// did logs a done action.
func (s *Server) did(c Caller, res Result) (Result, error) {
	target := "queue " + res.Target
	if res.Action == "delete" || res.Action == "freeze" || res.Action == "unfreeze" {
		target = "message " + res.Target
	}
	s.logAction(c, res.Action, target, res.Result)
	return res, nil
}

// refuse logs a refused action and returns its error.
func (s *Server) refuse(c Caller, code int, action, target, msg string) (Result, error) {
	s.logAction(c, action, target, "refused: "+msg)
	return Result{}, &Error{Code: code, Message: msg}
}

func (s *Server) logAction(c Caller, action, target, result string) {
	kv := []any{"action", "asked to " + action, "target", printable(target), "result", result, "via", c.Via}
	if id, ok := strings.CutPrefix(target, "message "); ok {
		kv = append(kv, "queue_id", printable(id)) // message tracking (docs/tracking.md)
	}
	s.ev.Emit(events.QueueAction, append(kv, c.Fields...)...)
}
