package smtp

// The content filter in the session (docs/filtering.md, "Content
// filtering and the SCL"): a message from outside the organization is
// scanned by rspamd after its last octet and before its 250, and its
// spam confidence level (SCL) is stored with the envelope. Authenticated
// submissions and organization mail are not scanned: SCL -1, or the SCL
// the organization's first server computed (KB843106: it travels in
// XEXCH50 so that the next servers trust it instead of scanning again).

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"mailward/contentfilter"
	"mailward/events"
	"mailward/orgauth"
	"mailward/queue"
	"mailward/reply"
)

// Scanner scans one message (contentfilter.Client satisfies it).
type Scanner interface {
	Check(ctx context.Context, env contentfilter.Envelope, msg []byte) (contentfilter.Verdict, error)
}

// ContentFilter is the server's [content_filter] as plain values; nil
// in Settings when off.
type ContentFilter struct {
	Scanner Scanner
	Mapping contentfilter.Mapping
	// GatewayThreshold: a message with an SCL at or above it is refused
	// with 550 5.7.1 before its 250 (10: never).
	GatewayThreshold int
	// FailClosed answers 451 4.7.1 when the scan fails; otherwise the
	// message is accepted with its SCL unknown, and event 1065.
	FailClosed bool
	// MaxSize: a larger message is not scanned (SCL unknown, event 1068).
	MaxSize int64
}

// scanWriter keeps a copy of the message for the scan while it goes to
// the spool; past MaxSize it keeps nothing more and notes it.
type scanWriter struct {
	MessageWriter
	buf  bytes.Buffer
	max  int64
	over bool
	// propsLost: the transaction's XEXCH50 was refused (the session
	// forgets it with the transaction, before the message is judged).
	propsLost bool
}

func (w *scanWriter) Write(p []byte) (int, error) {
	if !w.over {
		if int64(w.buf.Len()+len(p)) > w.max {
			w.over = true
			w.buf = bytes.Buffer{}
		} else {
			w.buf.Write(p)
		}
	}
	return w.MessageWriter.Write(p)
}

// scanned wraps the spool writer when this session's messages are
// scanned: the content filter is on and the client is not authenticated.
func (s *session) scanned(w MessageWriter) MessageWriter {
	cf := s.l.ContentFilter
	if cf == nil || s.authenticated() {
		return w
	}
	return &scanWriter{MessageWriter: w, max: cf.MaxSize, propsLost: s.propsLost}
}

// contentFilter gives env its SCL, and refuses (550 5.7.1) or defers
// (451 4.7.1) the message when the verdict or the failure says so; the
// zero Reply accepts it. props are the transaction's XEXCH50 properties
// (nil: none).
func (s *session) contentFilter(w MessageWriter, env *queue.Envelope, props *orgauth.Props, size int64) reply.Reply {
	l := s.l
	cf := l.ContentFilter
	switch {
	case s.orgPeer != "":
		// Organization mail keeps the SCL its first server computed,
		// whether or not this server scans (it passes it on).
		source := "organization mail"
		if props != nil && props.Message.SCL != nil {
			env.SCL, source = sclPtr(*props.Message.SCL), "its XEXCH50 properties"
		} else if cf != nil {
			env.SCL = sclPtr(contentfilter.SCLTrusted)
		}
		if env.SCL != nil {
			s.srv.ev.Emit(events.ContentTrusted, "queue_id", env.ID, "message_id", env.MessageID, "server", s.orgPeer, "scl", *env.SCL, "source", source)
		}
		return reply.Reply{}
	case s.authUser != "":
		// An authenticated submission, as Exchange: never filtered. A
		// server without a content filter gives no SCL at all.
		if cf != nil {
			env.SCL = sclPtr(contentfilter.SCLTrusted)
		}
		return reply.Reply{}
	}
	sw, ok := w.(*scanWriter)
	if !ok {
		return reply.Reply{} // no content filter here: the SCL stays unknown
	}
	if sw.over {
		s.srv.ev.Emit(events.ContentNotScanned, "queue_id", env.ID, "message_id", env.MessageID, "ip", s.ip, "virtual_server", l.Name,
			"size", size, "max", cf.MaxSize)
		return reply.Reply{}
	}
	if sw.propsLost {
		// KB843106's symptom: the organization server that sent it
		// could not pass its properties, so its SCL is lost and the
		// message is scanned once more here.
		s.srv.ev.Emit(events.ContentRescanned, "queue_id", env.ID, "message_id", env.MessageID, "ip", s.ip, "helo", s.helo, "virtual_server", l.Name)
	}
	start := time.Now()
	v, err := cf.Scanner.Check(s.ctx, s.scanEnvelope(env), sw.buf.Bytes())
	sw.buf = bytes.Buffer{}
	if err != nil {
		elapsed := time.Since(start).Round(time.Millisecond)
		if cf.FailClosed {
			s.srv.ev.Emit(events.ContentFailedClosed, "queue_id", env.ID, "message_id", env.MessageID, "ip", s.ip, "virtual_server", l.Name,
				"error", err, "elapsed", elapsed)
			return reply.New(451, "4.7.1", "Content filter unavailable, try again later")
		}
		s.srv.ev.Emit(events.ContentFailedOpen, "queue_id", env.ID, "message_id", env.MessageID, "ip", s.ip, "virtual_server", l.Name,
			"error", err, "elapsed", elapsed)
		return reply.Reply{}
	}
	scl := cf.Mapping.SCL(v.Score)
	if scl >= cf.GatewayThreshold {
		s.srv.ev.Emit(events.ContentRefused, "queue_id", env.ID, "message_id", env.MessageID, "ip", s.ip, "virtual_server", l.Name,
			"from", orNull(env.From), "scl", scl, "score", scoreText(v.Score), "action", v.Action,
			"threshold", cf.GatewayThreshold, "symbols", v.Symbols)
		return reply.New(550, "5.7.1", "Message refused as spam (SCL %d)", scl)
	}
	env.SCL = sclPtr(scl)
	s.srv.ev.Emit(events.ContentScanned, "queue_id", env.ID, "message_id", env.MessageID, "ip", s.ip, "virtual_server", l.Name,
		"scl", scl, "score", scoreText(v.Score), "action", v.Action)
	return reply.Reply{}
}

// scanEnvelope is what rspamd is told besides the content.
func (s *session) scanEnvelope(env *queue.Envelope) contentfilter.Envelope {
	e := contentfilter.Envelope{QueueID: env.ID, From: env.From, IP: s.ip, Helo: s.helo}
	for _, r := range env.Recipients {
		e.Rcpts = append(e.Rcpts, r.Addr)
	}
	return e
}

func sclPtr(n int) *int { return &n }

func scoreText(f float64) string { return fmt.Sprintf("%.2f", f) }
