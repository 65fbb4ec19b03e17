package config

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"mailward/message"
	"mailward/smtpclient"
)

// Defaults. They follow Postfix where Postfix has an equivalent
// (message_size_limit, smtpd_recipient_limit, smtpd_timeout,
// smtpd_hard_error_limit, anvil) and RFC 5321 §4.5.3.1 for line lengths.
const (
	// DefaultDataDir is server.data_dir when unset, relative to the file.
	DefaultDataDir             = "data"
	DefaultMaxMessageSize      = 25 << 20 // 25 MiB
	DefaultMaxRecipients       = 100      // RFC 5321 §4.5.3.1.8 minimum
	DefaultMaxLineLength       = 1000     // RFC 5321 §4.5.3.1.4/6, CRLF included
	DefaultMaxErrors           = 20
	DefaultIdleTimeout         = 5 * time.Minute  // RFC 5321 §4.5.3.2.7
	DefaultStressIdleTimeout   = 10 * time.Second // Postfix's smtpd_timeout under stress
	DefaultMinDataRate         = 500              // octets/s, Postfix's smtpd_min_data_rate
	DefaultMaxSessionDuration  = 30 * time.Minute
	DefaultMaxCommands         = 10000
	DefaultMaxDataLineLength   = 1000 // RFC 5321 §4.5.3.1.6: 998 + CRLF
	DefaultMaxConnections      = 200
	DefaultMaxConnectionsPerIP = 50
	DefaultTarpit              = 2 * time.Second
	DefaultTarpitMax           = 20 * time.Second
	DefaultAuthFailureDelay    = 1 * time.Second
	// A client address gets 5 tries in 15 minutes and an account 10
	// from anywhere (a user with a stale password on two devices is not
	// locked out at once); then 15 minutes of 454 4.7.0.
	DefaultAuthFailuresPerIP      = 5
	DefaultAuthFailuresPerAccount = 10
	DefaultAuthWindow             = 15 * time.Minute
	DefaultAuthLockout            = 15 * time.Minute
	DefaultWorkers                = 32
	// A group of up to 10,000 members (Postfix's virtual_alias_expansion_limit
	// is 1,000, too few for an organization's all-staff group).
	DefaultMaxExpandedRecipients = 10000
	DefaultLocalDeliveries       = 16
	DefaultMaxAge                = 48 * time.Hour
	// DefaultBounceSizeLimit is Postfix's bounce_size_limit: room for a
	// header and the start of the body, not for a payload.
	DefaultBounceSizeLimit = 50000
)

// Event log defaults ([event_log]). A line is about 320 bytes, so a 10 MiB
// file holds some 30,000 events. One file a day and seven kept: a week of
// history on a quiet server (a Monday still shows the Friday before), and
// events, which name client addresses and mail addresses, are gone after
// about eight days. The disk use is bounded by (keep+1) * max_size +
// reserve, 81 MiB. Ten events a minute per event and client show what a
// client does without letting it write 300 KB of refusals; 1 MiB of
// reserve holds some 3,000 errors, an hour and more of a full disk at the
// rate the rate limit lets spool failures through.
const (
	DefaultEventLogMaxSize   = 10 << 20
	DefaultEventLogMaxAge    = 24 * time.Hour
	DefaultEventLogKeep      = 7
	DefaultEventLogRateLimit = 10
	DefaultEventLogReserve   = 1 << 20
)

// DefaultRetrySchedule is the wait before each retry of a deferred
// recipient; the last entry repeats until MaxAge.
var DefaultRetrySchedule = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour}

// Diagnostic categories (Exchange's MSExchangeTransport categories, KB843106).
var Categories = []string{"service", "smtp_receive", "smtp_send", "auth", "queue", "categorizer", "delivery", "dsn"}

// Web administration defaults ([web_admin], docs/web-admin.md): a session
// lasts a working day of use, and five wrong passwords from one client or
// for one name lock logins for a minute, enough to make guessing useless
// while an administrator who mistyped waits little.
const (
	DefaultWebAdminSessionTimeout = 8 * time.Hour
	DefaultWebAdminLoginFailures  = 5
	DefaultWebAdminLoginLockout   = time.Minute
)

// DiagnosticLevels in increasing verbosity (KB843106: none, minimum, medium, maximum).
var DiagnosticLevels = []DiagLevel{DiagNone, DiagMinimum, DiagMedium, DiagMaximum}

