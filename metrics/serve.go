package metrics

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"mailward/internal/httpserve"
)

// Path is where the metrics are served on a listener.
const Path = "/metrics"

// Mount adds the metrics handler at Path to mux: the listener of
// [metrics], or another one that serves more (an admin web listener).
func (r *Recorder) Mount(mux *http.ServeMux) { mux.Handle("GET "+Path, r.Handler()) }

// Listen opens the [metrics] listener at addr; it is opened before the
// server accepts mail, so that a port conflict stops the start.
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return ln, nil
}

// Serve answers GET /metrics on ln until ctx is done. Everything else is
// 404.
func (r *Recorder) Serve(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	r.Mount(mux)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10,
		ErrorLog: log.New(io.Discard, "", 0)}
	if err := httpserve.Serve(ctx, srv, ln); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
