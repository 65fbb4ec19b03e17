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
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"mailward/admin"
	"mailward/categorize"
	"mailward/config"
	"mailward/deliver"
	"mailward/directory"
	"mailward/dsn"
	"mailward/events"
	"mailward/internal/certs"
	"mailward/internal/durable"
	"mailward/orgauth"
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
	org, trust, err := loadOrg(cfg)
	if err != nil {
		return err
	}
	pol := policy.New(cfg, dir)
	var sched []time.Duration
	for _, d := range cfg.Queue.RetrySchedule {
		sched = append(sched, d.Duration)
	}
	spoolSync, boxSync, err := syncGroups(cfg)
	if err != nil {
		return err
	}
	q, err := queue.Open(queue.Options{Dir: filepath.Join(cfg.Server.DataDir, "queue"), Workers: cfg.Queue.Workers,
		RetrySchedule: sched, MaxAge: cfg.Queue.MaxAge.Duration, DelayWarning: cfg.Queue.DelayWarning.Duration,
		Events: ev, FSSync: spoolSync})
	if err != nil {
		return err
	}
	// The bouncer is built below; success notices go through it too.
	var bouncer *dsn.Bouncer
	q.OnSuccess(func(m *queue.Message, idx []int) error { return bouncer.Success(m, idx) })
	md := deliver.NewMaildir(cfg.MailboxDir(), cfg.Server.FQDN)
	md.FSSync = boxSync
	hops := deliver.NewHops()
	remote := newRemote(cfg, hops)
	remote.Events = ev
	acceptor, err := orgRemote(cfg, org, trust, remote, logger)
	if err != nil {
		return err
	}
	defer remote.Close()
	cat := &categorize.Categorizer{Dir: dir, Maildir: md, Events: ev, Remote: remote.Deliver,
		UnresolvedHost: cfg.Delivery.UnresolvedHost, Hops: hops}
	bouncer = &dsn.Bouncer{Queue: q, FQDN: cfg.Server.FQDN, Postmaster: cfg.Server.Postmaster, Events: ev,
		MaxAge: cfg.Queue.MaxAge.Duration}

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
	// No TCP keep-alive probes: idle_timeout already ends dead sessions,
	// and it saves setsockopt calls on every accepted connection.
	lc := net.ListenConfig{KeepAlive: -1}
	for _, l := range cfg.Listeners {
		ln, err := lc.Listen(ctx, "tcp", l.Address)
		if err != nil {
			ev.Emit(events.ListenerFailed, "connector", l.Name, "address", l.Address, "error", err)
			for _, o := range lns {
				o.Close()
			}
			return fmt.Errorf("listener %s: %w", l.Name, err)
		}
		lns = append(lns, ln)
	}
	var names []string
	var wg sync.WaitGroup
	// The queue viewer's endpoint (mailward queue ...): a Unix socket only
	// the server's owner can use. A failure to create it is logged, not
	// fatal: mail flows without it. It opens before the spool loads, so
	// that a big backlog can be watched while it loads.
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := admin.New(q, hops, ev).Serve(ctx, adminSocket(cfg)); err != nil {
			logger.Error("admin socket unavailable: mailward queue cannot reach this server", "err", err)
		}
	}()
	// Start returns at once: the spool found at start loads in the
	// background while the listeners below accept mail (docs/queue.md).
	qctx, qcancel := context.WithCancel(context.Background())
	if err := q.Start(qctx, cat.Handle, bouncer.Bounce, bouncer.Delay); err != nil {
		qcancel()
		return err
	}
	for i, l := range cfg.Listeners {
		opt := smtp.Options{Listener: l, Policy: pol, Auth: dir, Spool: smtp.QueueSpool{Q: q},
			Events: ev, Logger: logger}
		if trust != nil {
			opt.Org = trust
			opt.GSSAPI = acceptor
			if acceptor == nil && slices.Contains(l.OrgAuth, "GSSAPI") {
				logger.Warn("org_auth offers GSSAPI but organization.keytab is not set: it answers 454 (event 1035, NoKeytab)", "connector", l.Name)
			}
		}
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

// loadOrg builds the organization directory; a configuration error in it
// stops the start (warnings, such as duplicate SPNs, do not: they are a
// real directory state that 'mailward diag spn' reports).
func loadOrg(cfg *config.Config) (*directory.Org, *orgauth.Trust, error) {
	org, err := directory.NewOrg(cfg)
	if err != nil {
		return nil, nil, err
	}
	if len(org.Servers) == 0 {
		return org, nil, nil
	}
	if errs, _ := org.Validate(); len(errs) > 0 {
		return nil, nil, fmt.Errorf("organization: %s", strings.Join(errs, "; "))
	}
	if cfg.Organization.Self != "" {
		if _, ok := org.ServerByName(cfg.Organization.Self); !ok {
			return nil, nil, fmt.Errorf("organization.self %q is not a server of the organization", cfg.Organization.Self)
		}
	}
	return org, &orgauth.Trust{Org: org, Self: cfg.Organization.Self, Realm: cfg.Organization.Realm}, nil
}

// orgRemote gives remote delivery what it needs to send to servers of the
// organization (credentials, Kerberos) and returns the GSSAPI acceptor for
// the listeners (nil without a keytab).
func orgRemote(cfg *config.Config, org *directory.Org, trust *orgauth.Trust, remote *deliver.Remote, logger *slog.Logger) (*orgauth.Acceptor, error) {
	// On by default even without an [organization]: a server that knows
	// no organization has nobody to send properties to.
	remote.SuppressExternal = *cfg.Organization.SuppressExternal
	if trust == nil {
		return nil, nil
	}
	remote.Org, remote.Self = org, cfg.Organization.Self
	if cfg.Organization.PasswordFile != "" {
		b, err := os.ReadFile(cfg.Organization.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("organization.password_file: %w", err)
		}
		remote.Secret = strings.TrimSpace(string(b))
	}
	return kerberos(cfg, trust, remote, logger)
}

// clockOffsetEnv is a test hook: it shifts the clock this server's
// Kerberos acceptor and initiator use (a Go duration, "10m"), to stand in
// for a server whose clock is off — a Go binary's clock cannot be shifted
// from outside. Never set it in production.
const clockOffsetEnv = "MAILWARD_TEST_CLOCK_OFFSET"

// kerberos builds the GSSAPI acceptor (for the listeners) and the
// initiator (for remote delivery to organization servers) from
// organization.keytab, krb5_conf and realm. Without a keytab there is
// neither. The initiator logs in to the KDC on first use, so a KDC that
// is down at start costs nothing until mail needs it.
func kerberos(cfg *config.Config, trust *orgauth.Trust, remote *deliver.Remote, logger *slog.Logger) (*orgauth.Acceptor, error) {
	oc := cfg.Organization
	if trust == nil || oc.Keytab == "" {
		return nil, nil
	}
	kt, err := orgauth.LoadKeytab(oc.Keytab)
	if err != nil {
		return nil, fmt.Errorf("organization.keytab: %w", err)
	}
	var clock func() time.Time
	if v := os.Getenv(clockOffsetEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", clockOffsetEnv, err)
		}
		logger.Warn("Kerberos clock shifted by a test hook", "env", clockOffsetEnv, "offset", d)
		clock = func() time.Time { return time.Now().Add(d) }
	}
	krb5Conf := oc.Krb5Conf
	if krb5Conf == "" {
		// gokrb5 reads no environment: do what MIT's library does.
		// (KRB5_CONFIG may list several files; gokrb5 reads one.)
		if krb5Conf, _, _ = strings.Cut(os.Getenv("KRB5_CONFIG"), ":"); krb5Conf == "" {
			krb5Conf = "/etc/krb5.conf"
		}
	}
	remote.Kerberos = &orgauth.Initiator{Krb5Conf: krb5Conf, Keytab: kt, Principal: "SMTP/" + strings.ToLower(cfg.Server.FQDN),
		Realm: oc.Realm, Clock: clock}
	return &orgauth.Acceptor{Keytab: kt, Clock: clock}, nil
}

