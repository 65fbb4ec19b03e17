package queue

// JournalEnvelope is what a journal recipient's report lists and cannot
// re-derive identically later (docs/journaling.md): recorded with the
// recipient in its x record, before any delivery, so that every attempt
// sends the same report.
type JournalEnvelope struct {
	// From is the organization's journaling address (the report's From:).
	From string `json:"fr"`
	// Rules name the journal rules that asked for this report.
	Rules []string `json:"ru,omitempty"`
	// Recipients are the message's recipients as the report lists them.
	Recipients []JournalRecipient `json:"rc"`
	// NoUpstream: the message came from another organization server
	// without its properties (XEXCH50 refused): it may have been
	// journaled there already (KB843106).
	NoUpstream bool `json:"nu,omitempty"`
}

// JournalRecipient is one recipient of a journal report.
type JournalRecipient struct {
	Addr      string   `json:"a"`
	Expanded  []string `json:"g,omitempty"`
	Forwarded []string `json:"f,omitempty"`
}

// IsJournal reports whether recipient i is a journal recipient.
func (e *Envelope) IsJournal(i int) bool { return e.Recipients[i].Journal != nil }
