// Package smtpclient is mailward's SMTP client (RFC 5321), used by remote
// delivery and by the diagnostics. It is ours, not net/smtp: delivery needs
// PIPELINING, per-stage timeouts, full replies with enhanced codes
// (package reply), and room for the organization's verbs (XEXCH50,
// X-EXPS) through Cmd, WriteRaw and ReadReply.
package smtpclient

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"mailward/protolog"
	"mailward/reply"
)

// TLSPolicy says what to do about STARTTLS (RFC 3207).
type TLSPolicy int

const (
	// TLSOpportunistic uses STARTTLS when offered and goes on in clear
	// when it is not (RFC 7435). A failed handshake is reported with
	// ErrTLSHandshake; the caller may then retry in clear with TLSNone.
	TLSOpportunistic TLSPolicy = iota
	// TLSRequired fails (temporarily) when STARTTLS is not offered or
	// the handshake fails.
	TLSRequired
	// TLSNone never sends STARTTLS.
	TLSNone
)

// ClientOptions configure Dial.
type ClientOptions struct {
	HeloName  string                                                            // our FQDN (EHLO argument)
	TLS       TLSPolicy                                                         // see TLSPolicy
	TLSConfig *tls.Config                                                       // nil => unverified, with the host name as SNI (RFC 7435: unauthenticated encryption beats none)
	Timeouts  Timeouts                                                          // zero fields => RFC 5321 §4.5.3.2 defaults
	Dialer    func(ctx context.Context, network, addr string) (net.Conn, error) // nil => net.Dialer
	// NoChunking sends with DATA even to a server offering CHUNKING.
	NoChunking bool
	// ProtocolLog, when set, gets every command and reply of the
	// session, secrets and message data left out (protolog;
	// docs/protocol-log.md).
	ProtocolLog *protolog.Log
}

// Timeouts bound each stage of a session. Zero fields get the defaults
// of RFC 5321 §4.5.3.2; Connect is ours (the RFC has none).
type Timeouts struct {
	Connect   time.Duration // TCP connect: 30s
	Greeting  time.Duration // 220 greeting: 5m
	Command   time.Duration // reply to EHLO, MAIL, RCPT, RSET, STARTTLS...: 5m
	DataInit  time.Duration // 354 reply to DATA: 2m
	DataBlock time.Duration // each block of content written: 3m
	DataTerm  time.Duration // reply to the final dot: 10m
}

// DefaultTimeouts are RFC 5321 §4.5.3.2's, and Postfix's 30 s connect
// (smtp_connect_timeout); the configuration's delivery.connect_timeout
// defaults to the same.
var DefaultTimeouts = Timeouts{Connect: 30 * time.Second, Greeting: 5 * time.Minute, Command: 5 * time.Minute,
	DataInit: 2 * time.Minute, DataBlock: 3 * time.Minute, DataTerm: 10 * time.Minute}

func (t Timeouts) withDefaults() Timeouts {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	d := DefaultTimeouts
	def(&t.Connect, d.Connect)
	def(&t.Greeting, d.Greeting)
	def(&t.Command, d.Command)
	def(&t.DataInit, d.DataInit)
	def(&t.DataBlock, d.DataBlock)
	def(&t.DataTerm, d.DataTerm)
	return t
}

// ErrTLSHandshake wraps a failed STARTTLS handshake.
var ErrTLSHandshake = errors.New("STARTTLS handshake failed")

// ErrTLSUnavailable wraps the failure of TLSRequired: the server did not
// offer STARTTLS, or refused it.
var ErrTLSUnavailable = errors.New("STARTTLS required but not offered")

// quitTimeout caps the wait for QUIT's reply: it is a courtesy, and a
// server that stalls on it must not hold a delivery slot for minutes.
const quitTimeout = 10 * time.Second

// longAgo is a deadline in the past, to interrupt pending I/O.
var longAgo = time.Unix(1, 0)