func (c *Config) applyDefaults() {
	c.applyWebAdminDefaults()
	if c.Organization.SuppressExternal == nil {
		t := true
		c.Organization.SuppressExternal = &t
	}
	if c.Categorizer.SingleInstance == nil {
		t := true
		c.Categorizer.SingleInstance = &t
	}
	if c.Server.FQDN == "" {
		c.Server.FQDN = "localhost.localdomain"
	}
	c.Server.FQDN = strings.ToLower(strings.TrimSuffix(c.Server.FQDN, "."))
	c.Server.DefaultDomain = strings.ToLower(c.Server.DefaultDomain)
	if c.Server.DefaultDomain == "" && len(c.Domains) > 0 {
		c.Server.DefaultDomain = strings.ToLower(c.Domains[0].Name)
	}
	if c.Server.DataDir == "" {
		c.Server.DataDir = DefaultDataDir
	}
	if c.Server.Postmaster == "" && c.Server.DefaultDomain != "" {
		c.Server.Postmaster = "postmaster@" + c.Server.DefaultDomain
	}
	if c.Categorizer.MaxExpandedRecipients == 0 {
		c.Categorizer.MaxExpandedRecipients = DefaultMaxExpandedRecipients
	}
	if c.Categorizer.LocalDeliveries == 0 {
		c.Categorizer.LocalDeliveries = DefaultLocalDeliveries
	}
	al := &c.AuthLimits
	if al.FailuresPerIP == 0 {
		al.FailuresPerIP = DefaultAuthFailuresPerIP
	}
	if al.FailuresPerAccount == 0 {
		al.FailuresPerAccount = DefaultAuthFailuresPerAccount
	}
	if al.Window.Duration == 0 {
		al.Window.Duration = DefaultAuthWindow
	}
	if al.Lockout.Duration == 0 {
		al.Lockout.Duration = DefaultAuthLockout
	}
	if c.Server.MaxHops == 0 {
		c.Server.MaxHops = message.DefaultMaxHops
	}
	if c.Log.Level == (LogLevel{}) {
		c.Log.Level = LogInfo
	}
	if c.Log.Format == (LogFormat{}) {
		c.Log.Format = LogJSON
	}
	if c.Diagnostics == nil {
		c.Diagnostics = map[string]DiagLevel{}
	}
	for _, cat := range Categories {
		if _, ok := c.Diagnostics[cat]; !ok {
			c.Diagnostics[cat] = DiagMinimum
		}
	}
	if c.EventLog.MaxSize == 0 {
		c.EventLog.MaxSize = DefaultEventLogMaxSize
	}
	if c.EventLog.MaxAge.Duration == 0 {
		c.EventLog.MaxAge.Duration = DefaultEventLogMaxAge
	}
	if c.EventLog.Keep == 0 {
		c.EventLog.Keep = DefaultEventLogKeep
	}
	if c.EventLog.RateLimit == 0 {
		c.EventLog.RateLimit = DefaultEventLogRateLimit
	}
	if c.EventLog.Reserve == 0 {
		c.EventLog.Reserve = DefaultEventLogReserve
	}
	if c.Queue.Workers == 0 {
		c.Queue.Workers = DefaultWorkers
	}
	if len(c.Queue.RetrySchedule) == 0 {
		for _, d := range DefaultRetrySchedule {
			c.Queue.RetrySchedule = append(c.Queue.RetrySchedule, Duration{d})
		}
	}
	if c.Queue.Sync == (SyncMode{}) {
		c.Queue.Sync = SyncFS
	}
	if c.Queue.MaxAge.Duration == 0 {
		c.Queue.MaxAge.Duration = DefaultMaxAge
	}
	if c.Queue.BounceSizeLimit == 0 {
		c.Queue.BounceSizeLimit = DefaultBounceSizeLimit
	}
	if c.Queue.DelayWarning.Duration == 0 {
		c.Queue.DelayWarning.Duration = 4 * time.Hour
	}
	if c.Delivery.RemotePort == 0 {
		c.Delivery.RemotePort = 25
	}
	if c.Delivery.TLS == (DeliveryTLS{}) {
		c.Delivery.TLS = DeliveryTLSOpportunistic
	}
	if c.Delivery.MaxPerDestination == 0 {
		c.Delivery.MaxPerDestination = 20
	}
	if c.Delivery.Chunking == nil {
		c.Delivery.Chunking = boolPtr(true)
	}
	if c.Delivery.ConnectTimeout.Duration == 0 {
		c.Delivery.ConnectTimeout.Duration = smtpclient.DefaultTimeouts.Connect
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		r.Domain = strings.ToLower(strings.TrimSuffix(r.Domain, "."))
		if r.TLS == (DeliveryTLS{}) {
			r.TLS = c.Delivery.TLS
		}
	}
	for i := range c.Domains {
		d := &c.Domains[i]
		d.Name = strings.ToLower(strings.TrimSuffix(d.Name, "."))
		if d.RecipientFiltering == nil {
			t := true
			d.RecipientFiltering = &t
		}
		if d.Tarpit == nil {
			d.Tarpit = &Duration{DefaultTarpit}
		}
		if d.TarpitMax == nil {
			d.TarpitMax = &Duration{DefaultTarpitMax}
		}
	}
	for i := range c.Mailboxes {
		c.Mailboxes[i].Address = strings.ToLower(c.Mailboxes[i].Address)
	}
	for i := range c.VirtualServers {
		l := &c.VirtualServers[i]
		if l.FQDN == "" {
			l.FQDN = c.Server.FQDN
		}
		if l.TLS == (VirtualServerTLS{}) {
			l.TLS = VirtualServerTLSStartTLS
		}
		if l.MaxMessageSize == 0 {
			l.MaxMessageSize = DefaultMaxMessageSize
		}
		if l.MaxRecipients == 0 {
			l.MaxRecipients = DefaultMaxRecipients
		}
		if l.MaxLineLength == 0 {
			l.MaxLineLength = DefaultMaxLineLength
		}
		if l.MaxErrors == 0 {
			l.MaxErrors = DefaultMaxErrors
		}
		if l.IdleTimeout.Duration == 0 {
			l.IdleTimeout.Duration = DefaultIdleTimeout
		}
		if l.StressIdleTimeout.Duration == 0 {
			l.StressIdleTimeout.Duration = min(DefaultStressIdleTimeout, l.IdleTimeout.Duration)
		}
		if l.MinDataRate == 0 {
			l.MinDataRate = DefaultMinDataRate
		}
		if l.MaxSessionDuration.Duration == 0 {
			l.MaxSessionDuration.Duration = DefaultMaxSessionDuration
		}
		if l.MaxCommands == 0 {
			l.MaxCommands = DefaultMaxCommands
		}
		if l.MaxDataLineLength == 0 {
			l.MaxDataLineLength = DefaultMaxDataLineLength
		}
		if l.MaxConnections == 0 {
			l.MaxConnections = DefaultMaxConnections
		}
		if l.MaxConnectionsPerIP == 0 {
			l.MaxConnectionsPerIP = DefaultMaxConnectionsPerIP
		}
		if l.BareLF == (BareLF{}) {
			l.BareLF = BareLFReject
		}
		if l.Chunking == nil {
			l.Chunking = boolPtr(true)
		}
		if l.AuthFailureDelay.Duration == 0 {
			l.AuthFailureDelay.Duration = DefaultAuthFailureDelay
		}
		for j, m := range l.Auth {
			l.Auth[j] = strings.ToUpper(m)
		}
		for j, m := range l.OrgAuth {
			l.OrgAuth[j] = strings.ToUpper(m)
		}
		if l.OrgAuthOffer == (OrgAuthOffer{}) {
			l.OrgAuthOffer = OrgAuthOfferServers
			if c.Organization.Directory == OrgDirectoryLDAP {
				l.OrgAuthOffer = OrgAuthOfferEveryone
			}
		}
	}
	c.applyFilterDefaults()
	c.applyContentFilterDefaults()
	c.applyOrgLDAPDefaults()
	c.applyProtocolLogDefaults()
}