// newRemote builds remote delivery from [delivery], [dns] and [[route]].
func newRemote(cfg *config.Config, hops *deliver.Hops) *deliver.Remote {
	r := &deliver.Remote{Resolver: deliver.NewResolver(cfg.DNS.Server), HeloName: cfg.Server.FQDN,
		Port: cfg.Delivery.RemotePort, MaxPerDestination: cfg.Delivery.MaxPerDestination, Hops: hops,
		Default:  deliver.Route{SmartHost: cfg.Delivery.SmartHost, TLS: deliver.ParseTLSPolicy(cfg.Delivery.TLS)},
		Routes:   map[string]deliver.Route{},
		Timeouts: deliver.Timeouts{Connect: cfg.Delivery.ConnectTimeout.Duration}}
	for _, rt := range cfg.Routes {
		r.Routes[rt.Domain] = deliver.Route{SmartHost: rt.SmartHost, TLS: deliver.ParseTLSPolicy(rt.TLS)}
	}
	return r
}

// syncGroups returns the group-syncfs committers for the spool and the
// mailboxes (one shared group when both are on one file system), or nils
// for queue.sync = "fsync".
func syncGroups(cfg *config.Config) (spool, boxes *durable.Group, err error) {
	if cfg.Queue.Sync != "syncfs" {
		return nil, nil, nil
	}
	if err := os.MkdirAll(cfg.MailboxDir(), 0o700); err != nil {
		return nil, nil, fmt.Errorf("mailbox dir: %w", err)
	}
	if spool, err = durable.NewFSSync(cfg.Server.DataDir); err != nil {
		return nil, nil, err
	}
	if durable.SameFS(cfg.Server.DataDir, cfg.MailboxDir()) {
		return spool, spool, nil
	}
	boxes, err = durable.NewFSSync(cfg.MailboxDir())
	return spool, boxes, err
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
	// Each event is one write(2), unbuffered: the event log is what an
	// administrator reads after a crash, so a SIGKILL must not eat its end.
	return events.New(logger, levels, f), func() { f.Close() }, nil
}

func eventLogPath(cfg *config.Config) string { return filepath.Join(cfg.Server.DataDir, "events.log") }