// Conn is one SMTP connection to one host, usable for several messages
// (Reset between them). It is not safe for concurrent use.
type Conn struct {
	nc       net.Conn // the TCP connection, or the TLS one over it
	br       *bufio.Reader
	bw       *bufio.Writer
	host     string // name given to Dial, for SNI and messages
	addr     string // "ip:port" dialed
	o        ClientOptions
	greeting reply.Reply
	// helloName is the domain the server gave in its reply to our last
	// EHLO or HELO (RFC 5321 §4.1.1.1).
	helloName string
	ext       map[string]string
	tls       bool
	broken    error // set by a transport or protocol error: the session is out of step
	closed    bool
	// authed: the caller authenticated this session (AUTH, X-EXPS); it
	// survives RSET, so a cached session need not do it again.
	authed bool

	plog *protolog.Session // nil: no protocol log
}

// Dial connects to addr, reads the greeting, says EHLO (HELO when EHLO
// is refused, RFC 5321 §3.2) and does STARTTLS as the policy says, with
// a new EHLO after it (RFC 3207 §4.2).
//
// Every error is about this host only: RFC 5321 §5.1 has the caller try
// the next address or MX and keep the message queued. A negative reply
// is a *ReplyError (Stage "greeting", "EHLO", "HELO", "STARTTLS").
func Dial(ctx context.Context, addr, hostname string, o ClientOptions) (*Conn, error) {
	if o.HeloName == "" || checkLine(o.HeloName) != nil || strings.Contains(o.HeloName, " ") {
		return nil, fmt.Errorf("smtp %s[%s]: HeloName %q is not a usable EHLO name", hostname, addr, o.HeloName)
	}
	o.Timeouts = o.Timeouts.withDefaults()
	dial := o.Dialer
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	cctx, cancel := context.WithTimeout(ctx, o.Timeouts.Connect)
	nc, err := dial(cctx, "tcp", addr)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("smtp %s[%s]: connect: %w", hostname, addr, err)
	}
	c := &Conn{
		nc:   nc,
		br:   bufio.NewReaderSize(nc, 4096),
		bw:   bufio.NewWriterSize(nc, 32<<10),
		host: hostname,
		addr: addr,
		o:    o,
		ext:  map[string]string{},
		plog: o.ProtocolLog.Session(protolog.Client, addr, "outbound to "+hostname),
	}
	if err := c.open(ctx); err != nil {
		c.Quit() // RFC 5321 §3.1: QUIT after a refusal; just Close when out of step
		return nil, err
	}
	return c, nil
}

func (c *Conn) open(ctx context.Context) error {
	r, err := c.ReadReply(ctx, c.o.Timeouts.Greeting)
	if err != nil {
		return c.errorf("greeting", err)
	}
	c.greeting = r
	if !r.Positive() {
		return &ReplyError{Stage: "greeting", Reply: r}
	}
	if err := c.hello(ctx); err != nil {
		return err
	}
	return c.startTLS(ctx)
}

// hello sends EHLO, or HELO when the server refuses EHLO permanently
// (an old server: RFC 5321 §3.2). A 4xx to EHLO (421: closing) is not a
// reason to fall back.
func (c *Conn) hello(ctx context.Context) error {
	name := c.o.HeloName
	r, err := c.Cmd(ctx, 0, "EHLO %s", name)
	if err != nil {
		return err
	}
	if r.Positive() {
		c.ext = parseEHLO(r)
		c.helloName = firstWord(r)
		return nil
	}
	if !r.Permanent() {
		return &ReplyError{Stage: "EHLO", Reply: r}
	}
	r, err = c.Cmd(ctx, 0, "HELO %s", name)
	if err != nil {
		return err
	}
	if !r.Positive() {
		return &ReplyError{Stage: "HELO", Reply: r}
	}
	c.ext = map[string]string{}
	c.helloName = firstWord(r)
	return nil
}

