package setup

import (
	"mailward/categorize"
	"mailward/queue"
	"mailward/smtp"
)

// journalingSpool decides a received message's journal recipients just
// before its envelope is written (categorize.JournalAtReceipt), so the
// journal report is queued in the same durable commit as the message
// (docs/journaling.md). Wrapping the spool covers DATA and BDAT alike.
type journalingSpool struct {
	smtp.Spool
	c *categorize.Categorizer
}

func (s journalingSpool) Create(env *queue.Envelope) (smtp.MessageWriter, error) {
	j := s.c.JournalAtReceipt(env)
	w, err := s.Spool.Create(env)
	if err != nil || (len(j.Added) == 0 && j.Reason == "") {
		return w, err
	}
	return journaledWriter{MessageWriter: w, queued: func() { s.c.JournalQueued(env, j) }}, nil
}

// journaledWriter writes event 3011 once the message, and with it its
// journal recipients, is committed.
type journaledWriter struct {
	smtp.MessageWriter
	queued func()
}

func (w journaledWriter) Commit() error {
	if err := w.MessageWriter.Commit(); err != nil {
		return err
	}
	w.queued()
	return nil
}
