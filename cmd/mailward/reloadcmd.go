package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"mailward/admin"
	"mailward/config"
	"mailward/internal/setup"
)

const reloadUsage = `usage: mailward reload [--config FILE] [--json]
  asks the running server to read FILE (the file it was started with) again,
  through its admin socket, as SIGHUP does; prints what it applied and what
  needs a restart. A file that does not load or validate is refused: the
  server keeps its configuration, and the command prints why and exits 1.`

func cmdReload(args []string) error { return runReload(os.Stdout, os.Stderr, args) }

// runReload is cmdReload with its output streams, for tests.
func runReload(stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, reloadUsage) }
	path := fs.String("config", "mailward.toml", "configuration file")
	asJSON := fs.Bool("json", false, "print the answer as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("reload: unexpected argument %q\n%s", fs.Arg(0), reloadUsage)
	}
	// The socket is found from data_dir even when the file no longer
	// validates: the server then refuses it and says why (event 1004).
	dir, err := config.DataDirOf(*path)
	if err != nil {
		return fmt.Errorf("%w\n(not sent to the server: the file is not TOML; the running configuration is unchanged)", err)
	}
	c := admin.Dial(setup.AdminSocket(&config.Config{Server: config.Server{DataDir: dir}}))
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := c.Reload(ctx)
	var nr *admin.NotRunningError
	var ae *admin.AccessError
	switch {
	case errors.As(err, &nr), errors.As(err, &ae):
		return err
	case admin.IsRefused(err):
		return fmt.Errorf("reload refused, the running configuration is kept: %w", err)
	case err != nil:
		return fmt.Errorf("reload: %w", err)
	}
	if *asJSON {
		e := json.NewEncoder(stdout)
		e.SetIndent("", "  ")
		return e.Encode(res)
	}
	fmt.Fprintf(stdout, "reloaded %s\n", res.File)
	fmt.Fprintf(stdout, "applied: %s\n", strings.Join(res.Applied, ", "))
	if len(res.NeedRestart) > 0 {
		fmt.Fprintf(stdout, "changed, but applied only by a restart: %s\n", strings.Join(res.NeedRestart, ", "))
	}
	return nil
}