// startTLS applies the TLS policy after the first EHLO.
func (c *Conn) startTLS(ctx context.Context) error {
	if c.o.TLS == TLSNone || c.tls {
		return nil
	}
	if _, offered := c.ext["STARTTLS"]; !offered {
		if c.o.TLS == TLSRequired {
			return fmt.Errorf("smtp %s[%s]: %w", c.host, c.addr, ErrTLSUnavailable)
		}
		return nil
	}
	r, err := c.Cmd(ctx, 0, "STARTTLS")
	if err != nil {
		return err
	}
	if r.Code != 220 {
		if c.o.TLS == TLSRequired {
			return fmt.Errorf("%w: %w", ErrTLSUnavailable, &ReplyError{Stage: "STARTTLS", Reply: r})
		}
		// RFC 3207 §4: after a refusal the session is still where the
		// EHLO left it; opportunistic TLS goes on in clear.
		return nil
	}
	if c.br.Buffered() > 0 {
		// Plaintext sent after "220" would be read as if it came over
		// TLS (the CVE-2011-0411 command injection): refuse the session.
		return c.errorf("STARTTLS", fmt.Errorf("%w: data after the 220 reply, before the TLS handshake", reply.ErrProtocol))
	}
	cfg := c.o.TLSConfig
	if cfg == nil {
		cfg = &tls.Config{InsecureSkipVerify: true, ServerName: c.host}
	} else if cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName = c.host
	}
	tc := tls.Client(c.nc, cfg)
	stop := c.arm(ctx, c.o.Timeouts.Command)
	err = tc.HandshakeContext(ctx)
	stop()
	if err != nil {
		c.broken = err
		return fmt.Errorf("smtp %s[%s]: %w: %w", c.host, c.addr, ErrTLSHandshake, err)
	}
	c.nc, c.tls = tc, true
	c.plog.TLS(tc.ConnectionState())
	c.br.Reset(tc)
	c.bw.Reset(tc)
	// RFC 3207 §4.2: forget what the server said before TLS.
	c.ext = map[string]string{}
	return c.hello(ctx)
}

// Extensions returns the EHLO keywords (upper-case) and their parameters,
// e.g. "SIZE" -> "10240000", "AUTH" -> "PLAIN LOGIN". Empty after HELO.
func (c *Conn) Extensions() map[string]string { return c.ext }

// TLS reports whether the session runs over STARTTLS.
func (c *Conn) TLS() bool { return c.tls }

// Greeting returns the server's 220 greeting.
func (c *Conn) Greeting() reply.Reply { return c.greeting }

// GreetingName is the server's name as its greeting gives it, the first
// word after 220 (RFC 5321 §4.2: Domain or address literal); "" if none.
func (c *Conn) GreetingName() string { return firstWord(c.greeting) }

// HelloName is the server's name as its reply to EHLO (or HELO) gives
// it, the first word after 250 (RFC 5321 §4.1.1.1); "" if none.
func (c *Conn) HelloName() string { return c.helloName }

// MarkAuthenticated records that the caller authenticated this session
// (with AUTH or X-EXPS, which the client does not run itself).
func (c *Conn) MarkAuthenticated() { c.authed = true }

// Authenticated reports whether MarkAuthenticated was called; RSET does
// not undo an authentication (RFC 4954 §4).
func (c *Conn) Authenticated() bool { return c.authed }

// RemoteName returns the host name given to Dial.
func (c *Conn) RemoteName() string { return c.host }

// Cmd sends one command line (CRLF is added) and reads its reply within
// timeout (0 => Timeouts.Command). It is the door for verbs the client
// does not know by name (AUTH, X-EXPS, XEXCH50). A negative reply is not
// an error; err is a transport or protocol failure.
func (c *Conn) Cmd(ctx context.Context, timeout time.Duration, format string, args ...any) (reply.Reply, error) {
	line := fmt.Sprintf(format, args...)
	verb, _, _ := strings.Cut(line, " ")
	verb = strings.ToUpper(verb) // only the verb goes in errors: AUTH lines carry secrets
	if err := c.usable(); err != nil {
		return reply.Reply{}, err
	}
	if err := checkLine(line); err != nil {
		return reply.Reply{}, fmt.Errorf("smtp %s[%s]: %s: %w", c.host, c.addr, verb, err)
	}
	if timeout <= 0 {
		timeout = c.o.Timeouts.Command
	}
	stop := c.arm(ctx, timeout)
	defer stop()
	c.bw.WriteString(line)
	c.bw.WriteString("\r\n")
	c.plog.Command(line)
	if err := c.bw.Flush(); err != nil {
		return reply.Reply{}, c.errorf(verb, c.ctxErr(ctx, err))
	}
	r, err := reply.Read(c.br)
	if err != nil {
		return reply.Reply{}, c.errorf(verb, c.ctxErr(ctx, err))
	}
	c.logReply(r)
	return r, nil
}

