package setup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"mailward/config"
	"mailward/directory"
	"mailward/directory/ldapdir"
	"mailward/events"
)

// The organization directory in LDAP ([organization] directory = "ldap",
// docs/directory.md): read whole at start, then again every cache_ttl by
// a Snapshot that puts each good copy in force.

// LDAPClient connects to the organization's LDAP directory as the
// configuration says (the bind password from its file).
func LDAPClient(cfg *config.Config) (*ldapdir.Client, error) {
	l := cfg.Organization.LDAP
	var pw string
	if l.Bind == config.LDAPBindSimple {
		b, err := os.ReadFile(l.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("organization.ldap.password_file: %w", err)
		}
		if pw = strings.TrimRight(string(b), "\r\n"); pw == "" {
			return nil, fmt.Errorf("organization.ldap.password_file %s is empty", l.PasswordFile)
		}
	}
	return ldapdir.NewClient(ldapdir.Config{URL: l.URL, CAFile: l.CAFile, CertFile: l.CertFile, KeyFile: l.KeyFile,
		Bind: l.Bind.String(), BindDN: l.BindDN, Password: pw, BaseDN: l.BaseDN, Timeout: l.Timeout.Duration,
		PoolSize: l.PoolSize, Attributes: ldapdir.Attributes(l.Attributes)})
}

// ldapOrg reads the organization once; the client is kept for the
// snapshot.
func ldapOrg(cfg *config.Config) (*directory.Org, *ldapdir.Client, error) {
	c, err := LDAPClient(cfg)
	if err != nil {
		return nil, nil, err
	}
	org, err := c.Load(cfg.Organization.Name)
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("organization directory: %w", err)
	}
	return org, c, nil
}

// judge is the check every organization passes before it is used: at
// start, at a reload, and every copy read from LDAP.
func judge(dir *directory.Org, self string) (errs, warnings []string) {
	errs, warnings = dir.Validate()
	if self != "" {
		if _, ok := dir.ServerByName(self); !ok {
			errs = append(errs, fmt.Sprintf("organization.self %q is not a server of the organization", self))
		}
	}
	return errs, warnings
}

// liveDirectory keeps the LDAP directory's copy fresh while the server
// runs.
type liveDirectory struct {
	snap   *ldapdir.Snapshot
	client *ldapdir.Client
	cfg    atomic.Pointer[config.Config] // for the policy's domains
}

func newLiveDirectory(cfg *config.Config, c *ldapdir.Client) *liveDirectory {
	l := &liveDirectory{client: c}
	l.cfg.Store(cfg)
	oc, lc := cfg.Organization, cfg.Organization.LDAP
	l.snap = &ldapdir.Snapshot{TTL: lc.CacheTTL.Duration, StaleTTL: lc.StaleTTL.Duration,
		Load: func() (*directory.Org, error) { return c.Load(oc.Name) },
		Check: func(o *directory.Org) error {
			if errs, _ := judge(o, oc.Self); len(errs) > 0 {
				return errors.New(strings.Join(errs, "; "))
			}
			return nil
		}}
	l.snap.Start()
	return l
}

// start runs the refreshes: each good copy goes to the trust (and so to
// the recipients, the categorizer and remote delivery, which read it
// there) and its domains to the policy.
func (s *Stages) startLiveDirectory() {
	l := s.Org.Live
	if l == nil || s.Org.Trust == nil {
		return
	}
	l.snap.Apply = func(o *directory.Org) {
		s.Org.Trust.SetOrg(o)
		cfg := l.cfg.Load()
		s.Policy.Replace(cfg.Server.DefaultDomain, policyDomains(cfg, o))
	}
	url := s.Config.Organization.LDAP.URL
	l.snap.Report = func(st ldapdir.State) {
		id := map[string]int{"failing": events.LDAPDirectoryFailing, "expired": events.LDAPDirectoryExpired,
			"recovered": events.LDAPDirectoryRecovered}[st.Kind]
		errText := ""
		if st.Err != nil {
			errText = st.Err.Error()
		}
		s.Events.Emit(id, "url", url, "error", errText, "loaded", st.Loaded.UTC().Format(time.RFC3339),
			"stale_till", st.StaleTill.UTC().Format(time.RFC3339))
	}
	ctx, cancel := context.WithCancel(context.Background())
	go l.snap.Run(ctx)
	s.closers = append(s.closers, func() { cancel(); l.client.Close() })
}
