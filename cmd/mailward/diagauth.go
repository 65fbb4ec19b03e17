package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"mailward/config"
	"mailward/diag"
	"mailward/directory"
	"mailward/internal/setup"
	"mailward/internal/setup/diagweb"
)

// diagAuth walks the organization path to peer (diag.RunAuthCheck) and,
// with the peer's configuration, compares the two servers' directories
// so that a failure caused by replication lag or by the peer's
// directory being down is named as such (KB979174).
func diagAuth(cfg *config.Config, org *directory.Org, peer, peerConfig, rcpt string, timeout time.Duration) error {
	var view diag.DirectoryView
	if peerConfig != "" {
		var err error
		if view, err = compareDirectories(cfg, org, peerConfig); err != nil {
			return err
		}
	}
	st, err := setup.Build(cfg)
	if err != nil {
		return err
	}
	o := diagweb.DiagAuthOptions(st, peer, rcpt, timeout)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if !diag.WriteAuthReport(os.Stdout, diag.ExplainDirectory(diag.RunAuthCheck(ctx, o), view)) {
		return exitError{1, "the organization path to " + peer + " fails (see the first FAIL)"}
	}
	return nil
}

// compareDirectories reads the peer's directory through its
// configuration (another replica, or the file it reads) and says which
// of the two servers one side does not know yet.
func compareDirectories(cfg *config.Config, org *directory.Org, peerConfig string) (diag.DirectoryView, error) {
	var v diag.DirectoryView
	pcfg, err := config.Load(peerConfig)
	if err != nil {
		return v, fmt.Errorf("--peer-config: %w", err)
	}
	peerName, self := pcfg.Organization.Self, cfg.Organization.Self
	porg, err := setup.OrgDirectory(pcfg)
	if errors.Is(err, directory.ErrUnavailable) {
		v.PeerDirErr = err
		return v, nil
	}
	if err != nil {
		return v, fmt.Errorf("--peer-config %s: %w", peerConfig, err)
	}
	if _, ok := org.ServerByName(peerName); !ok && peerName != "" {
		if _, there := porg.ServerByName(peerName); there {
			v.PeerMissingHere = peerName
		}
	}
	if _, ok := porg.ServerByName(self); !ok && self != "" {
		if _, here := org.ServerByName(self); here {
			v.SelfMissingThere = self
		}
	}
	return v, nil
}
