package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"mailward/config"
	"mailward/diag"
	"mailward/events"
	"mailward/internal/setup"
	"mailward/track"
)

func cmdConfig(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("config: want 'check' or 'hash-password'")
	}
	switch args[0] {
	case "check":
		fs := flag.NewFlagSet("config check", flag.ContinueOnError)
		path := fs.String("config", "mailward.toml", "configuration file")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		cfg, err := config.Load(*path)
		if err != nil {
			return err
		}
		// Build what serve builds (the organization with its password
		// file and keytab, a configured certificate), so that a
		// configuration check approves only what serve will run.
		st, err := setup.Build(cfg)
		if err != nil {
			return err
		}
		for _, w := range st.Org.Warnings {
			fmt.Printf("warning: organization: %s\n", w)
		}
		org := st.Org.Dir
		// The recipients this server serves: its own, and the
		// organization's (docs/categorizer.md), a domain counted once.
		domains := map[string]bool{}
		for _, d := range cfg.Domains {
			domains[strings.ToLower(d.Name)] = true
		}
		if len(org.Servers) > 0 {
			for _, d := range org.Domains {
				domains[strings.ToLower(d.Name)] = true
			}
		}
		fmt.Printf("%s: OK (fqdn %s, %d domain(s), %d mailbox(es), %d distribution group(s), %d virtual server(s), %d organization server(s))\n",
			*path, cfg.Server.FQDN, len(domains), len(cfg.Mailboxes)+len(org.Mailboxes), len(org.DistGroups),
			len(cfg.VirtualServers), len(org.Servers))
		if l := cfg.Organization.LDAP; cfg.Organization.Directory == config.OrgDirectoryLDAP {
			// Where the directory just read came from, and how fresh a
			// running server keeps it (docs/directory.md).
			fmt.Printf("  organization directory: %s under %s (bind %s), read every %s, the last copy serving %s into an outage\n",
				l.URL, l.BaseDN, l.Bind, l.CacheTTL.Duration, l.StaleTTL.Duration)
		}
		for _, l := range cfg.VirtualServers {
			relay := "nobody may relay"
			switch {
			case l.RelayAuthenticated && len(l.RelayNetworks) > 0:
				relay = "authenticated users and " + strings.Join(l.RelayNetworks, ",") + " may relay"
			case l.RelayAuthenticated:
				relay = "authenticated users may relay"
			case len(l.RelayNetworks) > 0:
				relay = strings.Join(l.RelayNetworks, ",") + " may relay"
			}
			fmt.Printf("  %s on %s: tls %s, auth [%s], %s\n", l.Name, l.Address, l.TLS, strings.Join(l.Auth, " "), relay)
		}
		if f := cfg.ContentFilter; f != nil {
			// What a message from outside meets after its last octet
			// (docs/filtering.md); 10 turns a threshold off.
			never := func(n int) string {
				if n >= 10 {
					return "never"
				}
				return fmt.Sprintf("SCL %d and up", n)
			}
			fmt.Printf("  content filter: rspamd at %s (timeout %s, on failure %s); refused: %s; Junk: %s\n",
				f.RspamdURL, f.Timeout.Duration, f.OnFailure, never(f.GatewayThreshold), never(f.StoreThreshold))
		}
		if a := cfg.Metrics.Address; a != "" {
			fmt.Printf("  metrics: http://%s/metrics (docs/metrics.md)\n", a)
		}
		if w := cfg.WebAdmin; w.Enabled() {
			scheme := map[bool]string{false: "http", true: "https"}[w.TLS()]
			fmt.Printf("  web administration: %s://%s/ (%d administrator(s); docs/web-admin.md)\n", scheme, w.Address, len(w.Users))
		}
		return nil
	case "hash-password":
		fmt.Fprintln(os.Stderr, "password (one line on standard input):")
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("hash-password: no password on standard input")
		}
		h, err := bcrypt.GenerateFromPassword([]byte(strings.TrimRight(line, "\r\n")), bcrypt.DefaultCost)
		if err != nil {
			return err
		}
		fmt.Println(string(h))
		return nil
	}
	return fmt.Errorf("config: unknown subcommand %q", args[0])
}

func cmdEvents(args []string) error {
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	path := fs.String("config", "mailward.toml", "configuration file")
	id := fs.Int("id", 0, "only this event ID")
	since := fs.String("since", "", "only events after this time (RFC 3339) or this long ago (e.g. 1h)")
	asJSON := fs.Bool("json", false, "print the raw JSON records")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	after, err := track.ParseTime(*since, time.Now())
	if err != nil {
		return fmt.Errorf("events: --since %q: want a duration (1h) or an RFC 3339 time", *since)
	}
	recs, err := events.Read(setup.EventLogPath(cfg), events.Filter{ID: *id, Since: after})
	if err != nil {
		return err
	}
	for _, r := range recs {
		if *asJSON {
			b, _ := json.Marshal(r)
			fmt.Println(string(b))
			continue
		}
		fmt.Printf("%s  %5d  %-11s %-13s %s\n", r.Time.Local().Format(time.RFC3339), r.ID, r.Severity, r.Category, r.Message)
	}
	return nil
}

func cmdDiag(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("diag: want relay, spn, fqdn, clock or auth")
	}
	switch args[0] {
	case "spn", "fqdn", "clock", "auth":
		return cmdDiagOrg(args[0], args[1:])
	case "relay":
	default:
		return fmt.Errorf("diag: unknown check %q: want relay, spn, fqdn, clock or auth", args[0])
	}
	fs := flag.NewFlagSet("diag relay", flag.ContinueOnError)
	var o diag.RelayOptions
	fs.StringVar(&o.Host, "host", "127.0.0.1", "server to test")
	fs.StringVar(&o.Port, "port", "25", "its port")
	fs.StringVar(&o.Helo, "helo", "", "EHLO name to use")
	fs.StringVar(&o.LocalDomain, "local-domain", "", "a domain the server accepts mail for (default: from its greeting)")
	fs.StringVar(&o.RemoteDomain, "remote-domain", "", "a domain that is not the server's (default relay-test.invalid)")
	fs.DurationVar(&o.Timeout, "timeout", 30*time.Second, "wait per reply (servers may tarpit)")
	fs.BoolVar(&o.StartTLS, "starttls", false, "use STARTTLS when offered")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rs, err := diag.RunRelayTests(ctx, o)
	if err != nil {
		return err
	}
	diag.WriteRelayReport(os.Stdout, rs)
	if diag.Relayed(rs) {
		return exitError{3, "the server RELAYED at least one test message: it is an open relay"}
	}
	return nil
}
