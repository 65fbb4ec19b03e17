package queue

import (
	"encoding/json"
	"fmt"
)

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

// putJournal writes a journal recipient's lines in the envelope block:
// a journal recipient decided at receipt is written with the message, in
// the same commit (docs/journaling.md), so the block carries what its
// report needs.
func putJournal(put func(k, v string) error, r Recipient) error {
	b, err := json.Marshal(r.Journal)
	if err != nil {
		return fmt.Errorf("queue: journal recipient %s: %w", r.Addr, err)
	}
	if err := put("journal", string(b)); err != nil {
		return err
	}
	if r.ReportTo != "" {
		return put("report_to", r.ReportTo)
	}
	return nil
}

// readJournal reads one of putJournal's lines into r.
func readJournal(r *Recipient, k, v string) error {
	if k == "report_to" {
		r.ReportTo = v
		return nil
	}
	var j JournalEnvelope
	if err := json.Unmarshal([]byte(v), &j); err != nil {
		return fmt.Errorf("bad journal value for %s: %v", r.Addr, err)
	}
	r.Journal = &j
	return nil
}
