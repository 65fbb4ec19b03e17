package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"mailward/categorize"
	"mailward/config"
	"mailward/deliver"
	"mailward/directory"
	"mailward/dsn"
	"mailward/events"
	"mailward/internal/certs"
	"mailward/policy"
	"mailward/queue"
	"mailward/smtp"
)

func cmdServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "mailward.toml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, cfg)
}

// serve wires the stages in the order a message flows through them:
// listener/session -> policy -> queue -> categorizer -> delivery -> DSN.
func serve(ctx context.Context, cfg *config.Config) error {
	if err := os.MkdirAll(cfg.Server.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	logger, closeLog, err := newLogger(cfg)
	if err != nil {
		return err
	}
	defer closeLog()
	ev, closeEv, err := newEvents(cfg, logger)
	if err != nil {
		return err
	}
	defer closeEv()

	dir := directory.New(cfg)
	pol := policy.New(cfg, dir)
	var sched []time.Duration
	for _, d := range cfg.Queue.RetrySchedule {
		sched = append(sched, d.Duration)
	}
	q, err := queue.Open(queue.Options{Dir: filepath.Join(cfg.Server.DataDir, "queue"), Workers: cfg.Queue.Workers,
		RetrySchedule: sched, MaxAge: cfg.Queue.MaxAge.Duration, Events: ev})
	if err != nil {
		return err
	}
	cat := &categorize.Categorizer{Dir: dir, Maildir: deliver.NewMaildir(cfg.MailboxDir(), cfg.Server.FQDN), Events: ev}
	bouncer := &dsn.Bouncer{Queue: q, FQDN: cfg.Server.FQDN, Postmaster: cfg.Server.Postmaster, Events: ev}

	var tlsNeeded bool
	for _, l := range cfg.Listeners {
		tlsNeeded = tlsNeeded || l.TLS != "none"
	}
	tlsConf, err := loadTLS(cfg, tlsNeeded)
	if err != nil {
		return err
	}
	// Listen on every address before accepting anything, so a port
	// conflict stops the start instead of leaving half a server.
	var lns []net.Listener
	for _, l := range cfg.Listeners {
		ln, err := net.Listen("tcp", l.Address)
		if err != nil {
			ev.Emit(events.ListenerFailed, "connector", l.Name, "address", l.Address, "error", err)
			for _, o := range lns {
				o.Close()
			}
			return fmt.Errorf("listener %s: %w", l.Name, err)
		}
		lns = append(lns, ln)
	}
	qctx, qcancel := context.WithCancel(context.Background())
	if err := q.Start(qctx, cat.Handle, bouncer.Bounce); err != nil {
		qcancel()
		return err
	}
	var names []string
	var wg sync.WaitGroup
	for i, l := range cfg.Listeners {
		opt := smtp.Options{Listener: l, Policy: pol, Auth: dir, Spool: smtp.QueueSpool{Q: q},
			Events: ev, Logger: logger, Version: version}
		if l.TLS != "none" {
			opt.TLS = tlsConf
		}
		srv := smtp.New(opt)
		names = append(names, fmt.Sprintf("%s on %s", l.Name, lns[i].Addr()))
		wg.Add(1)
		go func(ln net.Listener) {
			defer wg.Done()
			if err := srv.Serve(ctx, ln, 10*time.Second); err != nil {
				logger.Error("listener stopped", "err", err)
			}
		}(lns[i])
	}
	ev.Emit(events.ServiceStarted, "version", version, "fqdn", cfg.Server.FQDN, "listeners", strings.Join(names, ", "))
	<-ctx.Done()
	wg.Wait()
	qcancel()
	q.Wait()
	ev.Emit(events.ServiceStopped, "reason", "signal")
	return nil
}

func loadTLS(cfg *config.Config, needed bool) (*tls.Config, error) {
	if !needed {
		return nil, nil
	}
	return certs.Load(cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.Server.DataDir, cfg.Server.FQDN)
}

func newLogger(cfg *config.Config) (*slog.Logger, func(), error) {
	var w io.Writer = os.Stderr
	closeFn := func() {}
	if cfg.Log.File != "" {
		f, err := os.OpenFile(cfg.Log.File, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return nil, nil, fmt.Errorf("log file: %w", err)
		}
		w, closeFn = f, func() { f.Close() }
	}
	var lv slog.Level
	lv.UnmarshalText([]byte(cfg.Log.Level))
	o := &slog.HandlerOptions{Level: lv}
	if cfg.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(w, o)), closeFn, nil
	}
	return slog.New(slog.NewJSONHandler(w, o)), closeFn, nil
}

func newEvents(cfg *config.Config, logger *slog.Logger) (*events.Log, func(), error) {
	levels := map[string]events.Level{}
	for cat, v := range cfg.Diagnostics {
		l, err := events.ParseLevel(v)
		if err != nil {
			return nil, nil, err
		}
		levels[cat] = l
	}
	f, err := events.Open(eventLogPath(cfg))
	if err != nil {
		return nil, nil, err
	}
	return events.New(logger, levels, f), func() { f.Close() }, nil
}

func eventLogPath(cfg *config.Config) string { return filepath.Join(cfg.Server.DataDir, "events.log") }
