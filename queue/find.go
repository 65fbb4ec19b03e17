package queue

import (
	"bufio"
	"io"
	"mime"
	"net/textproto"
	"strings"
)

// Filter selects messages for Find. Each non-empty field must match,
// case-insensitively, as a substring: From the sender, To any
// recipient (pending or not), Subject the decoded Subject header.
type Filter struct {
	From, To, Subject string
}

// Find returns, oldest first, at most limit (<= 0: no limit) of the
// queued messages that match f across every delivery queue, each with
// its Subject, and how many match in all. Only a Subject filter reads
// message content, and then only the header of the messages whose
// envelope already matched.
func (q *Queue) Find(f Filter, limit int) (page []View, total int) {
	from, to, subj := strings.ToLower(f.From), strings.ToLower(f.To), strings.ToLower(f.Subject)
	var match []*Message
	subjects := map[*Message]string{}
	for _, m := range q.liveMessages() {
		if from != "" && !strings.Contains(strings.ToLower(m.Env.From), from) {
			continue
		}
		if to != "" && !m.hasRecipient(to) {
			continue
		}
		if subj != "" {
			s := m.subject()
			if !strings.Contains(strings.ToLower(s), subj) {
				continue
			}
			subjects[m] = s
		}
		match = append(match, m)
	}
	total = len(match)
	page, match = q.page(match, limit)
	for i, m := range match {
		s, ok := subjects[m]
		if !ok {
			s = m.subject()
		}
		page[i].Subject = s
	}
	return page, total
}

// hasRecipient reports whether one of m's recipients (including those
// an expansion added) contains lowered.
func (m *Message) hasRecipient(lowered string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.Env.Recipients {
		if strings.Contains(strings.ToLower(r.Addr), lowered) {
			return true
		}
	}
	return false
}

// maxFindHeader bounds what Find reads of one message's header.
const maxFindHeader = 64 << 10

// subject reads m's Subject header, RFC 2047 words decoded; "" when it
// has none or cannot be read.
func (m *Message) subject() string {
	rc, err := m.Open()
	if err != nil {
		return ""
	}
	defer rc.Close()
	h, _ := textproto.NewReader(bufio.NewReader(io.LimitReader(rc, maxFindHeader))).ReadMIMEHeader()
	s := h.Get("Subject")
	dec := new(mime.WordDecoder)
	if d, err := dec.DecodeHeader(s); err == nil {
		s = d
	}
	return s
}
