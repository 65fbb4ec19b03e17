// Package diagweb builds, from the configuration and the stages of
// package setup, what runs the organization diagnostics: the accounts
// diag spn checks, the options of diag auth, and the web administration
// (package webadmin), whose Organization page runs both. It is apart
// from setup because package diag's tests build through setup: setup
// itself must not import diag.
package diagweb

import (
	"context"
	"fmt"
	"net"
	"time"

	"mailward/admin"
	"mailward/config"
	"mailward/diag"
	"mailward/directory"
	"mailward/internal/setup"
	"mailward/reply"
	"mailward/smtpclient"
	"mailward/webadmin"
)

// DiagAuthOptions are the options of diag auth against peer
// ("host:port"): it authenticates exactly as delivery would, with the
// same stages (the peer's directory entry picks LOGIN or Kerberos, with
// this server's credentials). `mailward diag auth` and the web
// administration's Organization page both run it.
func DiagAuthOptions(s *setup.Stages, peer, rcpt string, timeout time.Duration) diag.AuthOptions {
	o := diag.AuthOptions{Addr: peer, HeloName: s.Config.Server.FQDN, Rcpt: rcpt, Timeout: timeout}
	remote := s.Remote
	host, _, _ := net.SplitHostPort(peer)
	o.Authenticate = func(ctx context.Context, c *smtpclient.Conn) (string, reply.Reply, error) {
		entry, ok := remote.OrgPeer(host, peer)
		if !ok {
			return "", reply.Reply{}, fmt.Errorf("%s is not a server of the organization in this server's directory (by name or address)", peer)
		}
		return remote.AuthenticateOrg(ctx, c, entry)
	}
	return o
}

// WebAdmin is the web administration ([web_admin], docs/web-admin.md)
// over the opened stages and the queue viewer q; it is served with
// s.WebAdminTLS (nil: plain HTTP, on loopback only, as config.Load
// checks). It is nil when [web_admin] has no address.
func WebAdmin(s *setup.Stages, q *admin.Server) *webadmin.Server {
	cfg := s.Config
	w := cfg.WebAdmin
	if !w.Enabled() {
		return nil
	}
	users := map[string]string{}
	for _, u := range w.Users {
		users[u.Name] = u.PasswordHash
	}
	o := webadmin.Options{Users: users, SessionTimeout: w.SessionTimeout.Duration, LoginFailures: w.LoginFailures,
		LoginLockout: w.LoginLockout.Duration, Queue: q, Events: s.Events, EventLogPath: setup.EventLogPath(cfg),
		Categories: config.Categories, FQDN: cfg.Server.FQDN, RemotePort: cfg.Delivery.RemotePort}
	if s.Org.Trust != nil || cfg.Organization.Directory == config.OrgDirectoryLDAP {
		// Read at each look, as diag spn reads it: the page shows the
		// directory as it is now.
		o.Org = func() (*directory.Org, []diag.SPNHolder, error) {
			org, err := setup.OrgDirectory(cfg)
			if err != nil {
				return nil, nil, err
			}
			holders, err := SPNHolders(cfg, org)
			return org, holders, err
		}
		o.DiagAuth = func(ctx context.Context, addr, rcpt string) []diag.AuthStep {
			return diag.RunAuthCheck(ctx, DiagAuthOptions(s, addr, rcpt, 15*time.Second))
		}
	}
	return webadmin.New(o)
}
