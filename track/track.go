// Package track follows messages through the event logs of one or more
// servers of an organization (docs/tracking.md): every event about a
// message carries its queue ID (queue_id) and its Message-ID
// (message_id), so that the events of one message on one server are
// found by the first, and its path from server to server by the second
// and by the next server's queue ID in the reply that took it
// ("250 2.6.0 <queue ID> Queued mail for delivery" from mailward,
// "250 2.0.0 Ok: queued as <queue ID>" from Postfix).
package track

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"mailward/events"
	"mailward/message"
)

// Log is one server's event log, as read.
type Log struct {
	// Server names the server in the output: the fqdn of its last start
	// (event 1000), or what the caller gave.
	Server  string
	Records []events.Record
}

// Load reads the event log at path (with its rotated files, as
// events.Read does). name labels it; "" takes the fqdn its last
// start event (1000) recorded, or else the path.
func Load(name, path string) (Log, error) {
	recs, err := events.Read(path, events.Filter{})
	if err != nil {
		return Log{}, err
	}
	if name == "" {
		name = path
		for i := len(recs) - 1; i >= 0; i-- {
			if recs[i].ID == events.ServiceStarted && recs[i].Fields["fqdn"] != "" {
				name = recs[i].Fields["fqdn"]
				break
			}
		}
	}
	return Log{Server: name, Records: recs}, nil
}

// Query selects messages; a zero field matches everything.
type Query struct {
	QueueID   string // one of the message's queue IDs, on any server
	MessageID string // its Message-ID, with or without the angle brackets
	From      string // its envelope sender
	To        string // one of its recipients: addressed, or reached through a group or forward
	Since     time.Time
	Until     time.Time
}

// Step is one event of a message's story.
type Step struct {
	Time      time.Time `json:"time"`
	Server    string    `json:"server"`
	EventID   int       `json:"event_id"`
	Kind      string    `json:"kind"`
	QueueID   string    `json:"queue_id"`
	MessageID string    `json:"message_id,omitempty"`
	Rcpt      string    `json:"rcpt,omitempty"`
	Hop       string    `json:"hop,omitempty"`
	Host      string    `json:"host,omitempty"`
	Attempt   string    `json:"attempt,omitempty"`
	// NextQueueID is the queue ID the next server gave the message, as
	// its reply said (delivered steps only).
	NextQueueID string            `json:"next_queue_id,omitempty"`
	Detail      string            `json:"detail"`
	Message     string            `json:"message"`
	Fields      map[string]string `json:"fields"`
}

// Story is one message's path, its steps in time order.
type Story struct {
	MessageID string `json:"message_id"`
	From      string `json:"from"`
	// QueueIDs are its queue IDs on each server, in order of arrival.
	QueueIDs []ServerQueueID `json:"queue_ids"`
	Steps    []Step          `json:"steps"`
}

// ServerQueueID is the queue ID a message had on one server.
type ServerQueueID struct {
	Server  string `json:"server"`
	QueueID string `json:"queue_id"`
}

// kinds names the events that are steps of a path; any other event with
// a queue_id is shown as "event".
var kinds = map[int]string{
	events.MessageQueued:       "received",
	events.BdatReceived:        "received-bdat",
	events.MessageRouted:       "queued",
	events.GroupExpanded:       "expanded",
	events.AlternateApplied:    "forwarded",
	events.ForwardingLoop:      "forwarding-loop",
	events.JournalReportQueued: "journaled",
	events.JournalNotRepeated:  "not-journaled",
	events.RestrictionRefused:  "refused",
	events.ExpansionLimit:      "refused",
	events.HopLimitExceeded:    "failed",
	events.MailLoopsBack:       "failed",
	events.Delivered:           "delivered",
	events.DeliveryDeferred:    "deferred",
	events.DeliveryFailed:      "failed",
	events.NDRSent:             "ndr",
	events.NDRSuppressed:       "no-ndr",
	events.DelayNoticeSent:     "delay-notice",
	events.SuccessNoticeSent:   "success-notice",
	events.QueueAction:         "admin",
	events.SenderDropped:       "dropped",
	events.XEXCH50Failed:       "xexch50-failed",
	events.DeliveredToJunk:     "junk",
}

// nextQueueID finds the next server's queue ID in the reply a delivered
// event quotes: mailward's own 250 (smtp/data.go) and Postfix's.
var nextQueueID = regexp.MustCompile(`\b250 2\.6\.0 ([0-9A-F]{10,}) Queued mail for delivery|queued as ([0-9A-Za-z]+)`)

