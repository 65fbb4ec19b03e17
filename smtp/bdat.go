package smtp

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"mailward/events"
	"mailward/reply"
)

// CHUNKING (RFC 3030): "BDAT <size> [LAST]" followed by exactly <size>
// octets, no dot-stuffing, no terminator. BINARYMIME is not offered, so
// the chunks carry a message under 8BITMIME's rules (lines end in CRLF,
// no NUL), judged as a DATA message is: same size limit, same bare_lf
// policy, same hop count and Received: field, same durability (the 250
// to LAST is acceptMessage's, after the commit). docs/smtp.md says how.

// bdatState is a transaction's content so far, between its first chunk
// and LAST. The spool file exists from the first chunk, so the envelope
// is fixed then: RCPT and XEXCH50 are refused until the transaction ends.
type bdatState struct {
	w      MessageWriter
	scan   *bodyScanner
	chunks int
	octets int64 // chunk octets received, as counted by the BDAT sizes
}

// maxChunkDigits bounds the size argument: 18 digits always fit an int64.
const maxChunkDigits = 18

// parseBdat reads "<size> [LAST]". sizeOK reports whether the size could
// be read: if not, nobody knows where the chunk ends.
func parseBdat(arg string) (size int64, last, sizeOK, argsOK bool) {
	f := strings.Fields(arg)
	if len(f) == 0 || len(f[0]) > maxChunkDigits || strings.Trim(f[0], "0123456789") != "" {
		return 0, false, false, false
	}
	size, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, false, false, false
	}
	switch {
	case len(f) == 1:
		return size, false, true, true
	case len(f) == 2 && strings.EqualFold(f[1], "LAST"):
		return size, true, true, true
	}
	return size, false, true, false
}

func (s *session) cmdBdat(arg string) reply.Reply {
	l := s.l
	if !l.Chunking {
		// Not offered: the command is unknown here, as it was before
		// CHUNKING existed (chunking = false, docs/configuration.md).
		return reply.New(500, "5.5.2", "Command unrecognized")
	}
	size, last, sizeOK, argsOK := parseBdat(arg)
	if !sizeOK {
		// The octets that follow cannot be told from the next command:
		// reading them as commands would run whatever the client's
		// message says. Close, as for a line we cannot parse at all.
		s.srv.ev.Emit(events.BdatBadSize, "ip", s.ip, "virtual_server", l.Name, "arg", sanitize(arg))
		return reply.New(421, "4.5.4", "%s Syntax: BDAT <size> [LAST]; chunk size unreadable, closing connection", l.FQDN)
	}
	// Every refusal below still reads the chunk's octets, so that the
	// next command is found where the client put it (RFC 3030 section 2:
	// chunks already pipelined after a failed one are read and dropped).
	switch {
	case !argsOK:
		s.failChunks()
		return s.discard(size, reply.New(501, "5.5.4", "Syntax: BDAT <size> [LAST]"))
	case s.env == nil:
		return s.discard(size, reply.New(503, "5.5.1", "Need MAIL command"))
	case len(s.env.Recipients) == 0:
		return s.discard(size, reply.New(554, "5.5.1", "No valid recipients"))
	}
	if s.bdat == nil {
		w, err := s.createMessage()
		if err != nil {
			return s.discard(size, s.spoolFailed(err))
		}
		fmt.Fprint(w, s.receivedHeader(w.ID(), time.Now()))
		s.bdat = &bdatState{w: w, scan: newBodyScanner(w, l.MaxMessageSize, l.NormalizeBareLF)}
	}
	b := s.bdat
	if b.octets+size > l.MaxMessageSize {
		// Refused before a byte of it is stored: the sizes say already.
		total := b.octets + size
		s.failChunks()
		s.srv.ev.Emit(events.MessageTooBig, "ip", s.ip, "virtual_server", l.Name, "size", total, "max", l.MaxMessageSize)
		return s.discard(size, reply.New(552, "5.3.4", "Message size exceeds fixed maximum message size (%d)", l.MaxMessageSize))
	}
	if r, ok := s.readChunk(size, b.scan); !ok {
		s.failChunks()
		return r
	}
	b.octets += size
	b.chunks++
	if !last {
		return reply.New(250, "2.0.0", "%d octets received", size)
	}
	env := s.env
	res := b.scan.finish()
	s.bdat = nil // handed to acceptMessage, which commits or aborts it
	s.resetTransaction()
	r := s.acceptMessage(b.w, env, res)
	if r.Code == 250 {
		s.srv.ev.Emit(events.BdatReceived, "queue_id", env.ID, "message_id", env.MessageID, "ip", s.ip, "virtual_server", l.Name,
			"chunks", b.chunks, "octets", b.octets)
	}
	return r
}

// discard reads and drops a refused chunk's octets, then gives r.
func (s *session) discard(size int64, r reply.Reply) reply.Reply {
	if rr, ok := s.readChunk(size, io.Discard); !ok {
		return rr
	}
	return r
}

// readChunk copies size octets from the client to dst, under DATA's
// deadline: the idle timeout plus one second per min_data_rate octets
// (conn.go), and the session's own limit. A read that fails ends the
// session; the reply is then the last word, or zero when the client is
// gone.
func (s *session) readChunk(size int64, dst io.Writer) (reply.Reply, bool) {
	if size == 0 {
		return reply.Reply{}, true
	}
	l := s.l
	if int64(s.br.Buffered()) < size {
		// As between commands (readLine): the replies queued so far go
		// out before a wait for the client, who may be waiting for them.
		if err := s.flush(); err != nil {
			s.failChunks()
			s.quit = true
			return reply.Reply{}, false
		}
	}
	s.mu.Lock()
	s.rd.startData(s.idle(), l.MinDataRate)
	s.mu.Unlock()
	start := time.Now()
	n, err := io.CopyN(dst, s.br, size)
	if err == nil {
		return reply.Reply{}, true
	}
	s.failChunks()
	s.quit = true
	var ne net.Error
	if asNetErr(err, &ne) && ne.Timeout() {
		if r := s.sessionLimits(); !r.IsZero() {
			return r, false
		}
		s.srv.ev.Emit(events.DataTimeout, "ip", s.ip, "virtual_server", l.Name, "octets", n,
			"elapsed", time.Since(start).Round(time.Second), "rate", l.MinDataRate)
		return reply.New(421, "4.4.2", "%s Timeout during BDAT, closing connection", l.FQDN), false
	}
	return reply.Reply{}, false
}

// failChunks ends a transaction one of whose chunks was refused or cut:
// what was stored of it is removed. Chunks the client had already
// pipelined then find no transaction (503) and are dropped; were the
// transaction kept, they would make a message with a hole in it.
func (s *session) failChunks() { s.resetTransaction() }

// abortChunks removes a transaction's stored chunks (RSET, EHLO, the end
// of the session); resetTransaction calls it.
func (s *session) abortChunks() {
	if s.bdat != nil {
		s.bdat.w.Abort()
		s.bdat = nil
	}
}

// refusedDuringChunks is the reply to a command the transaction no
// longer allows once its first chunk is stored: its envelope is on disk,
// and DATA cannot follow BDAT (RFC 3030 section 2).
func (s *session) refusedDuringChunks(verb string) reply.Reply {
	if s.bdat == nil {
		return reply.Reply{}
	}
	switch verb {
	case "DATA":
		return reply.New(503, "5.5.1", "DATA not permitted after BDAT in the same transaction; use BDAT, or RSET")
	case "RCPT", "XEXCH50":
		return reply.New(503, "5.5.1", "%s not permitted after BDAT in the same transaction", verb)
	}
	return reply.Reply{}
}
