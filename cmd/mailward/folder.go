package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"mailward/admin"
	"mailward/config"
	"mailward/deliver"
	"mailward/diag"
	"mailward/directory"
	"mailward/internal/setup"
	"mailward/queue"
	"mailward/reply"
	"mailward/smtpclient"
)

const folderUsage = `usage: mailward folder status NAME --config FILE [--json]`

// replicaStatus is one replica of a shared folder as folder status
// shows it.
type replicaStatus struct {
	Server string `json:"server"`
	Here   bool   `json:"here,omitempty"`
	// Messages is the replica's message count; nil when its server could
	// not be asked (NotAsked says why).
	Messages *int   `json:"messages"`
	NotAsked string `json:"not_asked,omitempty"`
	// Backlog counts this server's replications of the folder still
	// queued for the replica, with their last error and next retry.
	Backlog   int       `json:"backlog"`
	LastError string    `json:"last_error,omitempty"`
	NextRetry time.Time `json:"next_retry,omitzero"`
}

// folderReport is what folder status prints.
type folderReport struct {
	Folder   string          `json:"folder"`
	Server   string          `json:"server"` // this server
	Replicas []replicaStatus `json:"replicas"`
	// BacklogFrom says where the backlog was read: "queue" (the running
	// server's admin socket) or "spool" (the server is not running).
	BacklogFrom string `json:"backlog_from"`
}

func cmdFolder(args []string) error { return runFolder(os.Stdout, args) }

// runFolder is cmdFolder with its output stream, for tests.
func runFolder(stdout io.Writer, args []string) error {
	if len(args) == 0 || args[0] != "status" {
		return errors.New(folderUsage)
	}
	fs := flag.NewFlagSet("folder status", flag.ContinueOnError)
	path := fs.String("config", "mailward.toml", "configuration file")
	asJSON := fs.Bool("json", false, "print JSON")
	timeout := fs.Duration("timeout", 30*time.Second, "wait per reply of a replica server")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New(folderUsage)
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	st, err := setup.Build(cfg)
	if err != nil {
		return err
	}
	org := st.Org.Dir
	f, ok := org.Folder(pos[0])
	if !ok {
		return fmt.Errorf("folder status: %s is not a shared folder of the organization", pos[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep := folderReport{Folder: f.Address, Server: cfg.Organization.Self, BacklogFrom: "queue"}
	views, err := replicationQueue(ctx, cfg)
	if err != nil {
		return err
	}
	if views.spool {
		rep.BacklogFrom = "spool"
	}
	md := deliver.NewMaildir(cfg.MailboxDir(), cfg.Server.FQDN)
	for _, s := range f.Replicas {
		rs := replicaStatus{Server: s, Here: s == cfg.Organization.Self}
		var n int
		var err error
		if rs.Here {
			n, err = md.Count(f.Address)
		} else {
			n, err = askReplica(ctx, st.Remote, cfg.Server.FQDN, s, f.Address, *timeout)
		}
		if err != nil {
			rs.NotAsked = err.Error()
		} else {
			rs.Messages = &n
		}
		backlog(&rs, org, f.Address, views.msgs)
		rep.Replicas = append(rep.Replicas, rs)
	}
	if *asJSON {
		e := json.NewEncoder(stdout)
		e.SetIndent("", "  ")
		return e.Encode(rep)
	}
	writeFolderReport(stdout, rep, time.Now())
	return nil
}

type queueViews struct {
	msgs  []queue.View
	spool bool
}

// replicationQueue reads this server's queue: from the running server
// (admin socket), or from the spool when it is not running.
func replicationQueue(ctx context.Context, cfg *config.Config) (queueViews, error) {
	c := admin.Dial(adminSocket(cfg))
	defer c.Close()
	msgs, err := c.Messages(ctx)
	var nr *admin.NotRunningError
	if errors.As(err, &nr) {
		// The report says so (BacklogFrom).
		msgs, err := queue.Inspect(filepath.Join(cfg.Server.DataDir, "queue"))
		return queueViews{msgs: msgs, spool: true}, err
	}
	return queueViews{msgs: msgs}, err
}

// askReplica asks a replica server for its count (X-MWFOLDER), after
// authenticating exactly as delivery to it does.
func askReplica(ctx context.Context, remote *deliver.Remote, helo, server, folder string, timeout time.Duration) (int, error) {
	addr, tls, ok := remote.ServerAddress(server)
	entry, known := remote.OrgPeerByName(server)
	if !ok || !known {
		return 0, fmt.Errorf("%s is not a server of the organization in this server's directory", server)
	}
	return diag.AskFolderCount(ctx, diag.FolderQuery{Addr: addr, HeloName: helo, TLS: tls, Timeout: timeout,
		Authenticate: func(ctx context.Context, c *smtpclient.Conn) (string, reply.Reply, error) {
			return remote.AuthenticateOrg(ctx, c, entry)
		}}, folder)
}

// backlog counts this server's pending replications of folder for the
// replica's server, with the latest last error and the earliest retry.
func backlog(rs *replicaStatus, org *directory.Org, folder string, msgs []queue.View) {
	var last time.Time
	for _, m := range msgs {
		for _, r := range m.Recipients {
			if r.Replica != folder || r.State != "pending" {
				continue
			}
			if e := org.Find(r.Addr); e.Kind != directory.StoreEntry || e.Store.Name != rs.Server {
				continue
			}
			rs.Backlog++
			if r.LastError != "" && !r.Last.Before(last) {
				rs.LastError, last = r.LastError, r.Last
			}
			if !m.NextRetry.IsZero() && (rs.NextRetry.IsZero() || m.NextRetry.Before(rs.NextRetry)) {
				rs.NextRetry = m.NextRetry
			}
		}
	}
}

// writeFolderReport prints one line per replica and, indented under
// it, why it was not asked, its backlog's last error and next retry.
func writeFolderReport(w io.Writer, rep folderReport, now time.Time) {
	var names []string
	for _, r := range rep.Replicas {
		names = append(names, r.Server)
	}
	fmt.Fprintf(w, "shared folder %s: replicas %s (this server: %s)\n", rep.Folder, strings.Join(names, ", "), rep.Server)
	fmt.Fprintf(w, "%-10s %8s %8s\n", "REPLICA", "MESSAGES", "BACKLOG")
	o := &queueOut{now: now}
	for _, r := range rep.Replicas {
		count, name, bl := "?", r.Server, fmt.Sprint(r.Backlog)
		if r.Messages != nil {
			count = fmt.Sprint(*r.Messages)
		}
		if r.Here {
			name, bl = r.Server+" (here)", "-"
		}
		fmt.Fprintf(w, "%-10s %8s %8s\n", name, count, bl)
		if r.NotAsked != "" {
			fmt.Fprintf(w, "    not asked: %s\n", r.NotAsked)
		}
		if r.LastError != "" {
			fmt.Fprintf(w, "    last error: %s\n", r.LastError)
		}
		if !r.NextRetry.IsZero() {
			fmt.Fprintf(w, "    next retry: %s\n", o.when(r.NextRetry))
		}
	}
	if rep.BacklogFrom == "spool" {
		fmt.Fprintln(w, "(the server is not running: the backlog was read from the spool)")
	}
}
