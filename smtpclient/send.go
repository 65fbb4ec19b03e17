package smtpclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"mailward/reply"
)

// Envelope is what Send tells the server about one message.
type Envelope struct {
	From       string // "" => MAIL FROM:<>
	Recipients []Rcpt
	Size       int64 // message size for SIZE= (RFC 1870), 0 = omit
	EightBit   bool  // BODY=8BITMIME if the server offers 8BITMIME (RFC 6152)
	SMTPUTF8   bool  // needs SMTPUTF8 (RFC 6531); not offered => every recipient fails 553 5.6.7, nothing sent
	EnvID, Ret string
	// XEXCH50 is the organization-properties blob sent after the RCPTs
	// (KB843106) when set; the caller decides whether the peer may get it.
	XEXCH50 []byte
	// RequireXEXCH50: when XEXCH50 is not answered 250, the transaction
	// is reset before DATA (Data stays zero): a shared folder's
	// replication is never sent without its properties.
	RequireXEXCH50 bool
	// EnvID (xtext-encoded on the wire) and Ret are RFC 3461's ENVID
	// and RET, passed on only if the server offers DSN.
}

// Rcpt is one recipient. Notify and ORCPT (given decoded as
// "rfc822;addr"; the address is xtext-encoded on the wire) are RFC 3461
// parameters, passed on only if the server offers DSN.
type Rcpt struct{ Addr, Notify, ORCPT string }

// SendResult is the outcome of one transaction.
type SendResult struct {
	Mail  reply.Reply   // reply to MAIL
	Rcpts []reply.Reply // one per recipient, same order; a copy of Mail when MAIL was refused
	Data  reply.Reply   // reply to the end of data, or to DATA when that was refused; zero if DATA was not reached
	// XEXCH50 is the final reply to XEXCH50 (354 then 250 on success);
	// zero when it was not sent. A refusal does not stop the message.
	XEXCH50 reply.Reply
	// BDAT reports that the content went in BDAT chunks (RFC 3030); Data
	// is then the reply to the chunk that failed, or to the LAST one.
	BDAT bool
}

// Send runs one transaction: MAIL, RCPTs, DATA, content, end of data;
// or, when the server offers CHUNKING (RFC 3030), MAIL, RCPTs and the
// content in BDAT chunks, which need no dot-stuffing (writeChunks).
//
// With PIPELINING (RFC 2920) MAIL, every RCPT and DATA go out in one
// write and the replies are read in order; without it, one at a time.
// If no recipient is accepted the content is not sent: RSET instead (and
// when a pipelined DATA got 354 anyway, a lone "." first, RFC 2920
// §3.1). The content is dot-stuffed on the fly (RFC 5321 §4.5.2).
//
// A refused MAIL makes every recipient's reply a copy of it, so each
// recipient carries the real reason (a pipelined RCPT after a refused
// MAIL only gets "503 need MAIL", which would wrongly read as permanent).
//
// err is a transport or protocol error (timeout, drop, malformed reply,
// unreadable content); the caller treats every recipient not yet
// accepted with a final 250 to the data as temporarily failed, and the
// Conn as unusable. Before a new transaction on a reused Conn the caller
// calls Reset.
func (c *Conn) Send(ctx context.Context, env Envelope, content io.Reader) (SendResult, error) {
	res := SendResult{Rcpts: make([]reply.Reply, len(env.Recipients))}
	if err := c.usable(); err != nil {
		return res, err
	}
	if len(env.Recipients) == 0 {
		return res, errors.New("smtpclient: Send without recipients")
	}
	if r, refused := c.refuseLocally(env); refused {
		res.Mail = r
		for i := range res.Rcpts {
			res.Rcpts[i] = r
		}
		return res, nil
	}
	mail, rcpts := c.envelopeCommands(env)
	for _, l := range append([]string{mail}, rcpts...) {
		if err := checkLine(l); err != nil {
			return res, fmt.Errorf("smtp %s[%s]: envelope: %w", c.host, c.addr, err)
		}
	}
	var (
		goOn bool
		err  error
	)
	_, chunking := c.ext["CHUNKING"]
	chunking = chunking && !c.o.NoChunking
	if _, ok := c.ext["PIPELINING"]; ok && env.XEXCH50 == nil {
		goOn, err = c.envelopePipelined(ctx, &res, mail, rcpts, !chunking)
	} else {
		// XEXCH50 goes between the last RCPT and DATA (or the first
		// BDAT), and its 354 must be seen before the blob: no
		// pipelining around it.
		goOn, err = c.envelopeInTurn(ctx, &res, mail, rcpts, env.XEXCH50, env.RequireXEXCH50, !chunking)
	}
	if err != nil || !goOn {
		return res, err
	}
	if chunking {
		res.BDAT = true
		res.Data, err = c.writeChunks(ctx, content)
		return res, err
	}
	res.Data, err = c.writeContent(ctx, content)
	return res, err
}

