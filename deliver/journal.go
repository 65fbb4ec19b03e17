package deliver

// A journal recipient gets the envelope journal report, not the message
// (docs/journaling.md): built from the queued message and what was
// recorded with the recipient, the same bytes on every attempt; sent in
// a transaction of its own, from the postmaster, its XEXCH50 saying it
// is a journal report, journaled.

import (
	"bytes"
	"fmt"
	"io"

	"mailward/journal"
	"mailward/orgauth"
	"mailward/queue"
)

// JournalReport builds the journal report recipient i of m gets.
func JournalReport(m *queue.Message, i int) ([]byte, error) {
	j := m.Env.Recipients[i].Journal
	if j == nil {
		return nil, fmt.Errorf("recipient %d of %s is not a journal recipient", i, m.Env.ID)
	}
	f, err := m.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	original, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("journal report of %s: %w", m.Env.ID, err)
	}
	r := journal.Report{From: j.From, To: m.Env.Recipients[i].Addr, QueueID: m.Env.ID, Date: m.Env.Arrival,
		Sender: m.Env.From, Original: original}
	for _, rc := range j.Recipients {
		r.Recipients = append(r.Recipients, journal.Recipient{Addr: rc.Addr, Expanded: rc.Expanded, Forwarded: rc.Forwarded})
	}
	return journal.Build(r), nil
}

// payload is what a transaction for the recipients idx sends: the
// message, or — for a journal recipient, which travels alone — its
// report, from the address its reports go to (the postmaster).
func payload(m *queue.Message, idx []int) (from string, size int64, body string, open func() (io.ReadCloser, error)) {
	if !isReport(m, idx) {
		return m.Env.From, m.Size(), m.Env.Body, func() (io.ReadCloser, error) { return m.Open() }
	}
	b, err := JournalReport(m, idx[0])
	body = "7BIT"
	if bytes.ContainsFunc(b, func(r rune) bool { return r >= 0x80 }) {
		body = "8BITMIME" // the original, attached as it is, is 8-bit
	}
	return m.Env.Recipients[idx[0]].ReportTo, int64(len(b)), body, func() (io.ReadCloser, error) {
		if err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	}
}

// isReport: the transaction for idx carries a journal report, not the
// message (a journal recipient always travels alone: journalKey).
func isReport(m *queue.Message, idx []int) bool {
	return len(idx) == 1 && m.Env.IsJournal(idx[0])
}

// journalKey keeps each journal recipient in a transaction of its own
// (Deliver groups jobs by it as well as by next hop).
func journalKey(m *queue.Message, i int) string {
	if m.Env.IsJournal(i) {
		return "\x00journal " + m.Env.Recipients[i].Addr
	}
	return ""
}

// journalProps marks what journaling decided in the properties: a
// message journaled here (or upstream) is journaled for every server
// after this one, and a journal report says so, without the original's
// authenticated sender (the report is the postmaster's).
func journalProps(p *orgauth.Props, env *queue.Envelope, idx []int) {
	for i := range env.Recipients {
		p.Message.Journaled = p.Message.Journaled || env.IsJournal(i)
	}
	if len(idx) == 1 && env.IsJournal(idx[0]) {
		p.Message.JournalReport, p.Message.Covered = true, nil
		p.Envelope.AuthSender = ""
	}
}
