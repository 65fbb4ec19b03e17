// Command mailward is the mail transfer agent and its tools. This file
// and its siblings only parse flags and wire the packages together.
package main

import (
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

const usage = `mailward: a mail transfer agent for an organization

Usage:
  mailward serve   --config FILE          run the server
  mailward config  check --config FILE    validate a configuration
  mailward config  hash-password          read a password on stdin, print its bcrypt hash
  mailward queue   list|show Q|retry Q|suspend Q|resume Q|delete ID [--ndr] --config FILE [--json]
                                          the queue viewer (mailward queue help)
  mailward reload  --config FILE [--json] apply the configuration file again without a restart
                                          (as SIGHUP; prints the refusal and exits 1 if it is invalid)
  mailward events  --config FILE [--id N] [--since 1h|2026-01-02T15:04:05Z]
  mailward track   [--id Q] [--message-id M] [--from A] [--to A] [--since T] [--until T] [--json]
                   [--log [NAME=]FILE ...] [--config FILE]
                                          follow messages through the event logs (mailward track --help)
  mailward directory resolve ADDRESS --config FILE [--sender S [--authenticated]] [--show-hidden] [--json]
                                          how an address resolves: mailboxes, groups, alternates, restrictions
  mailward directory import FILE.toml --config FILE
                                          write an organization file into the LDAP directory (add or update)
  mailward directory export --config FILE [--format toml|ldif]
                                          the LDAP directory as an organization file or as LDIF
  mailward folder  status NAME --config FILE [--json]
                                          a shared folder's replicas: their counts, the replication backlog
  mailward diag    relay --host H --port P [--local-domain D]
  mailward diag    spn [--server S] [--duplicates] --config FILE
  mailward diag    fqdn --config FILE
  mailward diag    clock HOST:PORT
  mailward diag    auth HOST:PORT --config FILE [--rcpt ADDR] [--peer-config FILE]
  mailward version
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(args)
	case "config":
		err = cmdConfig(args)
	case "queue":
		err = cmdQueue(args)
	case "reload":
		err = cmdReload(args)
	case "events":
		err = cmdEvents(args)
	case "track":
		err = cmdTrack(args)
	case "diag":
		err = cmdDiag(args)
	case "directory":
		err = cmdDirectory(args)
	case "folder":
		err = cmdFolder(args)
	case "version", "--version":
		fmt.Println("mailward", version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "mailward: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mailward:", err)
		if e, ok := err.(exitError); ok {
			os.Exit(e.code)
		}
		os.Exit(1)
	}
}

// exitError carries a specific exit status (e.g. diag relay: 3 = relayed).
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }
