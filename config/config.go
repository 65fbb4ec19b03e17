// Package config loads mailward's single TOML configuration file.
//
// Parsing is strict: an unknown key is an error that names the key and its
// line, because a misspelt setting that is silently ignored is how an MTA
// becomes an open relay. Every setting has a default (see defaults.go and
// docs/configuration.md).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// Config is the whole configuration file.
type Config struct {
	Server         Server               `toml:"server"`
	Log            Log                  `toml:"log"`
	Diagnostics    map[string]DiagLevel `toml:"diagnostics"`
	EventLog       EventLog             `toml:"event_log"`
	Metrics        Metrics              `toml:"metrics"`
	WebAdmin       WebAdmin             `toml:"web_admin"`
	ProtocolLog    ProtocolLog          `toml:"protocol_log"`
	AuthLimits     AuthLimits           `toml:"auth_limits"`
	Categorizer    Categorizer          `toml:"categorizer"`
	TLS            TLS                  `toml:"tls"`
	Queue          Queue                `toml:"queue"`
	Delivery       Delivery             `toml:"delivery"`
	Directory      Directory            `toml:"directory"`
	DNS            DNS                  `toml:"dns"`
	Organization   Organization         `toml:"organization"`
	Routes         []Route              `toml:"route"`
	Domains        []Domain             `toml:"domain"`
	Mailboxes      []Mailbox            `toml:"mailbox"`
	DNSBLs         []DNSBL              `toml:"dnsbl"`
	ContentFilter  *ContentFilter       `toml:"content_filter"`
	VirtualServers []VirtualServer      `toml:"virtual_server"`

	// path is the file this configuration was read from; relative paths
	// in the file are resolved against its directory.
	path string
}

// Server holds facts about this server as a whole.
type Server struct {
	// FQDN is the name in the 220 greeting, in EHLO and in Received:
	// headers (RFC 5321 §4.1.1.1, KB843106: the EHLO name decides trust).
	FQDN string `toml:"fqdn"`
	// DefaultDomain is appended to addresses without a domain (KB304897).
	DefaultDomain string `toml:"default_domain"`
	// DataDir holds the spool, mailboxes, event log and generated keys.
	DataDir string `toml:"data_dir"`
	// Postmaster is the From: of generated NDRs; default postmaster@DefaultDomain.
	Postmaster string `toml:"postmaster"`
	// MaxHops is the most trace fields (Received:, Delivered-To:) a
	// message may carry: past it, it is refused at DATA with 554 5.4.6, or
	// bounced with 5.4.6 if already queued (RFC 5321 §6.3: mail loops).
	MaxHops int `toml:"max_hops"`
}

// Log configures structured logging.
type Log struct {
	Level  LogLevel  `toml:"level"`  // debug, info, warn, error
	Format LogFormat `toml:"format"` // json or text
	File   string    `toml:"file"`   // empty: standard error
}

// EventLog bounds the event log <data_dir>/events.log, which a flood of
// refused connections or a full disk must not turn into a full disk or a
// silent log (docs/configuration.md#event_log).
type EventLog struct {
	// MaxSize: the file is rotated before a write would take it past
	// this many bytes.
	MaxSize int64 `toml:"max_size"`
	// MaxAge: the file is rotated when its first record is this old.
	MaxAge Duration `toml:"max_age"`
	// Keep is the number of rotated files kept (events.log.1 to .<keep>).
	Keep int `toml:"keep"`
	// RateLimit is the number of events written a minute per event ID
	// and client address (per kind of error for errors without one).
	RateLimit int `toml:"rate_limit"`
	// Reserve is the space kept allocated past the end of the file, into
	// which errors are written when the file system is full.
	Reserve int64 `toml:"reserve"`
}

// TLS names the certificate used by every virtual server that offers TLS.
type TLS struct {
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
}