// refuseLocally returns the reply the server would give to a message it
// cannot take, decided from EHLO alone, without sending anything.
func (c *Conn) refuseLocally(env Envelope) (reply.Reply, bool) {
	if _, ok := c.ext["SMTPUTF8"]; env.SMTPUTF8 && !ok {
		// RFC 6531 §3.5: no downgrade of internationalized addresses.
		return reply.Reply{Code: 553, Status: "5.6.7", Lines: []string{
			fmt.Sprintf("SMTPUTF8 required, but %s does not support it", c.host)}}, true
	}
	if v, ok := c.ext["SIZE"]; ok && env.Size > 0 {
		// RFC 1870 §6: the client should not send what the server
		// announced it will refuse.
		if limit, err := strconv.ParseInt(v, 10, 64); err == nil && limit > 0 && env.Size > limit {
			return reply.Reply{Code: 552, Status: "5.3.4", Lines: []string{
				fmt.Sprintf("message size %d exceeds fixed maximum message size %d of %s", env.Size, limit, c.host)}}, true
		}
	}
	return reply.Reply{}, false
}

// envelopeCommands renders MAIL and RCPT lines with the parameters the
// server announced support for; nothing it did not offer.
func (c *Conn) envelopeCommands(env Envelope) (string, []string) {
	_, dsn := c.ext["DSN"]
	var b strings.Builder
	b.WriteString("MAIL FROM:<" + env.From + ">")
	if _, ok := c.ext["SIZE"]; ok && env.Size > 0 {
		b.WriteString(" SIZE=" + strconv.FormatInt(env.Size, 10))
	}
	if _, ok := c.ext["8BITMIME"]; ok && env.EightBit {
		b.WriteString(" BODY=8BITMIME")
	}
	if env.SMTPUTF8 {
		b.WriteString(" SMTPUTF8") // refuseLocally made sure it is offered
	}
	if dsn && env.Ret != "" {
		b.WriteString(" RET=" + env.Ret)
	}
	if dsn && env.EnvID != "" {
		b.WriteString(" ENVID=" + xtextEncode(env.EnvID))
	}
	rcpts := make([]string, len(env.Recipients))
	for i, r := range env.Recipients {
		l := "RCPT TO:<" + r.Addr + ">"
		if dsn && r.Notify != "" {
			l += " NOTIFY=" + r.Notify
		}
		if dsn && r.ORCPT != "" {
			typ, addr, ok := strings.Cut(r.ORCPT, ";")
			if !ok {
				typ, addr = "rfc822", r.ORCPT
			}
			l += " ORCPT=" + typ + ";" + xtextEncode(addr)
		}
		rcpts[i] = l
	}
	return b.String(), rcpts
}

// envelopePipelined sends MAIL, the RCPTs and DATA (when data is set) in
// one write and reads the replies in order (RFC 2920 §3.1). It reports
// whether the content should follow. Without DATA (BDAT follows) the
// content waits for the replies: chunks sent to a transaction without
// recipients would be read and dropped, a waste of the whole message.
func (c *Conn) envelopePipelined(ctx context.Context, res *SendResult, mail string, rcpts []string, data bool) (bool, error) {
	t := c.o.Timeouts
	stop := c.arm(ctx, t.Command)
	c.bw.WriteString(mail + "\r\n")
	c.plog.Command(mail)
	for _, l := range rcpts {
		c.bw.WriteString(l + "\r\n")
		c.plog.Command(l)
	}
	if data {
		c.bw.WriteString("DATA\r\n")
		c.plog.Command("DATA")
	}
	err := c.bw.Flush()
	stop()
	if err != nil {
		return false, c.errorf("MAIL", c.ctxErr(ctx, err))
	}
	if res.Mail, err = c.ReadReply(ctx, t.Command); err != nil {
		return false, err
	}
	for i := range rcpts {
		if res.Rcpts[i], err = c.ReadReply(ctx, t.Command); err != nil {
			return false, err
		}
	}
	if !data {
		accepted := c.settle(res)
		if !accepted {
			c.resetQuietly(ctx)
		}
		return accepted, nil
	}
	dataReply, err := c.ReadReply(ctx, t.DataInit)
	if err != nil {
		return false, err
	}
	accepted := c.settle(res)
	switch data := dataReply; {
	case accepted && data.Code == 354:
		return true, nil
	case accepted:
		res.Data = data
	case data.Code == 354:
		// RFC 2920 §3.1: DATA was accepted though no recipient was; end
		// it with an empty message, whose reply means nothing.
		if _, err := c.Cmd(ctx, t.DataTerm, "."); err != nil {
			return false, err
		}
		c.resetQuietly(ctx)
	default:
		c.resetQuietly(ctx)
	}
	return false, nil
}

