package smtp

import (
	"errors"
	"net"
	"time"
)

// deadlineReader refreshes the idle timeout before every read, so a
// client that stalls — between commands or in the middle of DATA — is
// dropped after idle_timeout (RFC 5321 §4.5.3.2).
type deadlineReader struct {
	c    net.Conn
	idle time.Duration
}

func (d deadlineReader) Read(p []byte) (int, error) {
	d.c.SetReadDeadline(time.Now().Add(d.idle))
	return d.c.Read(p)
}

func asNetErr(err error, ne *net.Error) bool { return errors.As(err, ne) }