// Queue configures the durable spool.
type Queue struct {
	// Workers is the number of concurrent delivery workers.
	Workers int `toml:"workers"`
	// RetrySchedule lists the waits between attempts for deferred
	// recipients; the last one repeats.
	RetrySchedule []Duration `toml:"retry_schedule"`
	// MaxAge: a message still undelivered after this long is bounced.
	MaxAge Duration `toml:"max_age"`
	// DelayWarning: after this long undelivered, the sender gets one
	// "delayed" notice per recipient (RFC 3464).
	DelayWarning Duration `toml:"delay_warning"`
	// Sync is how writes are made durable before they are acknowledged:
	// "syncfs" (default: group commit, one syncfs(2) of the file system
	// covers every message written meanwhile) or "fsync" (fdatasync per
	// file plus a grouped directory fsync; for a data_dir on a file system
	// shared with heavy unrelated writers).
	Sync SyncMode `toml:"sync"`
	// BounceSizeLimit is the most bytes of the original message a
	// non-delivery report returns, header included, whatever RET says
	// (Postfix's bounce_size_limit): a notice must not reflect a large
	// message to a forged sender.
	BounceSizeLimit int `toml:"bounce_size_limit"`
}

// Delivery configures local and remote delivery.
type Delivery struct {
	// MailboxDir is where Maildirs live; default <data_dir>/mailboxes.
	MailboxDir string `toml:"mailbox_dir"`
	// SmartHost, when set, receives all mail for non-local domains
	// ("host:port", "[ip]:port" or "host"; port 25 by default) instead
	// of the domains' MX hosts.
	SmartHost string `toml:"smart_host"`
	// UnresolvedHost is KB304897's "forward mail with unresolved
	// recipients to host": local-domain recipients that resolve to no
	// mailbox go there instead of bouncing.
	UnresolvedHost string `toml:"unresolved_host"`
	// RemotePort is the SMTP port of MX hosts (25; tests use others).
	RemotePort int `toml:"remote_port"`
	// TLS is the STARTTLS policy towards next hops: "opportunistic"
	// (default, RFC 7435), "required" or "none".
	TLS DeliveryTLS `toml:"tls"`
	// MaxPerDestination bounds concurrent connections to one next hop.
	MaxPerDestination int `toml:"max_per_destination"`
	// ConnectTimeout bounds each TCP connect (RFC 5321 §4.5.3.2 leaves
	// it to us; 30s like Postfix's smtp_connect_timeout).
	ConnectTimeout Duration `toml:"connect_timeout"`
	// Chunking sends with BDAT to next hops that offer CHUNKING (RFC
	// 3030); default true.
	Chunking *bool `toml:"chunking"`
	// ProtocolLog logs every outbound session's commands and replies
	// (docs/protocol-log.md); default false.
	ProtocolLog bool `toml:"protocol_log"`
}

// DNS configures the resolver used for MX lookups.
type DNS struct {
	// Server is "ip:port" of the DNS server to ask; empty: the system's.
	Server string `toml:"server"`
}

// Route overrides delivery for one destination domain.
type Route struct {
	Domain    string      `toml:"domain"`
	SmartHost string      `toml:"smart_host"`
	TLS       DeliveryTLS `toml:"tls"`
}

// Directory names an optional external recipients file. When set, it is
// re-read whenever it changes; while it cannot be read, RCPT answers 451
// (KB304897: a directory outage must never become accept-then-lose).
type Directory struct {
	File string `toml:"file"`
}

// Domain is one local domain.
type Domain struct {
	Name string `toml:"name"`
	// RecipientFiltering rejects unknown recipients at RCPT (KB304897).
	RecipientFiltering *bool `toml:"recipient_filtering"`
	// Tarpit is the delay before the first "User unknown" reply of a
	// session; each further unknown recipient waits one more Tarpit, up
	// to TarpitMax (anti-harvesting, KB304897).
	Tarpit    *Duration `toml:"tarpit"`
	TarpitMax *Duration `toml:"tarpit_max"`
}

// Mailbox is one local recipient with an optional login.
type Mailbox struct {
	Address string `toml:"address"`
	// PasswordHash is a bcrypt hash ("mailward config hash-password").
	PasswordHash string `toml:"password_hash"`
}