func (c *Config) validate() error {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }

	// A server of an organization may take all its domains from the
	// organization directory (docs/categorizer.md); internal/setup checks
	// default_domain against them once the directory is read.
	org := c.Organization.File != "" || len(c.Organization.Servers) > 0 || c.Organization.Directory == OrgDirectoryLDAP
	switch {
	case len(c.Domains) == 0 && !org:
		bad("at least one [[domain]] is required (or an [organization] whose directory holds the domains)")
	case len(c.Domains) == 0 && c.Server.DefaultDomain == "":
		bad("server.default_domain is required when the domains come from the organization directory (no [[domain]])")
	}
	local := map[string]bool{}
	for _, d := range c.Domains {
		if d.Name == "" {
			bad("[[domain]] without a name")
		}
		if local[d.Name] {
			bad("domain %q listed twice", d.Name)
		}
		local[d.Name] = true
	}
	if c.Server.DefaultDomain != "" && !local[c.Server.DefaultDomain] && !org {
		bad("server.default_domain %q is not a [[domain]]", c.Server.DefaultDomain)
	}
	seen := map[string]bool{}
	for _, m := range c.Mailboxes {
		at := strings.LastIndexByte(m.Address, '@')
		if at <= 0 {
			bad("mailbox %q: need local@domain", m.Address)
			continue
		}
		if !local[m.Address[at+1:]] {
			bad("mailbox %q: domain is not a [[domain]]", m.Address)
		}
		if seen[m.Address] {
			bad("mailbox %q listed twice", m.Address)
		}
		seen[m.Address] = true
		if m.PasswordHash != "" && !strings.HasPrefix(m.PasswordHash, "$2") {
			bad("mailbox %q: password_hash must be a bcrypt hash (mailward config hash-password)", m.Address)
		}
	}
	if c.AuthLimits.FailuresPerIP < -1 || c.AuthLimits.FailuresPerAccount < -1 {
		bad("auth_limits: failures_per_ip and failures_per_account must be positive, or -1 for never")
	}
	if c.Categorizer.MaxExpandedRecipients < 0 || c.Categorizer.LocalDeliveries < 0 {
		bad("categorizer: max_expanded_recipients and local_deliveries must be positive")
	}
	if c.Server.MaxHops < 0 {
		bad("server.max_hops %d must be positive", c.Server.MaxHops)
	}
	for cat := range c.Diagnostics {
		if !slices.Contains(Categories, cat) {
			bad("diagnostics.%s: unknown category (known: %s)", cat, strings.Join(Categories, ", "))
		}
	}
	c.validateEventLog(bad)
	c.validateMetrics(bad)
	c.validateWebAdmin(bad)
	c.validateProtocolLog(bad)
	c.validateFilters(bad)
	c.validateContentFilter(bad)
	c.validateOrgLDAP(bad)
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls.cert_file and tls.key_file go together")
	}
	if c.Queue.Workers < 0 {
		bad("queue.workers %d must be positive", c.Queue.Workers)
	}
	if c.Queue.BounceSizeLimit < 0 {
		bad("queue.bounce_size_limit %d must be positive", c.Queue.BounceSizeLimit)
	}
	for _, d := range c.Queue.RetrySchedule {
		if d.Duration < time.Second {
			bad("queue.retry_schedule entry %s is below 1s", d.Duration)
		}
	}
	for _, hp := range []struct{ key, v string }{{"delivery.smart_host", c.Delivery.SmartHost}, {"delivery.unresolved_host", c.Delivery.UnresolvedHost}} {
		if hp.v != "" && !validHostPort(hp.v) {
			bad("%s %q: want host, host:port or [ip]:port", hp.key, hp.v)
		}
	}
	if c.DNS.Server != "" {
		if _, _, err := net.SplitHostPort(c.DNS.Server); err != nil {
			bad("dns.server %q: want ip:port", c.DNS.Server)
		}
	}
	if c.Delivery.MaxPerDestination < 0 || c.Delivery.RemotePort < 0 || c.Delivery.RemotePort > 65535 {
		bad("delivery.max_per_destination must be positive and delivery.remote_port a port number (1-65535)")
	}
	seenRoute := map[string]bool{}
	for _, r := range c.Routes {
		switch {
		case r.Domain == "":
			bad("[[route]] without a domain")
		case seenRoute[r.Domain]:
			bad("route for %q listed twice", r.Domain)
		case local[r.Domain]:
			bad("route for %q: it is a local domain", r.Domain)
		case r.SmartHost != "" && !validHostPort(r.SmartHost):
			bad("route %q: smart_host %q: want host, host:port or [ip]:port", r.Domain, r.SmartHost)
		}
		seenRoute[r.Domain] = true
	}
	if len(c.VirtualServers) == 0 {
		bad("at least one [[virtual_server]] is required")
	}
	names := map[string]bool{}
	for _, l := range c.VirtualServers {
		where := fmt.Sprintf("virtual server %q", l.Name)
		if l.Name == "" {
			bad("[[virtual_server]] without a name")
		}
		if names[l.Name] {
			bad("%s listed twice", where)
		}
		names[l.Name] = true
		if _, _, err := net.SplitHostPort(l.Address); err != nil {
			bad("%s: address %q: %v", where, l.Address, err)
		}
		for _, m := range l.Auth {
			if m != "PLAIN" && m != "LOGIN" {
				bad("%s: auth mechanism %q: want PLAIN or LOGIN", where, m)
			}
		}
		for _, m := range l.OrgAuth {
			if m != "LOGIN" && m != "GSSAPI" {
				bad("%s: org_auth mechanism %q: want LOGIN or GSSAPI", where, m)
			}
		}
		if len(l.Auth) > 0 && l.TLS == VirtualServerTLSNone && !l.AuthPlaintext {
			bad("%s: auth without TLS needs auth_plaintext = true (RFC 4954 §4)", where)
		}
		for _, n := range l.RelayNetworks {
			if _, err := netip.ParsePrefix(n); err != nil {
				if _, err2 := netip.ParseAddr(n); err2 != nil {
					bad("%s: relay_networks entry %q is not an address or CIDR", where, n)
				}
			}
		}
		for _, n := range []struct {
			key string
			v   int64
		}{{"max_message_size", l.MaxMessageSize}, {"max_recipients", int64(l.MaxRecipients)},
			{"max_errors", int64(l.MaxErrors)}, {"max_connections", int64(l.MaxConnections)},
			{"max_connections_per_ip", int64(l.MaxConnectionsPerIP)}} {
			if n.v < 0 {
				bad("%s: %s %d must be positive", where, n.key, n.v)
			}
		}
		if l.MaxDataLineLength < 0 || l.MinDataRate < 0 || l.MaxCommands < 0 {
			bad("%s: max_data_line_length, min_data_rate and max_commands must be positive", where)
		} else if l.MaxDataLineLength < 1000 {
			bad("%s: max_data_line_length %d is below RFC 5321's 1000", where, l.MaxDataLineLength)
		}
		if l.StressIdleTimeout.Duration > l.IdleTimeout.Duration {
			bad("%s: stress_idle_timeout %s is longer than idle_timeout %s", where, l.StressIdleTimeout.Duration, l.IdleTimeout.Duration)
		}
		if l.MaxLineLength < 512 {
			bad("%s: max_line_length %d is below RFC 5321's 512", where, l.MaxLineLength)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// Bounds of [event_log]: a smaller file would rotate every few hundred
// events, a smaller reserve holds too few errors to be worth it, and more
// rotated files than Read walks would never be read.
const (
	minEventLogSize    = 64 << 10
	minEventLogReserve = 64 << 10
	maxEventLogReserve = 1 << 30
	maxEventLogKeep    = 1000
	minEventLogAge     = time.Minute
)

func (c *Config) validateEventLog(bad func(string, ...any)) {
	e := c.EventLog
	if e.MaxSize < minEventLogSize {
		bad("event_log.max_size %d is below %d (64 KiB)", e.MaxSize, minEventLogSize)
	}
	if e.MaxAge.Duration < minEventLogAge {
		bad("event_log.max_age %s is below %s", e.MaxAge.Duration, minEventLogAge)
	}
	if e.Keep < 1 || e.Keep > maxEventLogKeep {
		bad("event_log.keep %d: want 1 to %d", e.Keep, maxEventLogKeep)
	}
	if e.RateLimit < 1 {
		bad("event_log.rate_limit %d must be positive", e.RateLimit)
	}
	if e.Reserve < minEventLogReserve || e.Reserve > maxEventLogReserve {
		bad("event_log.reserve %d: want %d (64 KiB) to %d (1 GiB)", e.Reserve, minEventLogReserve, maxEventLogReserve)
	}
}

// RelayPrefixes parses a virtual server's relay networks; a bare address is a /32 or /128.
func (l *VirtualServer) RelayPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, n := range l.RelayNetworks {
		if p, err := netip.ParsePrefix(n); err == nil {
			out = append(out, p.Masked())
		} else if a, err := netip.ParseAddr(n); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}

// validHostPort accepts "host", "host:port" and "[ip]:port".
func validHostPort(v string) bool {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		host, port = strings.Trim(v, "[]"), "25"
	}
	if host == "" || strings.ContainsAny(host, " /") {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n < 65536
}

// boolPtr is a pointer to b, for the boolean keys whose absence means
// their default.
func boolPtr(b bool) *bool { return &b }
