package smtp

// The connection and sender filters in the session (docs/filtering.md):
// the deny list at connect, the block lists at RCPT, blocked senders at
// MAIL, and the "drop" action's discarding writer at DATA.

import (
	"time"

	"mailward/address"
	"mailward/events"
	"mailward/filter"
	"mailward/metrics"
	"mailward/policy"
	"mailward/queue"
	"mailward/reply"
)

// connectFilter refuses a client on the deny list, or off the grant
// list, with 554 5.7.1 (RFC
// 5321 §3.1 allows 554 instead of the greeting) and reports false; for
// the others it starts the block list lookups, which then run while the
// client says EHLO and MAIL. Clients of relay_networks are not looked
// up: they are the site's own, as Postfix's permit_mynetworks before
// reject_rbl_client.
func (s *session) connectFilter() bool {
	cf := s.l.ConnectionFilter
	if cf == nil {
		return true
	}
	if why, denied := cf.Denied(s.ip); denied {
		s.srv.ev.Emit(events.ConnectionDenied, "ip", s.ip, "virtual_server", s.l.Name, "reason", why)
		s.opt.Metrics.SessionRefused(s.l.Name, metrics.RefusedConnectionFilter)
		s.send(filter.DenyReply(s.ip))
		s.flush()
		return false
	}
	if !s.l.Relay.MayRelay(policy.Client{IP: s.ip}) {
		s.dnsbl = cf.Start(s.ctx, s.ip)
	}
	return true
}

// rcptFilter answers a listed client's RCPT: 550 5.7.1 unless the
// recipient is an exception; on failed lookups, nothing (fail_open, with
// one event per session) or 451 4.7.1. Authenticated clients, users and
// servers of the organization alike, are not filtered, as Exchange skips
// connection filtering for authenticated sessions: their mail is the
// organization's own.
func (s *session) rcptFilter(a address.Address) reply.Reply {
	if s.dnsbl == nil || s.authenticated() {
		return reply.Reply{}
	}
	cf, l := s.l.ConnectionFilter, s.l
	res := s.dnsbl.Wait()
	rcpt := a.String()
	switch {
	case res.Listed != nil && cf.Excepted(a.Local, a.Domain):
		s.srv.ev.Emit(events.ListedException, "ip", s.ip, "virtual_server", l.Name, "rcpt", rcpt,
			"provider", res.Listed.Name, "code", res.Code)
	case res.Listed != nil:
		s.srv.ev.Emit(events.ClientListed, "ip", s.ip, "virtual_server", l.Name, "rcpt", rcpt, "from", orNull(s.env.From),
			"provider", res.Listed.Name, "zone", res.Listed.Zone, "code", res.Code)
		return cf.Refusal(s.ip, res)
	case len(res.Failed) == 0:
	case cf.FailOpen:
		if !s.dnsblNoted {
			s.dnsblNoted = true
			s.srv.ev.Emit(events.DNSBLFailedOpen, "ip", s.ip, "virtual_server", l.Name, "error", res.Error())
		}
	case cf.Excepted(a.Local, a.Domain):
		// Reachable whatever the lists say, so also when they are silent.
	default:
		s.srv.ev.Emit(events.DNSBLFailedClosed, "ip", s.ip, "virtual_server", l.Name, "rcpt", rcpt, "error", res.Error())
		return filter.LookupFailedReply(s.ip)
	}
	return reply.Reply{}
}

// senderFilter refuses a blocked sender at MAIL with 550 5.7.1, as
// Exchange's sender filter does (the sender is known there, and a
// refusal at MAIL costs the client every RCPT), or marks the
// transaction to be dropped. An empty sender refused by
// refuse_null_sender is always refused, never dropped: silently
// discarding notifications would hide delivery failures from users.
// Authenticated clients are not filtered.
func (s *session) senderFilter(from string) reply.Reply {
	sf := s.l.SenderFilter
	if sf == nil || s.authenticated() {
		return reply.Reply{}
	}
	pattern, blocked := sf.Match(from)
	if !blocked {
		return reply.Reply{}
	}
	if sf.Drop && pattern != filter.NullPattern {
		s.drop = pattern
		return reply.Reply{}
	}
	s.srv.ev.Emit(events.SenderBlocked, "ip", s.ip, "virtual_server", s.l.Name, "from", orNull(from), "pattern", pattern)
	return sf.Refusal(from)
}

// createMessage opens where DATA goes: the spool, or nowhere for a
// transaction the sender filter drops.
func (s *session) createMessage() (MessageWriter, error) {
	if s.drop != "" {
		s.env.ID = queue.NewID(time.Now())
		return &dropWriter{id: s.env.ID, pattern: s.drop}, nil
	}
	w, err := s.opt.Spool.Create(s.env)
	if err != nil {
		return nil, err
	}
	return s.scanned(w), nil // contentfilter.go
}

// dropped answers a dropped message exactly as a queued one, so that
// the sender cannot tell, and writes the event that is its only trace.
func (s *session) dropped(w *dropWriter, env *queue.Envelope, size int64) reply.Reply {
	s.srv.ev.Emit(events.SenderDropped, "ip", s.ip, "virtual_server", s.l.Name, "from", orNull(env.From),
		"pattern", w.pattern, "recipients", len(env.Recipients), "size", size, "queue_id", env.ID, "message_id", env.MessageID)
	return reply.New(250, "2.6.0", "%s Queued mail for delivery", env.ID)
}

// dropWriter takes a dropped message's content and keeps nothing.
type dropWriter struct {
	id, pattern string
}

func (w *dropWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *dropWriter) ID() string                  { return w.id }
func (w *dropWriter) Commit() error               { return nil }
func (w *dropWriter) Abort()                      {}