// VirtualServer is one [[virtual_server]] table: a listening address
// with its own name, TLS, authentication, relay rules and limits (what
// Exchange calls a virtual server, or since 2007 a Receive connector).
type VirtualServer struct {
	Name    string `toml:"name"`
	Address string `toml:"address"`
	// FQDN overrides Server.FQDN for this virtual server.
	FQDN string `toml:"fqdn"`
	// TLS: "none", "starttls" (offer STARTTLS) or "required" (STARTTLS
	// must come before MAIL).
	TLS VirtualServerTLS `toml:"tls"`
	// Auth lists SASL mechanisms offered: PLAIN, LOGIN.
	Auth []string `toml:"auth"`
	// AuthPlaintext allows AUTH before TLS (RFC 4954 §4 says no).
	AuthPlaintext bool `toml:"auth_plaintext"`
	// RelayAuthenticated lets authenticated clients relay.
	RelayAuthenticated bool `toml:"relay_authenticated"`
	// RelayNetworks lists CIDRs whose clients may relay. Empty by default:
	// never an open relay.
	RelayNetworks []string `toml:"relay_networks"`

	MaxMessageSize    int64 `toml:"max_message_size"`
	MaxRecipients     int   `toml:"max_recipients"`
	MaxLineLength     int   `toml:"max_line_length"`
	MaxDataLineLength int   `toml:"max_data_line_length"`
	MaxErrors         int   `toml:"max_errors"`
	// IdleTimeout bounds each whole command line; StressIdleTimeout
	// replaces it while the virtual server is nearly full.
	IdleTimeout       Duration `toml:"idle_timeout"`
	StressIdleTimeout Duration `toml:"stress_idle_timeout"`
	// MinDataRate (octets/s) paces the DATA phase's deadline.
	MinDataRate int64 `toml:"min_data_rate"`
	// MaxSessionDuration and MaxCommands bound one session.
	MaxSessionDuration  Duration `toml:"max_session_duration"`
	MaxCommands         int      `toml:"max_commands"`
	MaxConnections      int      `toml:"max_connections"`
	MaxConnectionsPerIP int      `toml:"max_connections_per_ip"`
	// BareLF is "reject" (default) or "normalize" (RFC 5321 §2.3.8).
	BareLF BareLF `toml:"bare_lf"`
	// Chunking offers CHUNKING and takes BDAT (RFC 3030); default true.
	Chunking *bool `toml:"chunking"`
	// OrgAuth lists the mechanisms offered with X-EXPS to servers of the
	// organization ("LOGIN", "GSSAPI"); empty: this virtual server takes
	// no organization mail (KB843106: integrated authentication must be
	// enabled on the receiving virtual server).
	OrgAuth []string `toml:"org_auth"`
	// OrgAuthOffer is to whom X-EXPS is offered: "servers" (default with
	// a directory file) or "everyone" (default with LDAP; words.go).
	OrgAuthOffer OrgAuthOffer `toml:"org_auth_offer"`
	// AuthFailureDelay is the wait after the first failed AUTH; it doubles
	// with each further failure in the session, up to 30 times its value.
	AuthFailureDelay Duration `toml:"auth_failure_delay"`
	// ConnectionFilter and SenderFilter are off when absent
	// (docs/filtering.md).
	ConnectionFilter *ConnectionFilter `toml:"connection_filter"`
	SenderFilter     *SenderFilter     `toml:"sender_filter"`
	// ProtocolLog logs every command and reply of this virtual server's
	// sessions (docs/protocol-log.md); default false.
	ProtocolLog bool `toml:"protocol_log"`
}

// Categorizer configures how recipients are resolved and expanded
// (docs/categorizer.md).
type Categorizer struct {
	// MaxExpandedRecipients bounds the recipients group expansion may add
	// to one message; past it the group bounces with 5.2.4.
	MaxExpandedRecipients int `toml:"max_expanded_recipients"`
	// LocalDeliveries is how many local copies of one message are
	// written at once.
	LocalDeliveries int `toml:"local_deliveries"`
	// SingleInstance stores one instance of a message for the members
	// of a group delivered here, hard-linked into each Maildir
	// (deliver.Instance); false: a copy each. Default true.
	SingleInstance *bool `toml:"single_instance"`
}

