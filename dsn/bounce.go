package dsn

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"mailward/events"
	"mailward/metrics"
	"mailward/queue"
)

// maxOriginal bounds how much of the original is read for a notice
// without a SizeLimit.
const maxOriginal = 10 << 20

// Bouncer queues non-delivery reports; its Bounce method is a
// queue.Bouncer.
type Bouncer struct {
	Queue      *queue.Queue
	FQDN       string // Reporting-MTA
	Postmaster string // From: of the notice
	Events     *events.Log
	Metrics    *metrics.Recorder // counts the notices queued; nil: nothing is counted
	MaxAge     time.Duration     // queue.max_age, for Will-Retry-Until in delay notices
	// SizeLimit is queue.bounce_size_limit: the most bytes of the
	// original a notice returns, header included, whatever RET says
	// (see returnedPart). 0: no limit.
	SizeLimit int
}

// Bounce sends one NDR for the failed recipients of m to its envelope
// sender, from the null sender so it can never bounce back (RFC 5321
// §6.1, RFC 3464). Recipients that asked NOTIFY=NEVER or NOTIFY without
// FAILURE are left out (RFC 3461 §4.1).
func (b *Bouncer) Bounce(m *queue.Message, failed []int) error {
	return b.notify(m, failed, "FAILURE", "failed")
}

// Delay sends a "delayed" notice (RFC 3464 Action: delayed) for
// recipients still pending after the warning time: the sender learns the
// message is late and until when it will be retried. Default NOTIFY
// includes DELAY (RFC 3461 §4.1 leaves it to the MTA; Postfix and
// Exchange warn by default).
func (b *Bouncer) Delay(m *queue.Message, pending []int) error {
	return b.notify(m, pending, "DELAY", "delayed")
}

// Success sends RFC 3461 success notices (NOTIFY=SUCCESS): "delivered"
// for local mailboxes, "relayed" for a next hop that could not take the
// request over (RFC 3464 §2.3.3).
func (b *Bouncer) Success(m *queue.Message, done []int) error {
	byAction := map[string][]int{}
	for _, i := range done {
		switch m.Status[i].Hop {
		case "local":
			byAction["delivered"] = append(byAction["delivered"], i)
		case queue.ExpandedHop:
			// A distribution group: "expanded" (RFC 3464 §2.3.3).
			byAction["expanded"] = append(byAction["expanded"], i)
		default:
			byAction["relayed"] = append(byAction["relayed"], i)
		}
	}
	for _, action := range []string{"delivered", "expanded", "relayed"} {
		if idx := byAction[action]; len(idx) > 0 {
			if err := b.notify(m, idx, "SUCCESS", action); err != nil {
				return err
			}
		}
	}
	return nil
}

