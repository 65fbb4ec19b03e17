package testkit

// The one builder of mailward configuration files in tests: Go values,
// rendered as TOML, instead of TOML text pasted into each test. The
// keys and their meaning are those of docs/configuration.md; a zero
// value leaves its key out, so the server's default applies.

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// Config is a mailward configuration file. [NewConfig] gives the usual
// test server; a test changes what it needs and renders it with TOML.
type Config struct {
	Server         Server            `toml:"server"`
	Diagnostics    map[string]string `toml:"diagnostics,omitempty"` // category = level
	Categorizer    *Categorizer      `toml:"categorizer,omitempty"`
	TLS            *TLSFiles         `toml:"tls,omitempty"`
	Queue          *Queue            `toml:"queue,omitempty"`
	DNS            *DNS              `toml:"dns,omitempty"`
	Delivery       *Delivery         `toml:"delivery,omitempty"`
	Directory      *Directory        `toml:"directory,omitempty"`
	Organization   *Organization     `toml:"organization,omitempty"`
	Domains        []Domain          `toml:"domain,omitempty"`
	Mailboxes      []Mailbox         `toml:"mailbox,omitempty"`
	DNSBLs         []DNSBL           `toml:"dnsbl,omitempty"`
	ContentFilter  *ContentFilter    `toml:"content_filter,omitempty"`
	VirtualServers []VirtualServer   `toml:"virtual_server,omitempty"`
	Routes         []Route           `toml:"route,omitempty"`
	Metrics        *Metrics          `toml:"metrics,omitempty"`
	ProtocolLog    *ProtocolLog      `toml:"protocol_log,omitempty"`
	WebAdmin       *WebAdmin         `toml:"web_admin,omitempty"`
}

// WebAdmin is [web_admin] (docs/web-admin.md).
type WebAdmin struct {
	Address        string         `toml:"address,omitempty"`
	TLSCert        string         `toml:"tls_cert,omitempty"`
	TLSKey         string         `toml:"tls_key,omitempty"`
	SessionTimeout string         `toml:"session_timeout,omitempty"`
	LoginFailures  int            `toml:"login_failures,omitempty"`
	LoginLockout   string         `toml:"login_lockout,omitempty"`
	Users          []WebAdminUser `toml:"user,omitempty"`
}

// WebAdminUser is one [[web_admin.user]].
type WebAdminUser struct {
	Name         string `toml:"name"`
	PasswordHash string `toml:"password_hash"`
}

// ProtocolLog is [protocol_log] (docs/protocol-log.md).
type ProtocolLog struct {
	Directory string `toml:"directory,omitempty"`
	MaxSize   int64  `toml:"max_size,omitempty"`
	MaxAge    string `toml:"max_age,omitempty"`
	MaxFiles  int    `toml:"max_files,omitempty"`
}

// Metrics is [metrics] (docs/metrics.md).
type Metrics struct {
	Address string `toml:"address,omitempty"`
}

// Server is [server].
type Server struct {
	FQDN          string `toml:"fqdn,omitempty"`
	DefaultDomain string `toml:"default_domain,omitempty"`
	DataDir       string `toml:"data_dir,omitempty"`
}

// Categorizer is [categorizer].
type Categorizer struct {
	MaxExpandedRecipients int `toml:"max_expanded_recipients,omitempty"`
	LocalDeliveries       int `toml:"local_deliveries,omitempty"`
}

// TLSFiles is [tls]: the server's certificate and key files.
type TLSFiles struct {
	CertFile string `toml:"cert_file,omitempty"`
	KeyFile  string `toml:"key_file,omitempty"`
}

// Queue is [queue]. Durations are written as in the file ("1s", "1h").
type Queue struct {
	RetrySchedule []string `toml:"retry_schedule,omitempty"`
	Workers       int      `toml:"workers,omitempty"`
	MaxAge        string   `toml:"max_age,omitempty"`
	DelayWarning  string   `toml:"delay_warning,omitempty"`
}

// DNS is [dns].
type DNS struct {
	Server string `toml:"server,omitempty"`
}

