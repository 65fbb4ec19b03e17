package smtp

import (
	"errors"
	"net"
	"time"
)

// clientReader is what a session reads its client through. The session
// sets a deadline for a whole command line (readLine) and the reader
// moves it along during DATA only as fast as the octets arrive. A
// deadline renewed on every byte is what slowloris exploits: a client
// that trickles one byte every few seconds would hold its connection
// slot for ever (RFC 5321 §4.5.3.2 sets per-command timeouts, not
// per-byte ones).
type clientReader struct {
	c net.Conn
	// data is set during the DATA phase: the deadline is dataStart +
	// dataBase + one second per rate octets received, capped at end.
	data      bool
	dataStart time.Time
	dataBase  time.Duration
	rate      int64
	n         int64
	// end is when the whole session must be over (zero: never).
	end time.Time
}

func (r *clientReader) Read(p []byte) (int, error) {
	if r.data {
		d := r.dataStart.Add(r.dataBase)
		if r.rate > 0 {
			d = d.Add(time.Duration(r.n) * time.Second / time.Duration(r.rate))
		}
		r.c.SetReadDeadline(r.capped(d))
	}
	n, err := r.c.Read(p)
	r.n += int64(n)
	return n, err
}

// capped is d, or the end of the session if that comes first.
func (r *clientReader) capped(d time.Time) time.Time {
	if !r.end.IsZero() && r.end.Before(d) {
		return r.end
	}
	return d
}

// lineDeadline gives the next command line idle to arrive, whole.
func (r *clientReader) lineDeadline(idle time.Duration) {
	r.data = false
	r.c.SetReadDeadline(r.capped(time.Now().Add(idle)))
}

// startData starts the DATA phase's rate-based deadline.
func (r *clientReader) startData(base time.Duration, rate int64) {
	r.data, r.dataStart, r.dataBase, r.rate, r.n = true, time.Now(), base, rate, 0
}

// sessionOver reports whether the session's time is up.
func (r *clientReader) sessionOver(now time.Time) bool {
	return !r.end.IsZero() && !now.Before(r.end)
}

func asNetErr(err error, ne *net.Error) bool { return errors.As(err, ne) }
