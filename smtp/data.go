package smtp

import (
	"fmt"
	"net"
	"strings"
	"time"

	"mailward/events"
	"mailward/orgauth"
	"mailward/queue"
	"mailward/reply"
)

func (s *session) cmdData(arg string) reply.Reply {
	switch {
	case strings.TrimSpace(arg) != "":
		return reply.New(501, "5.5.4", "Syntax: DATA")
	case s.env == nil:
		return reply.New(503, "5.5.1", "Need MAIL command")
	case len(s.env.Recipients) == 0:
		return reply.New(554, "5.5.1", "No valid recipients")
	}
	w, err := s.createMessage()
	if err != nil {
		return s.spoolFailed(err)
	}
	s.send(reply.New(354, "", "Start mail input; end with <CRLF>.<CRLF>"))
	if err := s.flush(); err != nil {
		w.Abort()
		s.quit = true
		return reply.Reply{}
	}
	fmt.Fprint(w, s.receivedHeader(w.ID(), time.Now()))
	l := s.l
	// The whole message must arrive within the idle timeout plus one
	// second per min_data_rate octets: a client trickling a byte at a
	// time cannot keep the slot (slowloris).
	s.mu.Lock()
	s.rd.startData(s.idle(), l.MinDataRate)
	s.mu.Unlock()
	start := time.Now()
	res, err := ReadData(s.br, w, l.MaxMessageSize, l.NormalizeBareLF)
	s.plog.Data(res.Size)
	if err != nil {
		// Connection lost or timed out mid-message: nothing was
		// acknowledged, so nothing is kept.
		w.Abort()
		s.quit = true
		var ne net.Error
		if ok := asNetErr(err, &ne); ok && ne.Timeout() {
			if r := s.sessionLimits(); !r.IsZero() {
				return r
			}
			s.srv.ev.Emit(events.DataTimeout, "ip", s.ip, "virtual_server", l.Name, "octets", res.Size,
				"elapsed", time.Since(start).Round(time.Second), "rate", l.MinDataRate)
			return reply.New(421, "4.4.2", "%s Timeout during DATA, closing connection", l.FQDN)
		}
		return reply.Reply{}
	}
	env := s.env
	s.resetTransaction()
	return s.acceptMessage(w, env, res)
}

// acceptMessage judges a message read whole (DATA, or BDAT's chunks up
// to LAST) and commits it: the one place that decides a message's 250,
// given only once the message and its envelope are on disk.
func (s *session) acceptMessage(w MessageWriter, env *queue.Envelope, res DataResult) reply.Reply {
	l := s.l
	s.opt.Metrics.Received(l.Name, res.Size)
	// Our own Received: field is one hop too.
	hops := res.Hops + 1
	switch {
	case res.TooBig:
		w.Abort()
		s.srv.ev.Emit(events.MessageTooBig, "ip", s.ip, "virtual_server", l.Name, "size", res.Size, "max", l.MaxMessageSize)
		return reply.New(552, "5.3.4", "Message size exceeds fixed maximum message size (%d)", l.MaxMessageSize)
	case (res.BareLF || res.BareCR) && !l.NormalizeBareLF:
		w.Abort()
		what := "bare LF"
		if !res.BareLF {
			what = "bare CR"
		} else if res.BareCR {
			what = "bare LF and bare CR"
		}
		s.srv.ev.Emit(events.BareLineEnding, "ip", s.ip, "virtual_server", l.Name, "what", what)
		return reply.New(550, "5.6.0", "Message refused: %s in message text; lines must end with CRLF (RFC 5321 section 2.3.8)", what)
	case res.NUL:
		w.Abort()
		return reply.New(550, "5.6.0", "Message refused: NUL octet in message text (RFC 5321 section 2.3.8)")
	case l.MaxDataLineLength > 0 && res.LongestLine > int64(l.MaxDataLineLength):
		// Refused rather than re-wrapped: folding changes the message
		// (and breaks its signatures), and a next hop with a smaller
		// limit would reset every attempt until the message expired.
		// Here the sender still learns why (docs/configuration.md).
		w.Abort()
		s.srv.ev.Emit(events.DataLineTooLong, "ip", s.ip, "virtual_server", l.Name, "length", res.LongestLine, "max", l.MaxDataLineLength)
		return reply.New(552, "5.3.4", "Message refused: a line of %d octets is longer than %d (RFC 5321 section 4.5.3.1.6); encode long lines",
			res.LongestLine, l.MaxDataLineLength)
	case l.MaxHops > 0 && hops > l.MaxHops:
		w.Abort()
		s.srv.ev.Emit(events.TooManyHops, "ip", s.ip, "virtual_server", l.Name, "hops", hops, "max", l.MaxHops)
		return reply.New(554, "5.4.6", "Too many hops (%d, limit %d): mail loop? (RFC 5321 section 6.3)", hops, l.MaxHops)
	}
	env.MessageID = res.MessageID
	// XEXCH50 checked the properties already; nil when none came.
	props, _ := orgauth.Decode(env.OrgProps)
	if r := s.replicationRefused(env, props); !r.IsZero() {
		w.Abort()
		return r
	}
	if dw, ok := w.(*dropWriter); ok {
		return s.dropped(dw, env, res.Size)
	}
	if r := s.contentFilter(w, env, props, res.Size); !r.IsZero() {
		w.Abort()
		return r
	}
	// Read before the commit: once it is scheduled, the queue's workers
	// own the envelope (an expansion appends to its recipients).
	n, rcpts := len(env.Recipients), rcptList(env)
	if err := w.Commit(); err != nil {
		return s.spoolFailed(err)
	}
	s.srv.ev.Emit(events.MessageQueued, "queue_id", env.ID, "message_id", res.MessageID, "from", orNull(env.From),
		"recipients", n, "rcpts", rcpts, "size", res.Size, "virtual_server", l.Name,
		"ip", s.ip, "helo", env.Helo, "auth", env.AuthUser)
	s.opt.Metrics.Accepted(l.Name)
	return reply.New(250, "2.6.0", "%s Queued mail for delivery", env.ID)
}

// spoolFailed answers a queue write failure with a temporary error: the
// client keeps the message and retries, so nothing is lost.
func (s *session) spoolFailed(err error) reply.Reply {
	s.resetTransaction()
	s.log.Error("smtp: spool write failed", "ip", s.ip, "err", err)
	if queue.IsNoSpace(err) {
		return reply.New(452, "4.3.1", "Insufficient system storage, try again later")
	}
	return reply.New(451, "4.3.0", "Error writing message to the queue, try again later")
}

// receivedHeader is our trace field (RFC 5321 §4.4), with the virtual
// server's FQDN (KB843106) and the RFC 3848 protocol keyword.
func (s *session) receivedHeader(id string, now time.Time) string {
	proto := "SMTP"
	if s.esmtp {
		proto = "ESMTP"
		if s.tls {
			proto += "S"
		}
		if s.authenticated() {
			proto += "A" // RFC 3848: AUTH, or X-EXPS
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Received: from %s ([%s])\r\n\tby %s (mailward) with %s id %s", sanitize(s.helo), s.ip, s.l.FQDN, proto, id)
	if len(s.env.Recipients) == 1 {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", s.env.Recipients[0].Addr)
	}
	fmt.Fprintf(&b, "; %s\r\n", now.Format(time.RFC1123Z))
	return b.String()
}

// sanitize keeps client-supplied text from breaking a header.
func sanitize(v string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x21 || r == 0x7f || r == '(' || r == ')' {
			return '_'
		}
		return r
	}, v)
}
