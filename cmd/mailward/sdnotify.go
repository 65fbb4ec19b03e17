package main

import (
	"net"
	"os"
)

// sdNotify tells the service manager about the server's state through
// $NOTIFY_SOCKET (systemd's sd_notify(3) protocol: one datagram of
// "KEY=value" lines on a Unix datagram socket; a name starting with "@"
// is in the abstract namespace, which Go's "@" convention maps to).
// Without the variable — not started by systemd with Type=notify — it
// does nothing. Errors are returned for the log: a server that cannot
// notify still serves (systemd then times the start out, and says so).
//
// It is the whole protocol mailward needs, so it is written here rather
// than taken from a library (coreos/go-systemd's daemon package does the
// same in as many lines).
func sdNotify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}
