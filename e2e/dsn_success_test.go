package e2e

import "testing"

// RFC 3461 NOTIFY=SUCCESS on a local delivery: the sender gets one
// "delivered" notice; a recipient without NOTIFY gets none.
func TestSuccessNoticeForLocalDelivery(t *testing.T) {
	s := startServer(t, noFilterConfig())
	c := dial(t, s.Addr)
	defer c.Close()
	c.expect("EHLO client.test", 250)
	c.expect("MAIL FROM:<alice@example.test> ENVID=track+2B1", 250)
	c.expect("RCPT TO:<postmaster@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Postmaster+40example.test", 250)
	r, err := c.dataErr(message("alice@example.test", "postmaster@example.test", "success-dsn", "hello"))
	if err != nil {
		t.Fatal(err)
	}
	id := queueID(t, r)
	n := waitNDR(t, s, "alice@example.test", id)
	if len(n.recipients) != 1 {
		t.Fatalf("notice has %d recipient blocks:\n%s", len(n.recipients), n.raw)
	}
	rb := n.recipients[0]
	if rb.Get("Action") != "delivered" || rb.Get("Status")[0] != '2' {
		t.Errorf("Action %q Status %q, want delivered 2.x.x", rb.Get("Action"), rb.Get("Status"))
	}
	if got := rb.Get("Original-Recipient"); got != "rfc822;Postmaster@example.test" {
		t.Errorf("Original-Recipient %q", got)
	}
	if got := n.perMessage.Get("Original-Envelope-Id"); got != "track+1" {
		t.Errorf("Original-Envelope-Id %q, want track+1", got)
	}
	if len(s.EventsFor(4003, "queue_id", id)) != 1 {
		t.Errorf("want one event 4003 for %s", id)
	}

	// Without NOTIFY: no success notice (RFC 3461 §4.1 default).
	c.expect("MAIL FROM:<alice@example.test>", 250)
	c.expect("RCPT TO:<postmaster@example.test>", 250)
	if _, err := c.dataErr(message("alice@example.test", "postmaster@example.test", "no-dsn", "hello")); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	if got := len(s.Maildir("alice@example.test")); got != 1 {
		t.Errorf("alice has %d messages, want only the one success notice", got)
	}
}
