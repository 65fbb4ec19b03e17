package smtpclient

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"mailward/reply"
)

// chunkSize is the size of one BDAT chunk: a message up to it goes in a
// single "BDAT n LAST", a larger one in chunks of about this size, so
// that the memory a delivery holds stays bounded whatever the message.
const chunkSize = 1 << 20

// writeChunks sends the message in BDAT chunks (RFC 3030) after the
// envelope was accepted and reads their replies. Lines are sent as DATA
// would send them (CRLF, stuffer), without dot-stuffing.
//
// With PIPELINING the chunks go out without waiting for each reply
// (RFC 3030 section 4.2), and the replies are read at the end; without
// it each chunk waits for its reply, and a refused one stops the
// message. The result is the first negative reply, or LAST's.
//
// If content cannot be read, the connection is closed before LAST, so a
// partial message is never delivered (as in writeContent).
func (c *Conn) writeChunks(ctx context.Context, content io.Reader) (reply.Reply, error) {
	t := c.o.Timeouts
	nc := c.nc
	unhook := context.AfterFunc(ctx, func() { nc.SetDeadline(longAgo) })
	defer unhook()
	_, pipelined := c.ext["PIPELINING"]
	var chunk bytes.Buffer
	s := stuffer{w: &chunk, noDots: true, bol: true}
	buf := make([]byte, 32<<10)
	var (
		final   reply.Reply
		pending int // chunks whose reply is not read yet
	)
	for eof := false; !eof; {
		for chunk.Len() < chunkSize && !eof {
			n, rerr := content.Read(buf)
			if n > 0 {
				s.write(buf[:n])
			}
			switch {
			case rerr == io.EOF:
				s.end()
				eof = true
			case rerr != nil:
				err := c.errorf("BDAT content", fmt.Errorf("reading the message: %w", rerr))
				c.Close()
				return reply.Reply{}, err
			}
		}
		last := ""
		if eof {
			last = " LAST"
		}
		c.deadline(ctx, t.DataBlock)
		cmd := fmt.Sprintf("BDAT %d%s", chunk.Len(), last)
		c.bw.WriteString(cmd)
		c.bw.WriteString("\r\n")
		c.plog.Command(cmd)
		c.bw.Write(chunk.Bytes())
		chunk.Reset()
		if err := c.bw.Flush(); err != nil {
			return reply.Reply{}, c.errorf("BDAT content", c.ctxErr(ctx, err))
		}
		pending++
		if pipelined && !eof {
			continue
		}
		for ; pending > 0; pending-- {
			r, err := c.ReadReply(ctx, t.DataTerm)
			if err != nil {
				return reply.Reply{}, err
			}
			lastReply := eof && pending == 1
			if final.IsZero() && (!r.Positive() || lastReply) {
				final = r
			}
		}
		if !final.IsZero() {
			// Refused, or LAST answered: RFC 3030 section 2 sends no
			// chunk after a negative reply.
			return final, nil
		}
	}
	return final, nil
}
