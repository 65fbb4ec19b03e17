package admin

import (
	"time"

	"mailward/queue"
)

// SubmissionQueue is the name of the queue of messages whose pending
// recipients have no next hop yet (not categorized or not routed), like
// Exchange's "Submission" queue.
const SubmissionQueue = "submission"

// Queue states.
const (
	StateReady     = "ready"     // deliveries go ahead
	StateRetry     = "retry"     // the last attempt failed, or a message waits for its next retry
	StateSuspended = "suspended" // an administrator holds deliveries
)

// Queue is one delivery queue (one next hop) as the queue viewer lists it.
type Queue struct {
	Name  string `json:"name"`
	State string `json:"state"`
	// Messages counts the messages with at least one pending recipient
	// in this queue; Recipients counts those pending recipients.
	Messages   int `json:"messages"`
	Recipients int `json:"recipients"`
	// NextRetry is the earliest next attempt of its messages.
	NextRetry time.Time `json:"next_retry,omitzero"`
	// LastError is the queue's last error (KB979174): the hop's when
	// its last attempt failed, else the latest error of a pending
	// recipient.
	LastError   string    `json:"last_error,omitempty"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	// Bytes sums the sizes of its messages; Oldest is the earliest
	// arrival among them.
	Bytes  int64     `json:"bytes"`
	Oldest time.Time `json:"oldest,omitzero"`
}

// Overview is the whole queue at a glance (GET /summary): what
// "mailward queue list" prints. The server sums it up, so its size does
// not grow with the number of messages.
type Overview struct {
	// Messages counts the queued messages the server holds; while the
	// spool found at start is loading, only those loaded so far and
	// those received since.
	Messages int `json:"messages"`
	Ready    int `json:"ready"`     // waiting for a delivery worker
	InFlight int `json:"in_flight"` // being delivered right now
	Waiting  int `json:"waiting"`   // waiting for their next retry
	Frozen   int `json:"frozen"`    // held by an administrator until unfrozen
	// Bytes sums the sizes of all the messages (a message pending in two
	// queues counts once); Oldest is the earliest arrival of a message
	// pending in a queue.
	Bytes  int64     `json:"bytes"`
	Oldest time.Time `json:"oldest,omitzero"`
	Queues []Queue   `json:"queues"`
	// Loading is set while the spool found at start is still loading.
	Loading *Loading `json:"loading,omitempty"`
}

// Loading is the progress of the load of the spool found at start.
type Loading struct {
	Loaded int `json:"loaded"`
	// Total is the number of messages found at start; -1 while the
	// spool's active/ directory is still being listed.
	Total int `json:"total"`
}

// QueueDetail is one queue with its messages, oldest first, at most a
// page of them (GET /queues/{name}?limit=N&after=ID).
type QueueDetail struct {
	Queue    Queue     `json:"queue"`
	Messages []Message `json:"messages"`
	// Next is the ID to pass as after= for the next page; empty on the
	// last page.
	Next    string   `json:"next,omitempty"`
	Loading *Loading `json:"loading,omitempty"`
}

// Page sizes of GET /queues/{name}: the default and the largest.
const (
	DefaultPage = 1000
	MaxPage     = 10000
)

// Message is a message as one queue shows it: only its recipients
// pending in that queue are listed.
type Message struct {
	ID         string      `json:"id"`
	From       string      `json:"from"`
	Arrival    time.Time   `json:"arrival"`
	NextRetry  time.Time   `json:"next_retry,omitzero"`
	InFlight   bool        `json:"in_flight"`
	Frozen     bool        `json:"frozen,omitempty"`
	Size       int64       `json:"size"`
	Recipients []Recipient `json:"recipients"`
}

// Recipient is one recipient of a Message.
type Recipient struct {
	Address     string    `json:"address"`
	State       string    `json:"state"`
	Status      string    `json:"status,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	RemoteMTA   string    `json:"remote_mta,omitempty"`
	Attempts    int       `json:"attempts"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
}

// MessageView is a whole message with all its recipients, whatever their
// queue or state (GET /messages/{id}).
type MessageView = queue.View

// Result is what an action did.
type Result struct {
	Action string `json:"action"` // "retry", "suspend", "resume", "delete", "freeze", "unfreeze"
	Target string `json:"target"` // the queue name or message ID
	// Count is how many messages were made ready for an attempt now
	// (retry, resume).
	Count  int    `json:"count"`
	Result string `json:"result"` // what happened, in words
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error string `json:"error"`
}

// Found is the answer of GET /find: the matching messages, oldest first,
// at most a page of them, each with all its recipients and its Subject,
// and how many match in all.
type Found struct {
	Messages []MessageView `json:"messages"`
	Total    int           `json:"total"`
}