// WriteRaw writes bytes as they are, within Timeouts.DataBlock (XEXCH50
// sends a binary blob after its 354).
func (c *Conn) WriteRaw(p []byte) error {
	if err := c.usable(); err != nil {
		return err
	}
	c.nc.SetDeadline(time.Now().Add(c.o.Timeouts.DataBlock))
	c.bw.Write(p)
	if err := c.bw.Flush(); err != nil {
		return c.errorf("write", err)
	}
	return nil
}

// ReadReply reads one reply within timeout (0 => Timeouts.Command).
func (c *Conn) ReadReply(ctx context.Context, timeout time.Duration) (reply.Reply, error) {
	if err := c.usable(); err != nil {
		return reply.Reply{}, err
	}
	if timeout <= 0 {
		timeout = c.o.Timeouts.Command
	}
	stop := c.arm(ctx, timeout)
	defer stop()
	r, err := reply.Read(c.br)
	if err != nil {
		return reply.Reply{}, c.errorf("reading reply", c.ctxErr(ctx, err))
	}
	c.logReply(r)
	return r, nil
}

// logReply writes r to the protocol log; its wire form is rebuilt only
// when the log is on.
func (c *Conn) logReply(r reply.Reply) {
	if c.plog != nil {
		c.plog.Reply(r.Code, r.Wire())
	}
}

// Reset sends RSET and expects 250 (RFC 5321 §4.1.1.5), to start a new
// transaction on the same connection.
func (c *Conn) Reset(ctx context.Context) error {
	r, err := c.Cmd(ctx, 0, "RSET")
	if err != nil {
		return err
	}
	if r.Code != 250 {
		return &ReplyError{Stage: "RSET", Reply: r}
	}
	return nil
}

// Quit says QUIT (best effort: the reply is awaited briefly and not
// checked) and closes the connection.
func (c *Conn) Quit() error {
	if c.usable() == nil {
		ctx, cancel := context.WithTimeout(context.Background(), min(quitTimeout, c.o.Timeouts.Command))
		c.Cmd(ctx, 0, "QUIT")
		cancel()
	}
	return c.Close()
}

// Close closes the connection without QUIT.
func (c *Conn) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	c.plog.Close("")
	if c.broken == nil {
		c.broken = net.ErrClosed
	}
	return c.nc.Close()
}

// usable refuses I/O on a session that is closed or out of step.
func (c *Conn) usable() error {
	if c.closed {
		return fmt.Errorf("smtp %s[%s]: connection closed", c.host, c.addr)
	}
	if c.broken != nil {
		return fmt.Errorf("smtp %s[%s]: session unusable after earlier error: %w", c.host, c.addr, c.broken)
	}
	return nil
}

// arm bounds the next exchange: timeout from now, or ctx's deadline if
// sooner; cancelling ctx interrupts it. stop must be called after.
func (c *Conn) arm(ctx context.Context, timeout time.Duration) (stop func()) {
	d := time.Now().Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(d) {
		d = dl
	}
	nc := c.nc
	nc.SetDeadline(d)
	unhook := context.AfterFunc(ctx, func() { nc.SetDeadline(longAgo) })
	return func() { unhook() }
}

// ctxErr names the context's end as the cause when it interrupted I/O.
// The I/O deadline may be the context's own and fire a moment before
// the context notices, hence the clock check.
func (c *Conn) ctxErr(ctx context.Context, err error) error {
	cause := context.Cause(ctx)
	if dl, ok := ctx.Deadline(); cause == nil && ok && !time.Now().Before(dl) {
		cause = context.DeadlineExceeded
	}
	if cause != nil {
		return fmt.Errorf("%w: %w", cause, err)
	}
	return err
}

// errorf marks the session broken (after a transport or protocol error
// it is out of step and must not be reused) and adds context.
func (c *Conn) errorf(stage string, err error) error {
	if c.broken == nil {
		c.broken = err
	}
	return fmt.Errorf("smtp %s[%s]: %s: %w", c.host, c.addr, stage, err)
}

// checkLine refuses a command that would become two on the wire: a CR
// or LF in an address or parameter is an injection, never data.
func checkLine(line string) error {
	if strings.ContainsAny(line, "\r\n") {
		return errors.New("command contains CR or LF")
	}
	if len(line) > 4096 {
		return errors.New("command line too long")
	}
	return nil
}
