package queue

import "mailward/message"

// MessageID is the message's Message-ID (message.NoMessageID when its
// header has none), which every event about the message carries beside
// its queue ID so that it can be followed across the servers of an
// organization (docs/tracking.md). It is read from the stored header
// the first time it is asked for, not kept in the envelope: queue files
// written before it existed have it too, and nothing is stored twice.
// A header that cannot be read gives "" (unknown), not NoMessageID.
func (m *Message) MessageID() string {
	m.msgIDOnce.Do(func() {
		if m.Env.MessageID != "" {
			m.msgID = m.Env.MessageID
			return
		}
		f, err := m.Open()
		if err != nil {
			return
		}
		defer f.Close()
		if id, err := message.ReadMessageID(f); err == nil {
			m.msgID = id
		}
	})
	return m.msgID
}