// Delivery is [delivery].
type Delivery struct {
	MailboxDir        string `toml:"mailbox_dir,omitempty"`
	ConnectTimeout    string `toml:"connect_timeout,omitempty"`
	RemotePort        int    `toml:"remote_port,omitempty"`
	SmartHost         string `toml:"smart_host,omitempty"`
	MaxPerDestination int    `toml:"max_per_destination,omitempty"`
	Chunking          *bool  `toml:"chunking,omitempty"`
	ProtocolLog       bool   `toml:"protocol_log,omitempty"`
}

// Directory is [directory]: recipients from an external file.
type Directory struct {
	File string `toml:"file,omitempty"`
}

// Organization is [organization].
type Organization struct {
	Name             string `toml:"name,omitempty"`
	Self             string `toml:"self,omitempty"`
	File             string `toml:"file,omitempty"`
	PasswordFile     string `toml:"password_file,omitempty"`
	Keytab           string `toml:"keytab,omitempty"`
	Krb5Conf         string `toml:"krb5_conf,omitempty"`
	Realm            string `toml:"realm,omitempty"`
	SuppressExternal *bool  `toml:"suppress_external,omitempty"`
	// Directory "ldap" reads the entries from LDAP (orgbackend.LDAP sets it).
	Directory string   `toml:"directory,omitempty"`
	LDAP      *OrgLDAP `toml:"ldap,omitempty"`
}

// OrgLDAP is [organization.ldap] (docs/configuration.md).
type OrgLDAP struct {
	URL          string            `toml:"url"`
	CAFile       string            `toml:"ca_file,omitempty"`
	Bind         string            `toml:"bind,omitempty"`
	BindDN       string            `toml:"bind_dn,omitempty"`
	PasswordFile string            `toml:"password_file,omitempty"`
	BaseDN       string            `toml:"base_dn"`
	CacheTTL     string            `toml:"cache_ttl,omitempty"`
	StaleTTL     string            `toml:"stale_ttl,omitempty"`
	Timeout      string            `toml:"timeout,omitempty"`
	PoolSize     int               `toml:"pool_size,omitempty"`
	Attributes   map[string]string `toml:"attributes,omitempty"`
}

// Domain is one [[domain]].
type Domain struct {
	Name               string `toml:"name"`
	RecipientFiltering *bool  `toml:"recipient_filtering,omitempty"`
	Tarpit             string `toml:"tarpit,omitempty"`
}

// Mailbox is one [[mailbox]].
type Mailbox struct {
	Address      string `toml:"address"`
	PasswordHash string `toml:"password_hash,omitempty"`
}

// VirtualServer is one [[virtual_server]]. An empty Address is given a free
// loopback port by [Config.ListenOnFreePorts].
type VirtualServer struct {
	Name                string   `toml:"name"`
	Address             string   `toml:"address"`
	FQDN                string   `toml:"fqdn,omitempty"`
	TLS                 string   `toml:"tls,omitempty"`
	Auth                []string `toml:"auth,omitempty"`
	AuthPlaintext       bool     `toml:"auth_plaintext,omitempty"`
	RelayAuthenticated  bool     `toml:"relay_authenticated,omitempty"`
	AuthFailureDelay    string   `toml:"auth_failure_delay,omitempty"`
	IdleTimeout         string   `toml:"idle_timeout,omitempty"`
	RelayNetworks       []string `toml:"relay_networks,omitempty"`
	OrgAuth             []string `toml:"org_auth,omitempty"`
	ProtocolLog         bool     `toml:"protocol_log,omitempty"`
	MaxMessageSize      int64    `toml:"max_message_size,omitempty"`
	MaxConnections      int      `toml:"max_connections,omitempty"`
	MaxConnectionsPerIP int      `toml:"max_connections_per_ip,omitempty"`
	Chunking            *bool    `toml:"chunking,omitempty"`
	// The filters (docs/filtering.md); nil leaves them off.
	ConnectionFilter *ConnectionFilter `toml:"connection_filter,omitempty"`
	SenderFilter     *SenderFilter     `toml:"sender_filter,omitempty"`
}