// AuthLimits lock a client address or an account out of AUTH and
// X-EXPS for a while after repeated failures, across sessions and
// virtual servers (docs/configuration.md#auth_limits).
type AuthLimits struct {
	// FailuresPerIP and FailuresPerAccount within Window start a lockout;
	// a negative value turns that lockout off.
	FailuresPerIP      int      `toml:"failures_per_ip"`
	FailuresPerAccount int      `toml:"failures_per_account"`
	Window             Duration `toml:"window"`
	Lockout            Duration `toml:"lockout"`
}

// Duration is a time.Duration written as a Go duration string ("30s").
type Duration struct{ time.Duration }

// UnmarshalText parses "90s", "5m", "2h".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use e.g. 30s, 5m, 2h)", b)
	}
	if v < 0 {
		return fmt.Errorf("negative duration %q", b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration back as a string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Load reads, strictly parses, defaults and validates a configuration file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c.path = abs
	c.resolvePaths()
	return c, nil
}

// Parse strictly decodes, defaults and validates a configuration. Relative
// paths stay relative to the working directory.
func Parse(b []byte) (*Config, error) {
	var c Config
	dec := toml.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		var strict *toml.StrictMissingError
		if errors.As(err, &strict) {
			return nil, describeUnknown(strict)
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, fmt.Errorf("line %d, column %d: %s", row, col, de.Error())
		}
		return nil, err
	}
	c.applyDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// describeUnknown names every unknown key with its line.
func describeUnknown(e *toml.StrictMissingError) error {
	var msgs []string
	renamed := false
	for _, de := range e.Errors {
		row, _ := de.Position()
		key := de.Key()
		if len(key) > 0 && key[0] == "listener" {
			// One word for one thing (docs/configuration.md): the table
			// was renamed, say so once instead of listing every key.
			if !renamed {
				msgs = append(msgs, fmt.Sprintf("line %d: [[listener]] is now called [[virtual_server]]: rename the table", row))
			}
			renamed = true
			continue
		}
		msgs = append(msgs, fmt.Sprintf("line %d: unknown key %q", row, strings.Join(key, ".")))
	}
	return errors.New(strings.Join(msgs, "; "))
}

// Path returns the absolute path of the loaded file ("" for Parse).
func (c *Config) Path() string { return c.path }

func (c *Config) resolvePaths() {
	base := filepath.Dir(c.path)
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	c.Server.DataDir = abs(c.Server.DataDir)
	c.TLS.CertFile = abs(c.TLS.CertFile)
	c.TLS.KeyFile = abs(c.TLS.KeyFile)
	c.WebAdmin.TLSCert, c.WebAdmin.TLSKey = abs(c.WebAdmin.TLSCert), abs(c.WebAdmin.TLSKey)
	c.Log.File = abs(c.Log.File)
	c.Directory.File = abs(c.Directory.File)
	c.Organization.File = abs(c.Organization.File)
	c.Organization.PasswordFile = abs(c.Organization.PasswordFile)
	c.Organization.Keytab = abs(c.Organization.Keytab)
	c.Organization.Krb5Conf = abs(c.Organization.Krb5Conf)
	c.Organization.LDAP.CAFile = abs(c.Organization.LDAP.CAFile)
	c.Organization.LDAP.CertFile = abs(c.Organization.LDAP.CertFile)
	c.Organization.LDAP.KeyFile = abs(c.Organization.LDAP.KeyFile)
	c.Organization.LDAP.PasswordFile = abs(c.Organization.LDAP.PasswordFile)
	c.Delivery.MailboxDir = abs(c.Delivery.MailboxDir)
	c.ProtocolLog.Directory = abs(c.ProtocolLog.Directory)
	if c.Delivery.MailboxDir == "" {
		c.Delivery.MailboxDir = filepath.Join(c.Server.DataDir, "mailboxes")
	}
}

// MailboxDir returns where Maildirs live.
func (c *Config) MailboxDir() string {
	if c.Delivery.MailboxDir != "" {
		return c.Delivery.MailboxDir
	}
	return filepath.Join(c.Server.DataDir, "mailboxes")
}
