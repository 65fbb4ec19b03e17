// Package setup turns a loaded configuration into mailward's stages: the
// one place where configuration tables and words become the plain values
// and interfaces each stage takes. `mailward serve`, `mailward config
// check` and the diagnostics all build through it, so that what `config
// check` approves is what `serve` runs (docs/configuration.md).
package setup

import (
	"os"
	"slices"
	"strings"
	"time"

	"mailward/config"
	"mailward/deliver"
	"mailward/directory"
	"mailward/policy"
	"mailward/smtp"
	"mailward/smtpclient"
)

// Directory is the local directory: the [[domain]]s, the [[mailbox]]es
// and the recipients file.
func Directory(cfg *config.Config) *directory.Directory {
	return directory.New(domainNames(cfg), mailboxes(cfg), cfg.Directory.File)
}

func domainNames(cfg *config.Config) []string {
	var out []string
	for _, d := range cfg.Domains {
		out = append(out, d.Name)
	}
	return out
}

func mailboxes(cfg *config.Config) []directory.Mailbox {
	var out []directory.Mailbox
	for _, m := range cfg.Mailboxes {
		out = append(out, directory.Mailbox{Address: m.Address, PasswordHash: m.PasswordHash})
	}
	return out
}

// Policy is the recipient policy of the [[domain]]s (and the
// organization's domains, org may be nil) over dir.
func Policy(cfg *config.Config, dir policy.Directory, org *directory.Org) *policy.Policy {
	return policy.New(cfg.Server.DefaultDomain, policyDomains(cfg, org), dir)
}

// policyDomains are the recipient settings per domain: each [[domain]]'s,
// and for a domain of the organization the defaults (filtering on, the
// default tarpits): its recipients are in the directory.
func policyDomains(cfg *config.Config, org *directory.Org) map[string]policy.Domain {
	domains := map[string]policy.Domain{}
	if org != nil {
		for _, d := range org.Domains {
			domains[d.Name] = policy.Domain{RecipientFiltering: true, Tarpit: config.DefaultTarpit, TarpitMax: config.DefaultTarpitMax}
		}
	}
	for _, d := range cfg.Domains {
		// applyDefaults gives every domain its filtering and tarpits.
		domains[d.Name] = policy.Domain{RecipientFiltering: *d.RecipientFiltering,
			Tarpit: d.Tarpit.Duration, TarpitMax: d.TarpitMax.Duration}
	}
	return domains
}

// VirtualServerSettings are the settings of one [[virtual_server]] of cfg.
func VirtualServerSettings(cfg *config.Config, l config.VirtualServer) smtp.Settings {
	return smtp.Settings{
		Name: l.Name, FQDN: l.FQDN, RequireTLS: l.TLS == config.VirtualServerTLSRequired,
		Auth: l.Auth, AuthPlaintext: l.AuthPlaintext, OrgAuth: l.OrgAuth,
		OrgAuthEveryone:     l.OrgAuthOffer == config.OrgAuthOfferEveryone,
		DirectoryReplicated: cfg.Organization.Directory == config.OrgDirectoryLDAP,
		Relay:               policy.Rules{RelayAuthenticated: l.RelayAuthenticated, RelayNetworks: l.RelayPrefixes()},
		NormalizeBareLF:     l.BareLF == config.BareLFNormalize,
		Chunking:            *l.Chunking,
		Limits: smtp.Limits{
			MaxMessageSize: l.MaxMessageSize, MaxRecipients: l.MaxRecipients, MaxLineLength: l.MaxLineLength,
			MaxDataLineLength: l.MaxDataLineLength, MaxHops: cfg.Server.MaxHops, MaxErrors: l.MaxErrors,
			IdleTimeout: l.IdleTimeout.Duration, StressIdleTimeout: l.StressIdleTimeout.Duration,
			MinDataRate: l.MinDataRate, MaxSessionTime: l.MaxSessionDuration.Duration, MaxCommands: l.MaxCommands,
			MaxConnections: l.MaxConnections, MaxConnectionsPerIP: l.MaxConnectionsPerIP,
			AuthFailureDelay: l.AuthFailureDelay.Duration,
		},
	}
}

// AuthGuard is the one memory of failed logins that every virtual server of
// the server shares ([auth_limits]).
func AuthGuard(cfg *config.Config) *smtp.AuthGuard {
	a := cfg.AuthLimits
	return smtp.NewAuthGuard(smtp.AuthLimits{PerIP: max(a.FailuresPerIP, 0), PerAccount: max(a.FailuresPerAccount, 0),
		Window: a.Window.Duration, Lockout: a.Lockout.Duration})
}

// TLSPolicy is the client's STARTTLS policy for a delivery.tls word.
func TLSPolicy(v config.DeliveryTLS) smtpclient.TLSPolicy {
	switch v {
	case config.DeliveryTLSRequired:
		return smtpclient.TLSRequired
	case config.DeliveryTLSNone:
		return smtpclient.TLSNone
	}
	return smtpclient.TLSOpportunistic
}

// Remote is remote delivery from [delivery], [dns] and [[route]].
func Remote(cfg *config.Config, hops *deliver.Hops) *deliver.Remote {
	r := &deliver.Remote{Resolver: deliver.NewResolver(cfg.DNS.Server), HeloName: cfg.Server.FQDN,
		Port: cfg.Delivery.RemotePort, MaxPerDestination: cfg.Delivery.MaxPerDestination, Hops: hops,
		Default:  deliver.Route{SmartHost: cfg.Delivery.SmartHost, TLS: TLSPolicy(cfg.Delivery.TLS)},
		Routes:   map[string]deliver.Route{},
		Timeouts: smtpclient.Timeouts{Connect: cfg.Delivery.ConnectTimeout.Duration},
		// On by default even without an [organization]: a server that
		// knows no organization has nobody to send properties to.
		SuppressExternal: *cfg.Organization.SuppressExternal,
		NoChunking:       !*cfg.Delivery.Chunking}
	for _, rt := range cfg.Routes {
		r.Routes[rt.Domain] = deliver.Route{SmartHost: rt.SmartHost, TLS: TLSPolicy(rt.TLS)}
	}
	// What this server is, so that a next hop that is this server is
	// seen as the loop it is (deliver/loop.go).
	r.LocalNames = []string{cfg.Server.FQDN}
	for _, l := range cfg.VirtualServers {
		if !slices.Contains(r.LocalNames, l.FQDN) {
			r.LocalNames = append(r.LocalNames, l.FQDN)
		}
		r.LocalAddrs = append(r.LocalAddrs, l.Address)
	}
	return r
}

// RetrySchedule is [queue] retry_schedule as durations.
func RetrySchedule(cfg *config.Config) []time.Duration {
	var sched []time.Duration
	for _, d := range cfg.Queue.RetrySchedule {
		sched = append(sched, d.Duration)
	}
	return sched
}

// krb5Conf is the Kerberos configuration file to read: organization.
// krb5_conf, else what MIT's library would read.
func krb5Conf(cfg *config.Config) string {
	if p := cfg.Organization.Krb5Conf; p != "" {
		return p
	}
	// gokrb5 reads no environment: do what MIT's library does.
	// (KRB5_CONFIG may list several files; gokrb5 reads one.)
	if p, _, _ := strings.Cut(os.Getenv("KRB5_CONFIG"), ":"); p != "" {
		return p
	}
	return "/etc/krb5.conf"
}
