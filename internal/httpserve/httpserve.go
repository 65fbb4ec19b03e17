// Package httpserve runs an http.Server on a listener for as long as a
// context lasts: the one serve loop of the admin socket, the web
// administration and the metrics listener.
package httpserve

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// shutdownGrace is how long the requests in progress get to finish once
// ctx is done; whatever is left then is closed.
const shutdownGrace = 5 * time.Second

// Serve serves srv on ln until ctx is done, then shuts it down. It
// returns nil after ctx is done, or the error that stopped the server,
// unwrapped: the caller names its listener.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		srv.Shutdown(sctx)
		cancel()
		srv.Close()
		<-errc
		return nil
	case err := <-errc:
		srv.Close()
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}
