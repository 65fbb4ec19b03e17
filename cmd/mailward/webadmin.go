package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"

	"mailward/admin"
	"mailward/internal/setup"
	"mailward/internal/setup/diagweb"
	"mailward/webadmin"
)

// webAdmin is the web administration with its listener ([web_admin],
// docs/web-admin.md).
type webAdmin struct {
	srv *webadmin.Server
	ln  net.Listener
	tls *tls.Config
}

// listenWebAdmin builds the web administration over the queue viewer q
// and opens its listener, at start with the virtual servers, so that a
// port conflict stops the start. nil when [web_admin] is off.
func listenWebAdmin(ctx context.Context, st *setup.Stages, q *admin.Server) (*webAdmin, error) {
	srv := diagweb.WebAdmin(st, q)
	if srv == nil {
		return nil, nil
	}
	ln, err := webadmin.Listen(ctx, st.Config.WebAdmin.Address)
	if err != nil {
		return nil, err
	}
	return &webAdmin{srv: srv, ln: ln, tls: st.WebAdminTLS}, nil
}

func (w *webAdmin) serve(ctx context.Context, logger *slog.Logger) {
	scheme := "http"
	if w.tls != nil {
		scheme = "https"
	}
	logger.Info("web administration served", "url", scheme+"://"+w.ln.Addr().String()+"/")
	if err := w.srv.Serve(ctx, w.ln, w.tls); err != nil {
		logger.Error("web administration stopped", "err", err)
	}
}
