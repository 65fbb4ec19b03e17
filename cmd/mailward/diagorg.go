package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"mailward/config"
	"mailward/diag"
	"mailward/directory"
	"mailward/internal/setup"
	"mailward/internal/setup/diagweb"
)

// cmdDiagOrg runs the organization diagnostics the support articles (KB843106, KB979174, KB304897) have
// administrators do by hand: setspn -L / -X, the FQDN check, the clock
// check and the step-by-step authentication test.
func cmdDiagOrg(check string, args []string) error {
	fs := flag.NewFlagSet("diag "+check, flag.ContinueOnError)
	path := fs.String("config", "mailward.toml", "configuration file")
	server := fs.String("server", "", "diag spn: only this server")
	dups := fs.Bool("duplicates", false, "diag spn: search the whole directory for duplicate SPNs")
	rcpt := fs.String("rcpt", "postmaster", "diag auth: a recipient the peer accepts")
	timeout := fs.Duration("timeout", 30*time.Second, "wait per reply")
	peerConfig := fs.String("peer-config", "", "diag auth: the peer's configuration, to compare its directory with this server's (replication lag)")
	// The peer ("host:port") may come before or after the flags.
	var peer string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		peer, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if peer == "" && fs.NArg() > 0 {
		peer = fs.Arg(0)
	}
	if check == "clock" {
		return diagClock(peer, *timeout)
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	org, err := setup.OrgDirectory(cfg)
	if err != nil && check == "auth" && peer != "" && errors.Is(err, directory.ErrUnavailable) {
		// The check cannot start; say why in its own terms.
		diag.WriteAuthReport(os.Stdout, []diag.AuthStep{diag.DirectoryUnavailableStep(err)})
		return exitError{1, "the organization path to " + peer + " fails (see the first FAIL)"}
	}
	if err != nil {
		return err
	}
	switch check {
	case "spn":
		holders, err := diagweb.SPNHolders(cfg, org)
		if err != nil {
			return err
		}
		if *dups {
			if n := diag.WriteDuplicateSPNs(os.Stdout, org.Name, holders); n > 0 {
				return exitError{1, fmt.Sprintf("%d group(s) of duplicate SPNs: Kerberos authentication to those names fails", n)}
			}
			return nil
		}
		n, err := diag.WriteSPNReport(os.Stdout, org, holders, *server)
		if err != nil {
			return err
		}
		if n > 0 {
			return exitError{1, fmt.Sprintf("%d SPN problem(s)", n)}
		}
	case "fqdn":
		names := diag.Names{Outbound: cfg.Server.FQDN, Self: cfg.Organization.Self}
		for _, l := range cfg.VirtualServers {
			names.VirtualServers = append(names.VirtualServers, diag.VirtualServerName{Name: l.Name, FQDN: l.FQDN})
		}
		if n := diag.WriteFQDNReport(os.Stdout, names, org); n > 0 {
			return exitError{1, fmt.Sprintf("%d FQDN problem(s)", n)}
		}
	case "auth":
		if peer == "" {
			return fmt.Errorf("diag auth: name the peer: mailward diag auth host:port --config FILE")
		}
		return diagAuth(cfg, org, peer, *peerConfig, *rcpt, *timeout)
	}
	return nil
}

// diagClock compares the peer's clock, read from its greeting, with ours.
func diagClock(peer string, timeout time.Duration) error {
	if peer == "" {
		return fmt.Errorf("diag clock: name the peer: mailward diag clock host:port")
	}
	c, err := net.DialTimeout("tcp", peer, timeout)
	if err != nil {
		return fmt.Errorf("diag clock: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	sent := time.Now()
	if err != nil {
		return fmt.Errorf("diag clock: reading the greeting: %w", err)
	}
	greeting := strings.TrimSpace(string(buf[:n]))
	fmt.Fprintf(c, "QUIT\r\n")
	t, ok := diag.ParseGreetingTime(greeting)
	if !ok {
		return fmt.Errorf("diag clock: the greeting %q carries no date to compare", greeting)
	}
	skew := sent.Sub(t)
	fmt.Printf("peer %s: %s\nlocal: %s\nskew: %s (Kerberos tolerates %s)\n", peer, t.Format(time.RFC1123Z),
		sent.UTC().Format(time.RFC1123Z), skew.Round(time.Second), diag.MaxClockSkew)
	if skew < 0 {
		skew = -skew
	}
	if skew > diag.MaxClockSkew {
		return exitError{1, "clock skew over 5 minutes: Kerberos authentication between these servers fails (KRB_AP_ERR_SKEW)"}
	}
	return nil
}
