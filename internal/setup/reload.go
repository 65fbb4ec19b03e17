package setup

import (
	"fmt"
	"reflect"
	"strings"

	"mailward/config"
	"mailward/events"
	"mailward/internal/certs"
)

// Reloaded says what a reload did.
type Reloaded struct {
	// Applied names what now runs with the new configuration.
	Applied []string
	// NeedRestart names the sections that changed but that only a
	// restart applies (docs/configuration.md, "Reloading").
	NeedRestart []string
}

// Reload applies what can change while the server runs (SIGHUP,
// `mailward reload`): the local directory (domains, mailboxes, the
// recipients file), the recipient policy, the organization directory,
// the diagnostic levels, the TLS certificate (renewed, or other files)
// and the virtual servers' settings, which VirtualServers and SMTP then
// give (the caller hands them to the running virtual servers, whose
// sessions in progress keep the settings they started with). cfg must
// be loaded by config.Load; it is checked as at start (Build), and on
// error nothing is changed.
func (s *Stages) Reload(cfg *config.Config) (Reloaded, error) {
	var r Reloaded
	n, err := Build(cfg)
	if err != nil {
		return r, err
	}
	org := n.Org
	if org.Live != nil {
		// The running server keeps its own reader of the directory (its
		// snapshot and pool); the one this reload opened only read it.
		org.Live.client.Close()
	}
	levels, err := Levels(cfg)
	if err != nil {
		return r, err
	}
	newCerts, err := s.nextCertificate(cfg, n.VirtualServers)
	if err != nil {
		return r, err
	}
	// Nothing can fail from here on.
	old := s.Config
	switch {
	case newCerts != nil && s.certs == nil:
		s.certs, s.TLS = newCerts, newCerts.Config()
		r.Applied = append(r.Applied, "TLS certificate")
	case newCerts != nil:
		s.certs.Take(newCerts)
		r.Applied = append(r.Applied, "TLS certificate")
	}
	if s.Org.Live != nil {
		s.Org.Live.cfg.Store(cfg)
	}
	s.Directory.Replace(domainNames(cfg), mailboxes(cfg), cfg.Directory.File)
	s.Policy.Replace(cfg.Server.DefaultDomain, policyDomains(cfg, org.Dir))
	r.Applied = append(r.Applied, "domains and mailboxes", "recipients file", "recipient policy")
	switch {
	case (s.Org.Live == nil) != (org.Live == nil) ||
		(s.Org.Live != nil && !reflect.DeepEqual(old.Organization.LDAP, cfg.Organization.LDAP)):
		r.NeedRestart = append(r.NeedRestart, "organization directory (file or LDAP, [organization.ldap])")
	case s.Org.Trust != nil && org.Trust != nil:
		s.Org.Trust.SetOrg(org.Dir)
		s.Org.Dir, s.Org.Warnings = org.Dir, org.Warnings
		r.Applied = append(r.Applied, "organization directory")
	case (s.Org.Trust == nil) != (org.Trust == nil):
		r.NeedRestart = append(r.NeedRestart, "organization (servers added or all removed)")
	}
	if s.Events != nil {
		s.Events.SetLevels(levels)
		r.Applied = append(r.Applied, "diagnostic levels")
	}
	s.VirtualServers = n.VirtualServers
	s.Remote.SetSelf(n.Remote.LocalNames, n.Remote.LocalAddrs)
	r.Applied = append(r.Applied, "virtual servers (new sessions)")
	for _, l := range n.VirtualServers {
		if l.ProtocolLog && s.ProtoIn == nil {
			r.NeedRestart = append(r.NeedRestart, "protocol_log of virtual server "+l.Settings.Name+" (smtp-in.log is opened at start)")
		}
	}
	r.NeedRestart = append(r.NeedRestart, restartOnly(old, cfg)...)
	s.Config = cfg
	return r, nil
}

// nextCertificate loads the certificate that cfg names, when one of vs
// offers STARTTLS, into a Holder of its own: nil when none does. A file
// that does not load refuses the reload.
func (s *Stages) nextCertificate(cfg *config.Config, vs []VirtualServer) (*certs.Holder, error) {
	for _, l := range vs {
		if l.OffersTLS {
			return certs.NewHolder(cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.Server.DataDir, cfg.Server.FQDN)
		}
	}
	return nil, nil
}

// restartOnly names the sections of the configuration that differ and
// that Reload does not apply.
func restartOnly(old, cfg *config.Config) []string {
	var out []string
	diff := func(name string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			out = append(out, name)
		}
	}
	os, ns := old.Server, cfg.Server
	os.DefaultDomain, ns.DefaultDomain = "", "" // the policy takes it
	diff("[server]", os, ns)
	diff("[log]", old.Log, cfg.Log)
	diff("[event_log]", old.EventLog, cfg.EventLog)
	diff("[metrics]", old.Metrics, cfg.Metrics)
	diff("[web_admin]", old.WebAdmin, cfg.WebAdmin)
	diff("[protocol_log]", old.ProtocolLog, cfg.ProtocolLog)
	diff("[auth_limits]", old.AuthLimits, cfg.AuthLimits)
	diff("[queue]", old.Queue, cfg.Queue)
	diff("[categorizer]", old.Categorizer, cfg.Categorizer)
	diff("[delivery]", old.Delivery, cfg.Delivery)
	diff("[dns]", old.DNS, cfg.DNS)
	diff("[[route]]", old.Routes, cfg.Routes)
	// [[virtual_server]], [[dnsbl]] and the scanning of
	// [content_filter] are the virtual servers' settings: applied. The
	// categorizer's store_threshold is not.
	diff("[content_filter] store_threshold", junkThreshold(old), junkThreshold(cfg))
	o, n := old.Organization, cfg.Organization
	diff("organization credentials (self, password_file, keytab, krb5_conf, realm)",
		[]string{o.Self, o.PasswordFile, o.Keytab, o.Krb5Conf, o.Realm},
		[]string{n.Self, n.PasswordFile, n.Keytab, n.Krb5Conf, n.Realm})
	return out
}

// Levels are the diagnostic levels of the event log.
func Levels(cfg *config.Config) (map[string]events.Level, error) {
	levels := map[string]events.Level{}
	for cat, v := range cfg.Diagnostics {
		l, err := events.ParseLevel(v.String())
		if err != nil {
			return nil, fmt.Errorf("diagnostics.%s: %w", cat, err)
		}
		levels[cat] = l
	}
	return levels, nil
}

// String is the report's one line, for the event.
func (r Reloaded) String() string {
	s := "applied: " + strings.Join(r.Applied, ", ")
	if len(r.NeedRestart) > 0 {
		s += "; changed but applied only by a restart: " + strings.Join(r.NeedRestart, ", ")
	}
	return s
}
