package smtp_test

import "testing"

func TestTranscriptCommands(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"`)
	cases := []struct{ name, script string }{
		{"HELO, NOOP, VRFY, EXPN, HELP, QUIT", `
C: HELO client.test
S: 250 mx1.example.test
C: NOOP
S: 250 2.0.0 OK
C: VRFY alice
S: 252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery
C: VRFY
S: 501 5.5.4 Syntax: VRFY address
C: EXPN staff
S: 502 5.5.1 EXPN not available
C: HELP
S: 214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH
C: quit
S: 221 2.0.0 mx1.example.test closing connection
CLOSED`},
		{"sequence errors", `
C: MAIL FROM:<a@example.test>
S: 503 5.5.1 Send EHLO/HELO first
C: EHLO
S: 501 5.5.4 Syntax: EHLO hostname
C: EHLO client.test
S~ 250-.*
S~ 250-.*
S~ 250-.*
S~ 250-.*
S~ 250-.*
S~ 250-.*
S~ 250-.*
S~ 250-.*
S: 250 HELP
C: RCPT TO:<alice@example.test>
S: 503 5.5.1 Need MAIL before RCPT
C: DATA
S: 503 5.5.1 Need MAIL command
C: MAIL FROM:<a@example.test>
S: 250 2.1.0 a@example.test....Sender OK
C: MAIL FROM:<b@example.test>
S: 503 5.5.1 Sender already specified
C: DATA
S: 554 5.5.1 No valid recipients
C: RSET extra
S: 501 5.5.4 Syntax: RSET
C: STARTTLS
S: 502 5.5.1 STARTTLS not available
C: AUTH PLAIN
S: 502 5.5.1 AUTH not available
W: BDAT 10 LAST\r\n0123456789
S: 554 5.5.1 No valid recipients
C: NOOP
S: 250 2.0.0 OK`},
		{"syntax errors in MAIL and RCPT", ehloPlain + `
C: MAIL TO:<a@example.test>
S: 501 5.5.4 Syntax: MAIL FROM:<address>
C: MAIL FROM:<a@@example.test>
S: 501 5.1.7 Bad sender address syntax
C: MAIL FROM:<a@example.test
S: 501 5.5.4 Syntax error in address: missing '>'
C: MAIL FROM:<a..b@example.test>
S: 501 5.1.7 Bad sender address syntax
C: MAIL FROM:<jörg@example.test>
S: 553 5.6.7 Non-ASCII address needs SMTPUTF8 (RFC 6531)
C: MAIL FROM:<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.test>
S: 501 5.5.4 Address too long (RFC 5321 section 4.5.3.1)
C: MAIL FROM:<jörg@example.test> SMTPUTF8
S: 250 2.1.0 jörg@example.test....Sender OK
C: RCPT FROM:<alice@example.test>
S: 501 5.5.4 Syntax: RCPT TO:<address>
C: RCPT TO:<>
S: 501 5.1.3 Bad recipient address syntax
C: RCPT TO:<alice@example..test>
S: 501 5.1.3 Bad recipient address syntax
C: RCPT TO:<alice@exa_mple.test>
S: 501 5.1.3 Bad recipient address syntax`},
		{"ESMTP parameters", ehloPlain + `
C: MAIL FROM:<a@example.test> SIZE=26214401
S: 552 5.3.4 Message size exceeds fixed maximum message size (26214400)
C: MAIL FROM:<a@example.test> SIZE=abc
S: 501 5.5.4 Bad SIZE parameter
C: MAIL FROM:<a@example.test> BODY=BINARYMIME
S: 555 5.5.4 Unsupported BODY type BINARYMIME
C: MAIL FROM:<a@example.test> XFORWARD=1
S: 555 5.5.4 Unsupported parameter XFORWARD
C: MAIL FROM:<a@example.test> RET=MAYBE
S: 501 5.5.4 Bad RET parameter
C: MAIL FROM:<a@example.test> ENVID=a=b
S: 501 5.5.4 Bad ENVID parameter
C: MAIL FROM:<a@example.test> ENVID=x+0Dy
S: 501 5.5.4 Bad ENVID parameter
C: MAIL FROM:<a@example.test> SIZE=1000 BODY=8BITMIME RET=HDRS ENVID=QQ+2B1 AUTH=<>
S: 250 2.1.0 a@example.test....Sender OK
C: RCPT TO:<alice@example.test> NOTIFY=NEVER,SUCCESS
S: 501 5.5.4 Bad NOTIFY parameter
C: RCPT TO:<alice@example.test> ORCPT=rfc822
S: 501 5.5.4 Bad ORCPT parameter
C: RCPT TO:<alice@example.test> ORCPT=rfc822;a+0A+00b@example.test
S: 501 5.5.4 Bad ORCPT parameter
C: RCPT TO:<alice@example.test> FOO=BAR
S: 555 5.5.4 Unsupported parameter FOO
C: RCPT TO:<alice@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Alice+40example.test
S: 250 2.1.5 alice@example.test
C: RCPT TO:<ALICE@example.test>
S: 250 2.1.5 ALICE@example.test`},
		{"parameters need EHLO", `
C: HELO client.test
S: 250 mx1.example.test
C: MAIL FROM:<a@example.test> SIZE=10
S: 555 5.5.4 Parameters need EHLO, not HELO`},
		{"NUL in a command", ehloPlain + `
W: NOOP\x00\r\n
S: 500 5.5.2 Syntax error: NUL byte in command
C: NOOP
S: 250 2.0.0 OK`},
		{"a browser on the SMTP port is dropped", `
C: GET / HTTP/1.1
S: 421 4.7.0 mx1.example.test This is an SMTP server, closing connection
CLOSED`},
		{"pipelined commands are answered in order", ehloPlain + `
W: MAIL FROM:<a@example.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<remote@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n
S: 250 2.1.0 a@example.test....Sender OK
S: 250 2.1.5 alice@example.test
S: 550 5.7.1 Unable to relay for remote@remote.test
S: 250 2.1.5 bob@example.test
S: 354 Start mail input; end with <CRLF>.<CRLF>
W: Subject: pipelined\r\n\r\nbody\r\n.\r\nNOOP\r\n
S~ 250 2\.6\.0 [0-9A-F]{19} Queued mail for delivery
S: 250 2.0.0 OK`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { play(t, ts.addr, greeting+c.script) })
	}
	// The pipelined case queued one message for the two local recipients,
	// once each (the duplicate ALICE in another case never reached DATA).
	q := ts.queued(t)
	if len(q) != 1 || len(q[0].Recipients) != 2 || q[0].Recipients[0].Addr != "alice@example.test" || q[0].Recipients[1].Addr != "bob@example.test" {
		t.Fatalf("queued: %+v", q)
	}
}
