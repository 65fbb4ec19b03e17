package dsn

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"mailward/events"
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
	MaxAge     time.Duration // queue.max_age, for Will-Retry-Until in delay notices
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
	var local, relayed []int
	for _, i := range done {
		if m.Status[i].Hop == "local" {
			local = append(local, i)
		} else {
			relayed = append(relayed, i)
		}
	}
	if len(local) > 0 {
		if err := b.notify(m, local, "SUCCESS", "delivered"); err != nil {
			return err
		}
	}
	if len(relayed) > 0 {
		return b.notify(m, relayed, "SUCCESS", "relayed")
	}
	return nil
}

func (b *Bouncer) notify(m *queue.Message, idx []int, kind, action string) error {
	if m.Env.From == "" {
		b.Events.Emit(events.NDRSuppressed, "queue_id", m.Env.ID, "reason", "the message came from the null sender <>")
		return nil
	}
	var rcpts []Recipient
	for _, i := range idx {
		if !m.Env.NotifyOn(i, kind) {
			continue
		}
		s := m.Status[i]
		r := m.Env.Recipients[i]
		status := s.Reply.EnhancedStatus()
		if action == "delayed" && status[0] != '4' {
			status = "4.0.0"
		}
		rc := Recipient{Final: r.Addr, Original: r.ORCPT, Action: action,
			Status: status, Diagnostic: s.Reply.String(), RemoteMTA: s.RemoteMTA, LastAttempt: s.Last}
		if action == "delayed" && b.MaxAge > 0 {
			rc.WillRetryUntil = m.Env.Arrival.Add(b.MaxAge)
		}
		rcpts = append(rcpts, rc)
	}
	if len(rcpts) == 0 {
		b.Events.Emit(events.NDRSuppressed, "queue_id", m.Env.ID, "reason", "the recipients asked for no "+strings.ToLower(kind)+" notice (NOTIFY)")
		return nil
	}
	original, err := b.original(m)
	if err != nil {
		return err
	}
	msg, err := Build(Report{ReportingMTA: b.FQDN, From: b.Postmaster, To: m.Env.From, QueueID: m.Env.ID,
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
	env := &queue.Envelope{From: "", Recipients: []queue.Recipient{{Addr: m.Env.From, Notify: "NEVER"}},
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
	case "delivered", "relayed":
		id = events.SuccessNoticeSent
	}
	b.Events.Emit(id, "ndr_id", env.ID, "queue_id", m.Env.ID, "to", m.Env.From, "recipients", len(rcpts))
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
