package setup

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"mailward/categorize"
	"mailward/config"
	"mailward/deliver"
	"mailward/directory"
	"mailward/dsn"
	"mailward/events"
	"mailward/internal/certs"
	"mailward/internal/durable"
	"mailward/metrics"
	"mailward/policy"
	"mailward/protolog"
	"mailward/queue"
	"mailward/smtp"
)

// VirtualServer is one [[virtual_server]]: where it listens and what it is.
type VirtualServer struct {
	Address  string
	Settings smtp.Settings
	// OffersTLS: the virtual server offers STARTTLS (tls is not "none").
	OffersTLS bool
	// ProtocolLog: its sessions go to the protocol log (protolog.go).
	ProtocolLog bool
}

// Stages are the stages of one server, in the order a message flows
// through them:
//
//	smtp (Listeners) -> policy -> queue -> categorize -> deliver -> dsn
//
// Build makes everything that needs no data directory, so that `config
// check` and the diagnostics can build exactly what `serve` builds; Open
// then opens the durable parts (log files, spool, mailboxes, keys).
type Stages struct {
	Config    *config.Config
	Directory *directory.Directory
	// Recipients is every address this server accepts: its own and the
	// organization's (directory.Recipients).
	Recipients     *directory.Recipients
	Policy         *policy.Policy
	Org            *Org
	Hops           *deliver.Hops
	Remote         *deliver.Remote
	VirtualServers []VirtualServer
	// AuthGuard is shared by all virtual servers: a guessing client is slowed
	// and locked out whichever virtual server it tries.
	AuthGuard *smtp.AuthGuard
	// WebAdminTLS is the web administration's certificate (webadmin.go);
	// nil without one.
	WebAdminTLS *tls.Config

	// Set by Open.
	Logger      *slog.Logger
	Events      *events.Log
	Queue       *queue.Queue
	Maildir     *deliver.Maildir
	Categorizer *categorize.Categorizer
	Bouncer     *dsn.Bouncer
	TLS         *tls.Config
	certs       *certs.Holder
	// Metrics is nil unless [metrics] has an address (metrics.go).
	Metrics *metrics.Recorder
	// ProtoIn and ProtoOut are the protocol logs (protolog.go); nil
	// when no virtual server, or not delivery, turns one on.
	ProtoIn, ProtoOut *protolog.Log

	closers []func()
}