// Find returns the stories of the messages in logs that q selects,
// the oldest first.
func Find(logs []Log, q Query) []Story {
	u := newUnion()
	var steps []Step
	for _, l := range logs {
		for _, r := range l.Records {
			qid := r.Fields["queue_id"]
			if qid == "" {
				continue
			}
			st := step(l.Server, r)
			steps = append(steps, st)
			u.join("q:"+qid, "q:"+qid)
			if known(st.MessageID) {
				u.join("q:"+qid, "m:"+st.MessageID)
			}
			if st.NextQueueID != "" {
				u.join("q:"+qid, "q:"+st.NextQueueID)
			}
		}
	}
	groups := map[string]*Story{}
	var order []string
	for _, st := range steps {
		root := u.find("q:" + st.QueueID)
		s, ok := groups[root]
		if !ok {
			s = &Story{}
			groups[root] = s
			order = append(order, root)
		}
		s.Steps = append(s.Steps, st)
	}
	var out []Story
	for _, root := range order {
		s := groups[root]
		// Stable: steps of one server at one instant keep the log's order.
		slices.SortStableFunc(s.Steps, func(a, b Step) int { return a.Time.Compare(b.Time) })
		receivedFirst(s.Steps)
		s.fill()
		if q.matches(s) {
			out = append(out, *s)
		}
	}
	slices.SortStableFunc(out, func(a, b Story) int { return a.Steps[0].Time.Compare(b.Steps[0].Time) })
	return out
}

// receivedFirst puts each queue ID's receipt before every other step
// of that queue ID. The receive side writes event 2000 once the commit
// has returned, and by then the queue may already be working on the
// message (an expansion's 3005 can be written a moment earlier): the
// story tells what happened in the order it could happen.
func receivedFirst(steps []Step) {
	for i, st := range steps {
		if st.EventID != events.MessageQueued {
			continue
		}
		j := slices.IndexFunc(steps[:i], func(o Step) bool { return o.QueueID == st.QueueID && o.Server == st.Server })
		if j >= 0 {
			copy(steps[j+1:i+1], steps[j:i])
			steps[j] = st
		}
	}
}

func known(msgID string) bool { return msgID != "" && msgID != message.NoMessageID }

func step(server string, r events.Record) Step {
	f := r.Fields
	st := Step{Time: r.Time, Server: server, EventID: r.ID, Kind: cmp.Or(kinds[r.ID], "event"), QueueID: f["queue_id"],
		MessageID: f["message_id"], Rcpt: f["rcpt"], Hop: f["hop"], Host: f["host"], Attempt: f["attempt"],
		Message: r.Message, Fields: f}
	if r.ID == events.Delivered {
		if m := nextQueueID.FindStringSubmatch(f["where"]); m != nil {
			st.NextQueueID = cmp.Or(m[1], m[2])
		}
		switch st.Hop {
		case "expanded", "forwarded": // the group or mailbox itself: its 3005 or 3008 says what became of it
			st.Kind = "resolved"
		}
	}
	st.Detail = detail(st)
	return st
}

// detail is a step's one-line description, from its fields.
func detail(st Step) string {
	f := st.Fields
	via := func() string {
		s := ""
		if st.Attempt != "" {
			s += " attempt " + st.Attempt
		}
		if st.Hop != "" {
			s += " via " + st.Hop
		}
		if st.Host != "" {
			s += " (" + st.Host + ")"
		}
		return s
	}
	switch st.EventID {
	case events.MessageQueued:
		d := fmt.Sprintf("from <%s> on virtual server %s, client [%s]", strings.Trim(f["from"], "<>"), f["virtual_server"], f["ip"])
		if f["helo"] != "" {
			d += " EHLO " + f["helo"]
		}
		if f["auth"] != "" {
			d += ", authenticated as " + f["auth"]
		}
		return d + fmt.Sprintf(", %s bytes, to %s", f["size"], cmp.Or(f["rcpts"], f["recipients"]+" recipient(s)"))
	case events.MessageRouted:
		return fmt.Sprintf("%s for delivery queue %s", st.Rcpt, st.Hop)
	case events.GroupExpanded:
		return fmt.Sprintf("group %s to %s", f["group"], cmp.Or(f["rcpts"], f["added"]+" recipient(s)"))
	case events.AlternateApplied:
		return fmt.Sprintf("%s to its alternate recipient %s (deliver to both: %s)", f["mailbox"], f["alternate"], f["both"])
	case events.DeliveredToJunk:
		return fmt.Sprintf("%s into its Junk folder: SCL %s, store threshold %s", st.Rcpt, f["scl"], f["threshold"])
	case events.JournalReportQueued:
		return fmt.Sprintf("journal report for %s (rules %s)", f["journal_recipient"], f["rules"])
	case events.Delivered:
		if st.Kind == "resolved" {
			return f["where"]
		}
		return st.Rcpt + via() + ": " + f["where"]
	case events.DeliveryDeferred:
		return st.Rcpt + via() + ": " + f["error"]
	case events.DeliveryFailed:
		return st.Rcpt + via() + ": " + strings.TrimSpace(f["status"]+" "+f["error"])
	case events.NDRSent, events.DelayNoticeSent, events.SuccessNoticeSent:
		return fmt.Sprintf("notice %s to %s for %s recipient(s)", f["ndr_id"], f["to"], f["recipients"])
	case events.QueueAction:
		who := "uid " + f["uid"]
		if f["user"] != "" { // the web administration (docs/web-admin.md)
			who = "web administration, user " + f["user"]
		}
		return fmt.Sprintf("%s %s (%s): %s", f["action"], f["target"], who, f["result"])
	}
	return st.Message
}

