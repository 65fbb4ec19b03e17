// Package message reads what the transport needs from a message's
// header (RFC 5322 §2.2): for now, the trace fields that count its hops.
package message

import (
	"bufio"
	"bytes"
	"io"
)

// DefaultMaxHops is Exchange's default hop limit; RFC 5321 §6.3 asks for
// a limit of at least 100 only for the trace fields a *relay* adds, and
// every MTA picks its own (Postfix 50, Exchange 30).
const DefaultMaxHops = 30

// IsHop reports whether a header line is a trace field that counts as
// one hop: Received: (RFC 5321 §4.4, added by every relay) or
// Delivered-To: (added by local delivery, so that a message forwarded
// back into the system is counted too). The match ignores case, as
// field names do (RFC 5322 §1.2.2).
func IsHop(line []byte) bool {
	return hasPrefixFold(line, "received:") || hasPrefixFold(line, "delivered-to:")
}

func hasPrefixFold(b []byte, p string) bool {
	return len(b) >= len(p) && bytes.EqualFold(b[:len(p)], []byte(p))
}

// maxHeaderScan bounds how much of a message CountHops reads: a header
// larger than this is counted as far as it goes (a looping message with
// thousands of trace fields still counts far past any limit).
const maxHeaderScan = 4 << 20

// CountHops counts the trace fields in the header of the message r
// holds (up to its first empty line).
func CountHops(r io.Reader) (int, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, maxHeaderScan), 32<<10)
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A very long line: count it by its start, skip the rest.
			if IsHop(line) {
				n++
			}
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			if err == io.EOF {
				return n, nil
			}
			if err != nil {
				return n, err
			}
			continue
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return n, nil // end of the header (or of the message)
		}
		if IsHop(line) {
			n++
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