// envelopeInTurn sends MAIL, each RCPT, XEXCH50 and DATA (when data is
// set) one at a time; with require, a refused XEXCH50 ends the
// transaction before any content (a shared folder's replication).
func (c *Conn) envelopeInTurn(ctx context.Context, res *SendResult, mail string, rcpts []string, xexch50 []byte, require, data bool) (bool, error) {
	var err error
	if res.Mail, err = c.Cmd(ctx, 0, "%s", mail); err != nil {
		return false, err
	}
	if !res.Mail.Positive() {
		c.settle(res)
		return false, nil
	}
	for i, l := range rcpts {
		if res.Rcpts[i], err = c.Cmd(ctx, 0, "%s", l); err != nil {
			return false, err
		}
	}
	if !c.settle(res) {
		c.resetQuietly(ctx)
		return false, nil
	}
	if xexch50 != nil {
		// "XEXCH50 <size> <flag>", 354, exactly <size> raw octets, 250.
		if res.XEXCH50, err = c.Cmd(ctx, 0, "XEXCH50 %d 2", len(xexch50)); err != nil {
			return false, err
		}
		if res.XEXCH50.Code == 354 {
			if err := c.WriteRaw(xexch50); err != nil {
				return false, err
			}
			if res.XEXCH50, err = c.ReadReply(ctx, 0); err != nil {
				return false, err
			}
		}
		if require && res.XEXCH50.Code != 250 {
			c.resetQuietly(ctx)
			return false, nil
		}
	}
	if !data {
		return true, nil
	}
	r, err := c.Cmd(ctx, c.o.Timeouts.DataInit, "DATA")
	if err != nil {
		return false, err
	}
	if r.Code != 354 {
		res.Data = r
		return false, nil
	}
	return true, nil
}

// settle copies a refused MAIL's reply to every recipient and reports
// whether any recipient was accepted.
func (c *Conn) settle(res *SendResult) bool {
	if !res.Mail.Positive() {
		for i := range res.Rcpts {
			res.Rcpts[i] = res.Mail
		}
		return false
	}
	for _, r := range res.Rcpts {
		if r.Positive() {
			return true
		}
	}
	return false
}

// resetQuietly ends a transaction no recipient is left in. Its outcome
// does not change the result (every recipient already has its reply);
// a failure leaves the Conn marked unusable, which the caller's next
// Reset reports.
func (c *Conn) resetQuietly(ctx context.Context) {
	if err := c.Reset(ctx); err != nil && c.broken == nil {
		c.broken = err
	}
}

// writeContent sends the message after 354 and reads the reply to the
// final dot. If content cannot be read, the connection is closed without
// the dot, so a partial message is never delivered.
func (c *Conn) writeContent(ctx context.Context, content io.Reader) (reply.Reply, error) {
	t := c.o.Timeouts
	nc := c.nc
	unhook := context.AfterFunc(ctx, func() { nc.SetDeadline(longAgo) })
	defer unhook()
	s := stuffer{w: c.bw, bol: true}
	buf := make([]byte, 32<<10)
	var size int64
	for {
		n, rerr := content.Read(buf)
		size += int64(n)
		if n > 0 {
			c.deadline(ctx, t.DataBlock)
			if err := s.write(buf[:n]); err != nil {
				return reply.Reply{}, c.errorf("DATA content", c.ctxErr(ctx, err))
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			err := c.errorf("DATA content", fmt.Errorf("reading the message: %w", rerr))
			c.Close()
			return reply.Reply{}, err
		}
	}
	c.deadline(ctx, t.DataBlock)
	if err := s.end(); err != nil {
		return reply.Reply{}, c.errorf("DATA content", c.ctxErr(ctx, err))
	}
	if err := c.bw.Flush(); err != nil {
		return reply.Reply{}, c.errorf("DATA content", c.ctxErr(ctx, err))
	}
	c.plog.Data(size)
	r, err := c.ReadReply(ctx, t.DataTerm)
	if err != nil {
		return reply.Reply{}, err
	}
	return r, nil
}

// deadline sets the I/O deadline to timeout from now, or ctx's deadline
// if sooner.
func (c *Conn) deadline(ctx context.Context, timeout time.Duration) {
	if ctx.Err() != nil {
		c.nc.SetDeadline(longAgo)
		return
	}
	d := time.Now().Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(d) {
		d = dl
	}
	c.nc.SetDeadline(d)
}

// xtextEncode encodes s as RFC 3461 §4 xtext: '+', '=' and anything
// outside printable US-ASCII become "+HH".
func xtextEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch < 33 || ch > 126 || ch == '+' || ch == '=' {
			fmt.Fprintf(&b, "+%02X", ch)
		} else {
			b.WriteByte(ch)
		}
	}
	return b.String()
}