// fill sets the story's Message-ID, sender and queue IDs from its steps.
func (s *Story) fill() {
	seen := map[string]bool{}
	for _, st := range s.Steps {
		if s.MessageID == "" || (!known(s.MessageID) && known(st.MessageID)) {
			s.MessageID = st.MessageID
		}
		if (st.EventID == events.MessageQueued || st.EventID == events.SenderDropped) && s.From == "" {
			s.From = cmp.Or(st.Fields["from"], "<>")
		}
		if k := st.Server + " " + st.QueueID; !seen[k] {
			seen[k] = true
			s.QueueIDs = append(s.QueueIDs, ServerQueueID{st.Server, st.QueueID})
		}
	}
}

func (q Query) matches(s *Story) bool {
	if q.QueueID != "" && !slices.ContainsFunc(s.QueueIDs, func(x ServerQueueID) bool { return x.QueueID == q.QueueID }) {
		return false
	}
	if q.MessageID != "" && strings.Trim(q.MessageID, "<> ") != strings.Trim(s.MessageID, "<>") {
		return false
	}
	if q.From != "" && !strings.EqualFold(strings.Trim(q.From, "<>"), strings.Trim(s.From, "<>")) {
		return false
	}
	if q.To != "" && !slices.ContainsFunc(s.Steps, func(st Step) bool { return hasRecipient(st, strings.Trim(q.To, "<>")) }) {
		return false
	}
	if !q.Since.IsZero() || !q.Until.IsZero() {
		in := func(st Step) bool {
			return (q.Since.IsZero() || !st.Time.Before(q.Since)) && (q.Until.IsZero() || !st.Time.After(q.Until))
		}
		if !slices.ContainsFunc(s.Steps, in) {
			return false
		}
	}
	return true
}

// hasRecipient reports whether a step names addr as a recipient.
func hasRecipient(st Step, addr string) bool {
	if strings.EqualFold(st.Rcpt, addr) || strings.EqualFold(st.Fields["alternate"], addr) {
		return true
	}
	for _, a := range strings.Split(st.Fields["rcpts"], ",") {
		if strings.EqualFold(strings.TrimSpace(a), addr) {
			return true
		}
	}
	return false
}

// union is a union-find over string keys: queue IDs ("q:") and
// Message-IDs ("m:").
type union struct{ parent map[string]string }

func newUnion() *union { return &union{parent: map[string]string{}} }

func (u *union) find(k string) string {
	p, ok := u.parent[k]
	if !ok {
		u.parent[k] = k
		return k
	}
	if p == k {
		return k
	}
	root := u.find(p)
	u.parent[k] = root
	return root
}

func (u *union) join(a, b string) {
	ra, rb := u.find(a), u.find(b)
	if ra != rb {
		u.parent[rb] = ra
	}
}

// Categories are the diagnostic categories whose events make up a
// message's path; each must be at minimum (the default) or above for
// tracking to see every step.
var Categories = []string{"queue", "categorizer", "delivery", "dsn"}

// Unwritten lists the categories of Categories that levels (a
// configuration's diagnostics) turn below minimum.
func Unwritten(levels map[string]events.Level) []string {
	var out []string
	for _, c := range Categories {
		if l, ok := levels[c]; ok && l < events.Minimum {
			out = append(out, c)
		}
	}
	return out
}