// notify sends the notices about recipients idx: one to the sender, and
// one to each group owner that takes the reports about its members
// (docs/categorizer.md); a group whose reports are off gets none.
func (b *Bouncer) notify(m *queue.Message, idx []int, kind, action string) error {
	up := upstream(m)
	byDest := map[string][]Recipient{}
	var dests []string
	hidden := map[string]bool{}
	for _, i := range idx {
		if !m.Env.NotifyOn(i, kind) {
			continue
		}
		r := recipientView(m, i, up)
		dest := m.Env.From
		switch r.ReportTo {
		case "":
		case "-":
			b.Events.Emit(events.NDRSuppressed, "queue_id", m.Env.ID, "message_id", m.MessageID(), "reason", "the delivery reports of the group "+groupOf(r)+" are off")
			continue
		default:
			dest = r.ReportTo
		}
		if dest == "" {
			continue // the null sender: reported below if nobody else is
		}
		s := m.Status[i]
		status := s.Reply.EnhancedStatus()
		if action == "delayed" && status[0] != '4' {
			status = "4.0.0"
		}
		rc := Recipient{Final: r.Addr, Original: r.ORCPT, Action: action,
			Status: status, Diagnostic: s.Reply.String(), RemoteMTA: s.RemoteMTA, LastAttempt: s.Last}
		if r.Hidden != "" {
			// Hidden membership: the report names the group, never the
			// member, nor anything that would tell it (its reply, its
			// server); one line per group.
			if hidden[dest+" "+r.Hidden] {
				continue
			}
			hidden[dest+" "+r.Hidden] = true
			rc.Final, rc.Original, rc.RemoteMTA = r.Hidden, "", ""
			rc.Diagnostic = ""
		}
		if action == "delayed" && b.MaxAge > 0 {
			rc.WillRetryUntil = m.Env.Arrival.Add(b.MaxAge)
		}
		if _, ok := byDest[dest]; !ok {
			dests = append(dests, dest)
		}
		byDest[dest] = append(byDest[dest], rc)
	}
	if len(dests) == 0 {
		reason := "the recipients asked for no " + strings.ToLower(kind) + " notice (NOTIFY)"
		if m.Env.From == "" {
			reason = "the message came from the null sender <>"
		}
		b.Events.Emit(events.NDRSuppressed, "queue_id", m.Env.ID, "message_id", m.MessageID(), "reason", reason)
		return nil
	}
	for _, dest := range dests {
		if err := b.send(m, dest, byDest[dest], action); err != nil {
			return err
		}
	}
	return nil
}

// send queues one notice about rcpts to dest.
func (b *Bouncer) send(m *queue.Message, dest string, rcpts []Recipient, action string) error {
	original, err := b.original(m)
	if err != nil {
		return err
	}
	msg, err := Build(Report{ReportingMTA: b.FQDN, From: b.Postmaster, To: dest, QueueID: m.Env.ID,
		EnvID: m.Env.EnvID, ArrivalDate: m.Env.Arrival, Date: time.Now(), Recipients: rcpts,
		Original: original, FullMessage: m.Env.Ret == "FULL" && action == "failed", ReturnLimit: b.SizeLimit})
	if err != nil {
		return err
	}
	body := "7BIT"
	if bytes.ContainsFunc(msg, func(r rune) bool { return r >= 0x80 }) {
		// RET=FULL of an 8-bit original: message/rfc822 may not be
		// base64-encoded (RFC 2046 §5.2.1), so the notice is 8BITMIME.
		body = "8BITMIME"
	}
	env := &queue.Envelope{From: "", Recipients: []queue.Recipient{{Addr: dest, Notify: "NEVER"}},
		ClientIP: "127.0.0.1", Helo: b.FQDN, VirtualServer: "dsn", Body: body}
	w, err := b.Queue.Create(env)
	if err != nil {
		return fmt.Errorf("dsn: queue %s notice for %s: %w", action, m.Env.ID, err)
	}
	if _, err := w.Write(msg); err != nil {
		w.Abort()
		return fmt.Errorf("dsn: queue %s notice for %s: %w", action, m.Env.ID, err)
	}
	if err := w.Commit(); err != nil {
		return fmt.Errorf("dsn: queue %s notice for %s: %w", action, m.Env.ID, err)
	}
	id := events.NDRSent
	switch action {
	case "delayed":
		id = events.DelayNoticeSent
	case "delivered", "relayed", "expanded":
		id = events.SuccessNoticeSent
	}
	b.Events.Emit(id, "ndr_id", env.ID, "queue_id", m.Env.ID, "message_id", m.MessageID(), "to", dest, "recipients", len(rcpts))
	b.Metrics.DSN(action)
	return nil
}

func (b *Bouncer) original(m *queue.Message) ([]byte, error) {
	f, err := m.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// One byte past the limit shows that the original is over it; the
	// rest is never needed.
	n := int64(maxOriginal)
	if b.SizeLimit > 0 && int64(b.SizeLimit) < n {
		n = int64(b.SizeLimit) + 1
	}
	data, err := io.ReadAll(io.LimitReader(f, n))
	if err != nil {
		return nil, fmt.Errorf("dsn: read original %s: %w", m.Env.ID, err)
	}
	return data, nil
}
