package dsn

import "bytes"

// deliveryStatus writes the body of the message/delivery-status part
// (RFC 3464 §2.1): the per-message fields, then for each recipient an
// empty line and its fields. The order of the fields is that of the
// grammar in RFC 3464 §2.2 and §2.3, extension fields last in each group.
func deliveryStatus(n *notice) []byte {
	var b bytes.Buffer

	// §2.2.1, §2.2.2, §2.2.5.
	if n.envID != "" {
		writeField(&b, "Original-Envelope-Id", n.envID)
	}
	writeField(&b, "Reporting-MTA", "dns; "+n.reportingMTA)
	if !n.arrival.IsZero() {
		writeField(&b, "Arrival-Date", date(n.arrival))
	}
	// An extension field (§2.4, "X-" private name) linking the notice to
	// our queue log, as Postfix's X-Postfix-Queue-ID does.
	if n.queueID != "" {
		writeField(&b, "X-Mailward-Queue-ID", n.queueID)
	}

	for _, r := range n.recipients {
		b.WriteString("\r\n")
		// §2.3.1: the ORCPT value, so the sender can match the notice to
		// the address it used.
		if r.original != "" {
			writeField(&b, "Original-Recipient", r.original)
		}
		writeField(&b, "Final-Recipient", "rfc822;"+r.final) // §2.3.2
		writeField(&b, "Action", r.action)                   // §2.3.3
		writeField(&b, "Status", r.status)                   // §2.3.4
		if r.remoteMTA != "" {
			writeField(&b, "Remote-MTA", "dns; "+r.remoteMTA) // §2.3.5
		}
		if r.diagnostic != "" {
			writeField(&b, "Diagnostic-Code", "smtp; "+r.diagnostic) // §2.3.6
		}
		if !r.lastAttempt.IsZero() {
			writeField(&b, "Last-Attempt-Date", date(r.lastAttempt)) // §2.3.7
		}
		if !r.retryUntil.IsZero() {
			writeField(&b, "Will-Retry-Until", date(r.retryUntil)) // §2.3.9
		}
	}
	return b.Bytes()
}