// ContentFilter is [content_filter] (rspamd; docs/filtering.md).
type ContentFilter struct {
	RspamdURL        string    `toml:"rspamd_url"`
	Timeout          string    `toml:"timeout,omitempty"`
	OnFailure        string    `toml:"on_failure,omitempty"`
	SCLScores        []float64 `toml:"scl_scores,omitempty"`
	GatewayThreshold int       `toml:"gateway_threshold,omitempty"`
	StoreThreshold   int       `toml:"store_threshold,omitempty"`
	MaxSize          int64     `toml:"max_size,omitempty"`
}

// DNSBL is one [[dnsbl]].
type DNSBL struct {
	Name    string   `toml:"name"`
	Zone    string   `toml:"zone"`
	Codes   []string `toml:"codes,omitempty"`
	Bitmask int      `toml:"bitmask,omitempty"`
	Message string   `toml:"message,omitempty"`
}

// ConnectionFilter is [virtual_server.connection_filter].
type ConnectionFilter struct {
	Deny          []string `toml:"deny,omitempty"`
	Grant         []string `toml:"grant,omitempty"`
	Accept        []string `toml:"accept,omitempty"`
	DNSBL         []string `toml:"dnsbl,omitempty"`
	Exceptions    []string `toml:"exceptions,omitempty"`
	LookupTimeout string   `toml:"lookup_timeout,omitempty"`
	FailOpen      *bool    `toml:"fail_open,omitempty"`
	Message       string   `toml:"message,omitempty"`
}

// SenderFilter is [virtual_server.sender_filter].
type SenderFilter struct {
	Blocked          []string `toml:"blocked,omitempty"`
	RefuseNullSender bool     `toml:"refuse_null_sender,omitempty"`
	Action           string   `toml:"action,omitempty"`
}

// Route is one [[route]].
type Route struct {
	Domain    string `toml:"domain"`
	SmartHost string `toml:"smart_host,omitempty"`
	TLS       string `toml:"tls,omitempty"`
}

// NewConfig is the usual test server: mx1.example.test with its data in
// "data" beside the file, the local domain example.test with a 10 ms
// tarpit (tests need speed), no mailboxes, and one virtual server "default"
// without TLS on a port chosen when the server starts.
func NewConfig() *Config {
	return &Config{
		Server:         Server{FQDN: "mx1.example.test", DefaultDomain: "example.test", DataDir: "data"},
		Domains:        []Domain{{Name: "example.test", Tarpit: "10ms"}},
		VirtualServers: []VirtualServer{{Name: "default", TLS: "none"}},
	}
}

// Mailboxes makes a [[mailbox]] for each address, without a password.
func Mailboxes(addrs ...string) []Mailbox {
	out := make([]Mailbox, len(addrs))
	for i, a := range addrs {
		out[i] = Mailbox{Address: a}
	}
	return out
}

// Bool is a pointer to b, for the keys whose absence means their default
// (recipient_filtering, suppress_external).
func Bool(b bool) *bool { return &b }

// VirtualServer returns the virtual server named name, nil if there is none.
func (c *Config) VirtualServer(name string) *VirtualServer {
	for i := range c.VirtualServers {
		if c.VirtualServers[i].Name == name {
			return &c.VirtualServers[i]
		}
	}
	return nil
}

// ListenOnFreePorts gives every virtual server without an address one on
// 127.0.0.1 with a port that was free a moment ago, a different one for
// each.
func (c *Config) ListenOnFreePorts(t testing.TB) {
	t.Helper()
	used := map[int]bool{}
	for i := range c.VirtualServers {
		if c.VirtualServers[i].Address != "" {
			continue
		}
		port := FreePort(t)
		for try := 0; used[port] && try < 10; try++ {
			port = FreePort(t)
		}
		if used[port] {
			t.Fatalf("no second free port for virtual server %s", c.VirtualServers[i].Name)
		}
		used[port] = true
		c.VirtualServers[i].Address = "127.0.0.1:" + strconv.Itoa(port)
	}
}

// TOML renders the configuration file.
func (c *Config) TOML() string {
	b, err := toml.Marshal(c)
	if err != nil {
		// Only a type go-toml cannot encode fails, and Config has none.
		panic(fmt.Sprintf("testkit: rendering a configuration: %v", err))
	}
	return string(b)
}
