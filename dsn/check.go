package dsn

import (
	"fmt"
	"strings"
	"time"

	"mailward/reply"
)

// notice is a validated Report with every string cleaned for use in
// header fields and in the us-ascii text part.
type notice struct {
	reportingMTA string
	from         string
	to           string
	queueID      string
	envID        string
	arrival      time.Time
	recipients   []recipient
}

type recipient struct {
	final, original, action, status, diagnostic, remoteMTA string
	lastAttempt, retryUntil                                time.Time
}

// actions are the action-values of RFC 3464 §2.3.3.
var actions = map[string]bool{
	"failed": true, "delayed": true, "delivered": true, "relayed": true, "expanded": true,
}

// check validates r and returns its cleaned form.
func check(r Report) (*notice, error) {
	n := &notice{
		reportingMTA: clean(r.ReportingMTA),
		from:         clean(r.From),
		to:           clean(r.To),
		queueID:      clean(r.QueueID),
		envID:        clean(r.EnvID),
		arrival:      r.ArrivalDate,
	}
	// Reporting-MTA is the one required per-message field (RFC 3464 §2.2).
	if n.reportingMTA == "" {
		return nil, fmt.Errorf("dsn: missing ReportingMTA")
	}
	// A notice goes to the envelope sender; for a message from the null
	// sender no notice may be sent (RFC 5321 §4.5.5, against loops), so an
	// empty To is a caller error.
	if n.to == "" {
		return nil, fmt.Errorf("dsn: missing To (the original envelope sender)")
	}
	if n.from == "" {
		n.from = "postmaster@" + n.reportingMTA
	}
	// The address is shown in angle brackets; one inside would end it.
	n.from = strings.NewReplacer("<", "", ">", "").Replace(n.from)
	if len(r.Recipients) == 0 {
		return nil, fmt.Errorf("dsn: no recipients")
	}
	for i, rr := range r.Recipients {
		c := recipient{
			final:       clean(rr.Final),
			original:    clean(rr.Original),
			action:      strings.ToLower(strings.TrimSpace(rr.Action)),
			status:      strings.TrimSpace(rr.Status),
			diagnostic:  clean(rr.Diagnostic),
			remoteMTA:   clean(rr.RemoteMTA),
			lastAttempt: rr.LastAttempt,
		}
		// Final-Recipient is required in every block (RFC 3464 §2.3).
		if c.final == "" {
			return nil, fmt.Errorf("dsn: recipient %d: missing Final recipient", i+1)
		}
		if !actions[c.action] {
			return nil, fmt.Errorf("dsn: recipient %d (%s): invalid Action %q", i+1, c.final, rr.Action)
		}
		if !reply.ValidStatus(c.status) {
			return nil, fmt.Errorf("dsn: recipient %d (%s): invalid Status %q, want class.subject.detail with class 2, 4 or 5 (RFC 3463)", i+1, c.final, rr.Status)
		}
		// Will-Retry-Until MUST NOT be given unless the action is
		// "delayed" (RFC 3464 §2.3.9).
		if c.action == "delayed" {
			c.retryUntil = rr.WillRetryUntil
		}
		// Original-Recipient is address-type ";" address (RFC 3464
		// §2.3.1); an ORCPT without a type is taken as rfc822.
		if c.original != "" && !strings.Contains(c.original, ";") {
			c.original = "rfc822;" + c.original
		}
		n.recipients = append(n.recipients, c)
	}
	return n, nil
}
