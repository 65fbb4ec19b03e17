// Package dsn builds delivery status notifications (RFC 3464) wrapped in
// multipart/report (RFC 6522), the bounces, delay warnings and success
// reports that the queue sends from the null sender <> (RFC 5321 §4.5.5,
// §6.1).
//
// Build takes a Report and returns a complete RFC 5322 message with CRLF
// line endings. Every value that comes from outside (above all a remote
// SMTP reply) is cleaned before it is put into a header field: CR and LF
// cannot end a field early, and non-ASCII is replaced, because the fields
// of message/delivery-status are US-ASCII (RFC 3464 §2.1; UTF-8 would need
// message/global-delivery-status, RFC 6533, which this package does not
// write).
//
// Of the original, a notice returns at most Report.ReturnLimit bytes,
// header included, whatever RET says (queue.bounce_size_limit, see
// returnedPart and docs/queue.md): a notice must not carry a large message
// back to a sender address anyone can forge.
//
// The only part that can carry 8-bit data is the returned original, when
// the original itself had 8-bit data (8BITMIME, RFC 6152). The part and the
// top level are then labelled "Content-Transfer-Encoding: 8bit" (RFC 2045
// §6.4, RFC 2046 §5.2.1 forbids encoding message/rfc822), and the notice
// must be relayed with BODY=8BITMIME.
package dsn
