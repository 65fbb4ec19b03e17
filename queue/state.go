package queue

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"mailward/reply"
)

// State of one recipient.
type State int

const (
	Pending   State = iota // not yet attempted, or deferred
	Delivered              // final: delivered (or relayed onwards)
	Failed                 // final: permanent failure, an NDR is due
)

func (s State) String() string {
	switch s {
	case Delivered:
		return "delivered"
	case Failed:
		return "failed"
	}
	return "pending"
}

// RcptStatus is what the queue knows about one recipient's delivery.
type RcptStatus struct {
	State State
	// Reply is the outcome of the last attempt: the next hop's reply, or
	// the one local delivery made for its own outcome.
	Reply     reply.Reply
	RemoteMTA string
	Attempts  int
	Last      time.Time
	Bounced   bool   // the NDR for this failure has been queued
	Warned    bool   // the delay notice for this recipient has been queued
	Hop       string // the next hop of the last attempt ("local", a domain, a smart host)
}

// Result is a delivery stage's outcome for one recipient.
type Result struct {
	Index     int
	State     State // Pending means deferred (temporary failure)
	Reply     reply.Reply
	RemoteMTA string
	Hop       string // the delivery queue (next hop) the recipient was tried through
	// NotifyPassed: the next hop took the DSN request over (it offers
	// DSN, RFC 3461 §5.2.2), so a success notice is its job, not ours.
	NotifyPassed bool
}

// The state file (<id>.state) is an append-only log beside the queue
// file, one line per recipient outcome:
//
//	r <index> <state> <unix-seconds> <status> <remote-mta or -> <hop or -> <reply...>
//	b <index>            (the NDR for this failed recipient is queued)
//	x <index> <json> [fw] (recipients an expansion added; expand.go)
//	w <index>            (the delay notice for this recipient is queued)
//	f 1 | f 0            (frozen | unfrozen by an administrator; freeze.go)
//
// It is fsynced after each append. The last line for an index wins.
func appendState(path string, lines []string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strings.Join(lines, ""))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func resultLine(r Result, now time.Time) string {
	mta := r.RemoteMTA
	if mta == "" {
		mta = "-"
	}
	diag := strings.Map(func(c rune) rune {
		if c == '\r' || c == '\n' {
			return ' '
		}
		return c
	}, r.Reply.String())
	return fmt.Sprintf("r %d %d %d %s %s %s %s\n", r.Index, r.State, now.Unix(), orDash(r.Reply.Status), mta, orDash(r.Hop), diag)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// storedReply reads back the reply of a state line. Lines written before
// outcomes were replies hold a bare text for local outcomes ("delivered
// to maildir ..."): it is given the code its status (or, without one,
// its state) implies.
func storedReply(st State, status, text string) reply.Reply {
	if r, ok := reply.Parse(text); ok {
		return r
	}
	if status == "" {
		status = map[State]string{Pending: "4.0.0", Delivered: "2.0.0", Failed: "5.0.0"}[st]
	}
	return reply.FromStatus(status, text)
}

// readState replays the state file into m: outcomes, notices, and the
// recipients expansions added (in the order they were added, so that
// each keeps its index).
func (m *Message) readState(path string) error {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	// An expansion record holds every member of a group on one line.
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		line := sc.Text()
		if x, ok := parseExpansion(line); ok {
			if x.Index >= 0 && x.Index < len(m.Env.Recipients) {
				m.applyExpansion(x)
			}
			continue
		}
		fs := strings.SplitN(line, " ", 8)
		if len(fs) < 2 {
			continue // a torn last line after a crash
		}
		if fs[0] == "f" {
			// Not a recipient's line: the message's freeze, the last
			// one wins. A torn "f" line is neither 0 nor 1: ignored.
			if fs[1] == "1" || fs[1] == "0" {
				m.frozen = fs[1] == "1"
			}
			continue
		}
		i, err := strconv.Atoi(fs[1])
		st := m.Status
		if err != nil || i < 0 || i >= len(st) {
			continue
		}
		switch {
		case fs[0] == "b":
			st[i].Bounced = true
		case fs[0] == "w":
			st[i].Warned = true
		case fs[0] == "r" && len(fs) == 8:
			s, _ := strconv.Atoi(fs[2])
			ts, _ := strconv.ParseInt(fs[3], 10, 64)
			st[i].State = State(s)
			st[i].Last = time.Unix(ts, 0)
			st[i].Reply = storedReply(st[i].State, strings.TrimPrefix(fs[4], "-"), fs[7])
			st[i].RemoteMTA = strings.TrimPrefix(fs[5], "-")
			st[i].Hop = strings.TrimPrefix(fs[6], "-")
			st[i].Attempts++
		}
	}
	return sc.Err()
}