// Build checks and builds every stage that needs no data directory: the
// directory, the policy, the organization with this server's credentials
// (password file, keytab), remote delivery and the virtual servers' settings. A
// configured TLS certificate is loaded too. Every error `serve` would
// stop on at start is found here.
func Build(cfg *config.Config) (*Stages, error) {
	s := &Stages{Config: cfg, Directory: Directory(cfg), Hops: deliver.NewHops(), AuthGuard: AuthGuard(cfg)}
	org, err := Organization(cfg)
	if err != nil {
		return nil, err
	}
	s.Org = org
	if d := cfg.Server.DefaultDomain; !s.Directory.IsLocalDomain(d) && !org.Dir.IsOrgDomain(d) {
		return nil, fmt.Errorf("server.default_domain %q is neither a [[domain]] nor a domain of the organization", d)
	}
	s.Recipients = &directory.Recipients{Local: s.Directory, Self: cfg.Organization.Self}
	if org.Trust != nil {
		s.Recipients.Org = org.Trust.Org
		s.Recipients.Available = org.Trust.Available
	}
	s.Policy = Policy(cfg, s.Recipients, org.Dir)
	s.Remote = Remote(cfg, s.Hops)
	org.Equip(s.Remote)
	lookup := DNSBLLookup(cfg)
	content := ContentFilter(cfg)
	for _, l := range cfg.VirtualServers {
		set := VirtualServerSettings(cfg, l)
		set.ConnectionFilter, set.SenderFilter = Filters(cfg, l, lookup)
		set.ContentFilter = content
		s.VirtualServers = append(s.VirtualServers, VirtualServer{Address: l.Address, Settings: set,
			OffersTLS: l.TLS != config.VirtualServerTLSNone, ProtocolLog: l.ProtocolLog})
	}
	if cfg.TLS.CertFile != "" {
		if _, err := certs.Load(cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.Server.DataDir, cfg.Server.FQDN); err != nil {
			return nil, err
		}
	}
	if s.WebAdminTLS, err = WebAdminTLS(cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// Open opens the durable stages: the data directory, the process log,
// the event log, the spool, the mailboxes and the TLS certificate (a
// self-signed one is made on first start when none is configured). Close
// releases them.
func (s *Stages) Open() error {
	cfg := s.Config
	if err := os.MkdirAll(cfg.Server.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	logger, closeLog, err := newLogger(cfg)
	if err != nil {
		return err
	}
	s.closers = append(s.closers, closeLog)
	s.Logger = logger
	ev, closeEv, err := newEvents(cfg, logger)
	if err != nil {
		s.Close()
		return err
	}
	s.closers = append(s.closers, closeEv)
	s.Events = ev
	if s.newMetrics(); s.Metrics != nil {
		ev.SetCounter(s.Metrics.Event)
	}
	s.Remote.Events = ev
	if err := s.openProtocolLogs(); err != nil {
		s.Close()
		return err
	}
	s.startLiveDirectory()
	s.closers = append(s.closers, s.Remote.Close)
	spoolSync, boxSync, err := syncGroups(cfg)
	if err != nil {
		s.Close()
		return err
	}
	s.Queue, err = queue.Open(queue.Options{Dir: filepath.Join(cfg.Server.DataDir, "queue"), Workers: cfg.Queue.Workers,
		RetrySchedule: RetrySchedule(cfg), MaxAge: cfg.Queue.MaxAge.Duration, DelayWarning: cfg.Queue.DelayWarning.Duration,
		Events: ev, FSSync: spoolSync})
	if err != nil {
		s.Close()
		return err
	}
	// Suspensions kept on disk apply before anything is delivered.
	held, err := s.Hops.Persist(filepath.Join(cfg.Server.DataDir, "queue", "suspended"))
	if err != nil {
		s.Close()
		return err
	}
	for _, h := range held {
		ev.Emit(events.QueueStillSuspended, "queue", h)
	}
	s.Maildir = deliver.NewMaildir(cfg.MailboxDir(), cfg.Server.FQDN)
	s.Maildir.FSSync = boxSync
	if err := s.Maildir.RemoveInstances(); err != nil { // before the queue delivers
		s.Close()
		return err
	}
	s.Categorizer = s.NewCategorizer()
	s.Categorizer.Queue, s.Categorizer.Maildir, s.Categorizer.Events = s.Queue, s.Maildir, ev
	s.Bouncer = &dsn.Bouncer{Queue: s.Queue, FQDN: cfg.Server.FQDN, Postmaster: cfg.Server.Postmaster, Events: ev,
		MaxAge: cfg.Queue.MaxAge.Duration, SizeLimit: cfg.Queue.BounceSizeLimit}
	s.Queue.OnSuccess(s.Bouncer.Success)
	for _, l := range s.VirtualServers {
		if l.OffersTLS {
			if s.certs, err = certs.NewHolder(cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.Server.DataDir, cfg.Server.FQDN); err != nil {
				s.Close()
				return err
			}
			s.TLS = s.certs.Config()
			break
		}
	}
	s.instrument()
	return nil
}

// NewCategorizer is the categorizer's decisions as configured, over the
// stages Build made: what `mailward directory resolve` explains. Open
// gives it the queue, the mailboxes and the event log it delivers with.
func (s *Stages) NewCategorizer() *categorize.Categorizer {
	cfg := s.Config
	return &categorize.Categorizer{Dir: s.Recipients, Remote: s.Remote.Deliver, UnresolvedHost: cfg.Delivery.UnresolvedHost,
		Hops: s.Hops, MaxExpanded: cfg.Categorizer.MaxExpandedRecipients, LocalConcurrency: cfg.Categorizer.LocalDeliveries,
		MaxHops: cfg.Server.MaxHops, SingleInstance: *cfg.Categorizer.SingleInstance, JunkThreshold: junkThreshold(cfg),
		Org: s.Recipients.Org, Postmaster: cfg.Server.Postmaster}
}

// SMTP returns the receive side's options for virtual server i (after Open).
func (s *Stages) SMTP(i int) smtp.Options {
	l := s.VirtualServers[i]
	var spool smtp.Spool = smtp.QueueSpool{Q: s.Queue}
	if s.Categorizer != nil {
		spool = journalingSpool{Spool: spool, c: s.Categorizer}
	}
	opt := smtp.Options{Settings: l.Settings, Policy: s.Policy, Auth: s.Recipients, Spool: spool,
		Events: s.Events, Logger: s.Logger, AuthGuard: s.AuthGuard, Metrics: s.Metrics}
	if s.Org.Trust != nil {
		opt.Org = s.Org.Trust
		opt.GSSAPI = s.Org.Acceptor
		opt.Folders = folderCounter{dir: s.Recipients, md: s.Maildir}
	}
	if l.OffersTLS {
		// The certificate of this moment: a reload's new one goes to
		// the sessions that connect after it.
		opt.TLS = s.TLS
		if s.certs != nil {
			opt.TLS = s.certs.Fixed()
		}
	}
	if l.ProtocolLog {
		opt.ProtocolLog = s.ProtoIn
	}
	return opt
}

// Close releases what Open opened, last first.
func (s *Stages) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// syncGroups returns the group-syncfs committers for the spool and the
// mailboxes (one shared group when both are on one file system), or nils
// for queue.sync = "fsync".
func syncGroups(cfg *config.Config) (spool, boxes *durable.Group, err error) {
	if cfg.Queue.Sync != config.SyncFS {
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
	lv.UnmarshalText([]byte(cfg.Log.Level.String()))
	o := &slog.HandlerOptions{Level: lv}
	if cfg.Log.Format == config.LogText {
		return slog.New(slog.NewTextHandler(w, o)), closeFn, nil
	}
	return slog.New(slog.NewJSONHandler(w, o)), closeFn, nil
}

// EventLogPath is where the event log is.
func EventLogPath(cfg *config.Config) string { return filepath.Join(cfg.Server.DataDir, "events.log") }

// AdminSocket is where the queue viewer's socket is.
func AdminSocket(cfg *config.Config) string { return filepath.Join(cfg.Server.DataDir, "admin.sock") }

func newEvents(cfg *config.Config, logger *slog.Logger) (*events.Log, func(), error) {
	levels, err := Levels(cfg)
	if err != nil {
		return nil, nil, err
	}
	// Each event is one write(2), unbuffered: the event log is what an
	// administrator reads after a crash, so a SIGKILL must not eat its end.
	e := cfg.EventLog
	ev, err := events.OpenLog(logger, levels, EventLogPath(cfg), events.Options{MaxSize: e.MaxSize,
		MaxAge: e.MaxAge.Duration, Keep: e.Keep, RateLimit: e.RateLimit, Reserve: e.Reserve})
	if err != nil {
		return nil, nil, err
	}
	return ev, func() { ev.Close() }, nil
}
