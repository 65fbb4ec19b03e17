package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"mailward/config"
	"mailward/internal/setup"
	"mailward/track"
)

const trackUsage = `mailward track: follow messages through the event logs (docs/tracking.md)

Usage:
  mailward track [--id Q] [--message-id M] [--from A] [--to A] [--since T] [--until T]
                 [--json] [--log [NAME=]FILE ...] [--config FILE]

Reads this server's event log (the data_dir of --config) and the event log
of every other server given with --log (a copy of its events.log; its
rotated files events.log.1 ... beside it are read too), finds the messages
that match all the filters given, and prints each one's path in time order:
received, categorized (expanded, forwarded, journaled), queued for which
delivery queue, each attempt, delivered or failed, the non-delivery report.
A message is followed from server to server by its Message-ID and by the
queue ID the next server's reply gave it.

  --id Q           a queue ID of the message, on any of the servers
  --message-id M   its Message-ID (with or without <>)
  --from A         its envelope sender
  --to A           one of its recipients (addressed, or a group's member)
  --since T        a step at or after T: RFC 3339 time or a duration ago (1h)
  --until T        a step at or before T
  --json           the stories as JSON
  --log [NAME=]FILE  another server's event log; NAME labels it (default:
                   the fqdn of its last start event, 1000)
  --config FILE    this server's configuration (default mailward.toml; not
                   needed with --log)

Exit status: 0 when a message matched, 1 when none did, 2 on bad usage.
`

type logFlags []string

func (l *logFlags) String() string     { return strings.Join(*l, ",") }
func (l *logFlags) Set(v string) error { *l = append(*l, v); return nil }

func cmdTrack(args []string) error {
	fs := flag.NewFlagSet("track", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, trackUsage) }
	cfgPath := fs.String("config", "", "this server's configuration file")
	var q track.Query
	fs.StringVar(&q.QueueID, "id", "", "queue ID")
	fs.StringVar(&q.MessageID, "message-id", "", "Message-ID")
	fs.StringVar(&q.From, "from", "", "envelope sender")
	fs.StringVar(&q.To, "to", "", "recipient")
	since := fs.String("since", "", "from this time")
	until := fs.String("until", "", "to this time")
	asJSON := fs.Bool("json", false, "JSON output")
	var logs logFlags
	fs.Var(&logs, "log", "another server's event log, [NAME=]FILE")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitError{2, "track: " + err.Error()}
	}
	if fs.NArg() > 0 {
		return exitError{2, fmt.Sprintf("track: unexpected argument %q (see mailward track --help)", fs.Arg(0))}
	}
	now := time.Now()
	var err error
	if q.Since, err = track.ParseTime(*since, now); err != nil {
		return exitError{2, "track: --since " + err.Error()}
	}
	if q.Until, err = track.ParseTime(*until, now); err != nil {
		return exitError{2, "track: --until " + err.Error()}
	}
	var all []track.Log
	if path, ok := trackConfig(*cfgPath, len(logs) > 0); ok {
		cfg, err := config.Load(path)
		if err != nil {
			return err
		}
		if levels, err := setup.Levels(cfg); err == nil {
			if low := track.Unwritten(levels); len(low) > 0 {
				fmt.Fprintf(os.Stderr, "mailward track: warning: diagnostics of %s are below minimum in %s: those steps are not in the event log\n",
					strings.Join(low, ", "), path)
			}
		}
		l, err := track.Load("", setup.EventLogPath(cfg))
		if err != nil {
			return err
		}
		all = append(all, l)
	}
	for _, spec := range logs {
		name, file, ok := strings.Cut(spec, "=")
		if !ok {
			name, file = "", spec
		}
		l, err := track.Load(name, file)
		if err != nil {
			return err
		}
		all = append(all, l)
	}
	stories := track.Find(all, q)
	if *asJSON {
		err = track.WriteJSON(os.Stdout, stories)
	} else {
		err = track.WriteText(os.Stdout, stories)
	}
	if err != nil {
		return err
	}
	if len(stories) == 0 {
		return exitError{1, "track: no message matches"}
	}
	return nil
}

// trackConfig is the configuration to read this server's log from: the
// one named, or mailward.toml when it exists or no --log was given.
func trackConfig(named string, haveLogs bool) (string, bool) {
	if named != "" {
		return named, true
	}
	if _, err := os.Stat("mailward.toml"); err == nil || !haveLogs || !errors.Is(err, fs.ErrNotExist) {
		return "mailward.toml", true
	}
	return "", false
}
