package main

import (
	"context"
	"flag"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"mailward/admin"
	"mailward/config"
	"mailward/events"
	"mailward/internal/setup"
	"mailward/metrics"
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
	var wg sync.WaitGroup
	vs := newVServers(ctx, st, &wg)
	lns, err := vs.listen(cfg)
	if err != nil {
		return err
	}
	// [metrics]: its own listener, opened with the others so that a
	// port conflict stops the start too.
	var mln net.Listener
	if st.Metrics != nil {
		if mln, err = metrics.Listen(ctx, cfg.Metrics.Address); err != nil {
			closeAll(lns)
			return err
		}
	}
	// [web_admin]: likewise (webadmin.go). It acts on the queue through
	// the queue viewer's own code (adm), as the admin socket does.
	adm := admin.New(q, st.Hops, ev)
	web, err := listenWebAdmin(ctx, st, adm)
	if err != nil {
		closeAll(lns)
		if mln != nil {
			mln.Close()
		}
		return err
	}
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
	// It is created here, before READY=1, so that a "mailward reload"
	// right after the start finds it.
	var rl atomic.Pointer[reloader]
	adm.SetReloader(adminReload(rl.Load))
	if sock, err := adm.Listen(setup.AdminSocket(cfg)); err != nil {
		logger.Error("admin socket unavailable: mailward queue cannot reach this server", "err", err)
	} else {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := adm.ServeSocket(ctx, sock); err != nil {
				logger.Error("admin socket stopped: mailward queue cannot reach this server", "err", err)
			}
		}()
	}
	// Start returns at once: the spool found at start loads in the
	// background while the virtual servers below accept mail (docs/queue.md).
	qctx, qcancel := context.WithCancel(context.Background())
	if err := q.Start(qctx, st.Categorizer.Handle, st.Bouncer.Bounce, st.Bouncer.Delay); err != nil {
		qcancel()
		closeAll(lns)
		return err
	}
	vs.apply(lns, false)
	names := vs.names()
	rl.Store(&reloader{path: cfg.Path(), st: st, vs: vs})
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
			rl.Load().reload("SIGHUP")
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
