package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"mailward/admin"
	"mailward/config"
	"mailward/events"
	"mailward/internal/setup"
	"mailward/metrics"
	"mailward/smtp"
)

func cmdServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "mailward.toml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// SIGHUP is a reload, never a stop: logrotate and init systems send
	// it. It is caught before anything else, so that not even a start
	// can be killed by it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, cfg, hup)
}

// serve builds the stages (package setup) and runs them: the virtual servers,
// the queue with its delivery workers, and the queue viewer's socket.
func serve(ctx context.Context, cfg *config.Config, hup <-chan os.Signal) error {
	st, err := setup.Build(cfg)
	if err != nil {
		return err
	}
	if err := st.Open(); err != nil {
		return err
	}
	defer st.Close()
	logger, ev, q := st.Logger, st.Events, st.Queue

	// Listen on every address before accepting anything, so a port
	// conflict stops the start instead of leaving half a server.
	var lns []net.Listener
	// No TCP keep-alive probes: idle_timeout already ends dead sessions,
	// and it saves setsockopt calls on every accepted connection.
	lc := net.ListenConfig{KeepAlive: -1}
	for _, l := range st.VirtualServers {
		ln, err := lc.Listen(ctx, "tcp", l.Address)
		if err != nil {
			ev.Emit(events.VirtualServerFailed, "virtual_server", l.Settings.Name, "address", l.Address, "error", err)
			for _, o := range lns {
				o.Close()
			}
			return fmt.Errorf("virtual server %s: %w", l.Settings.Name, err)
		}
		lns = append(lns, ln)
	}
	// [metrics]: its own listener, opened with the others so that a
	// port conflict stops the start too.
	var mln net.Listener
	if st.Metrics != nil {
		if mln, err = metrics.Listen(ctx, cfg.Metrics.Address); err != nil {
			for _, o := range lns {
				o.Close()
			}
			return err
		}
	}
	// [web_admin]: likewise (webadmin.go).
	queueViewer := admin.New(q, st.Hops, ev)
	web, err := listenWebAdmin(ctx, st, queueViewer)
	if err != nil {
		for _, o := range append(lns, mln) {
			if o != nil {
				o.Close()
			}
		}
		return err
	}
	var names []string
	var wg sync.WaitGroup
	if web != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			web.serve(ctx, logger)
		}()
	}
	if mln != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := st.Metrics.Serve(ctx, mln); err != nil {
				logger.Error("metrics listener stopped", "err", err)
			}
		}()
		logger.Info("metrics served", "url", "http://"+mln.Addr().String()+metrics.Path)
	}
	// The queue viewer's endpoint (mailward queue ...): a Unix socket only
	// the server's owner can use. A failure to create it is logged, not
	// fatal: mail flows without it. It opens before the spool loads, so
	// that a big backlog can be watched while it loads.
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := queueViewer.Serve(ctx, setup.AdminSocket(cfg)); err != nil {
			logger.Error("admin socket unavailable: mailward queue cannot reach this server", "err", err)
		}
	}()
	// Start returns at once: the spool found at start loads in the
	// background while the virtual servers below accept mail (docs/queue.md).
	qctx, qcancel := context.WithCancel(context.Background())
	if err := q.Start(qctx, st.Categorizer.Handle, st.Bouncer.Bounce, st.Bouncer.Delay); err != nil {
		qcancel()
		return err
	}
	for i, l := range st.VirtualServers {
		opt := st.SMTP(i)
		if opt.Org != nil && opt.GSSAPI == nil && slices.Contains(l.Settings.OrgAuth, "GSSAPI") {
			logger.Warn("org_auth offers GSSAPI but organization.keytab is not set: it answers 454 (event 1035, NoKeytab)", "virtual_server", l.Settings.Name)
		}
		srv := smtp.New(opt)
		names = append(names, fmt.Sprintf("%s on %s", l.Settings.Name, lns[i].Addr()))
		wg.Add(1)
		go func(ln net.Listener) {
			defer wg.Done()
			if err := srv.Serve(ctx, ln, 10*time.Second); err != nil {
				logger.Error("virtual server stopped", "err", err)
			}
		}(lns[i])
	}
	ev.Emit(events.ServiceStarted, "version", version, "fqdn", cfg.Server.FQDN, "virtual_servers", strings.Join(names, ", "))
	// Type=notify (examples/systemd/mailward.service): ready once every
	// virtual server listens, so that units ordered after mailward find
	// its ports open.
	if err := sdNotify("READY=1\nSTATUS=serving " + strings.Join(names, ", ")); err != nil {
		logger.Error("sd_notify READY=1 failed: systemd will time the start out", "err", err)
	}
	for {
		select {
		case <-hup:
			reload(st, cfg.Path())
			continue
		case <-ctx.Done():
		}
		break
	}
	sdNotify("STOPPING=1")
	wg.Wait()
	qcancel()
	q.Wait()
	ev.Emit(events.ServiceStopped, "reason", "signal")
	return nil
}

// reload applies the configuration file again (SIGHUP): what can change
// while the server runs changes; a file that no longer loads changes
// nothing. Either way an event says what happened.
func reload(st *setup.Stages, path string) {
	cfg, err := config.Load(path)
	var r setup.Reloaded
	if err == nil {
		r, err = st.Reload(cfg)
	}
	if err != nil {
		st.Events.Emit(events.ConfigReloadFailed, "file", path, "error", err)
		return
	}
	st.Events.Emit(events.ConfigReloaded, "file", path, "report", r.String())
}
