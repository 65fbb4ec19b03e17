// Command postfixpeer starts and stops a private Postfix instance for the
// benchmark harness (bench/run.sh), reusing internal/peers so that the
// benchmark and the tests measure the same configuration.
//
//	postfixpeer check
//	postfixpeer freeport
//	postfixpeer start [--port N] [--mailbox user] [--domain example.test]
//	                  [--relayhost '[127.0.0.1]:2626'] [--mynetworks CIDR]
//	                  [--alias ADDRESS=MEMBERS_FILE] [--main NAME=VALUE]
//	postfixpeer stop DIR
//
// start leaves Postfix running (master(8) is a daemon) and prints
// key=value lines: dir, port, addr, maildir (the first mailbox's Maildir),
// log. --alias adds a virtual_alias_maps entry expanding ADDRESS into
// the addresses listed in MEMBERS_FILE (one a line); --main sets a
// main.cf parameter (both repeatable).
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"mailward/internal/peers"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "postfixpeer:", err)
		os.Exit(1)
	}
}

func usage() error {
	return fmt.Errorf("usage: postfixpeer check | freeport | start [flags] | stop DIR")
}

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func run(args []string) error {
	if len(args) == 0 {
		return usage()
	}
	switch args[0] {
	case "check":
		return peers.CheckPostfix()
	case "freeport":
		p, err := peers.FreePort()
		if err != nil {
			return err
		}
		fmt.Println(p)
		return nil
	case "stop":
		if len(args) != 2 {
			return usage()
		}
		return peers.StopPostfixDir(args[1])
	case "start":
		fs := flag.NewFlagSet("start", flag.ContinueOnError)
		port := fs.Int("port", 0, "smtpd port on 127.0.0.1 (0: pick a free one)")
		domain := fs.String("domain", "example.test", "virtual mailbox domain")
		hostname := fs.String("hostname", "postfix.test", "myhostname")
		relayhost := fs.String("relayhost", "", "relayhost for non-local mail, e.g. [127.0.0.1]:2626")
		mynetworks := fs.String("mynetworks", "", "clients allowed to relay (default: nobody real)")
		maildir := fs.String("maildir", "", "virtual_mailbox_base (default: inside the instance directory; must be reachable by user nobody)")
		var boxes, aliasFlags, mainFlags list
		fs.Var(&boxes, "mailbox", "local part with a Maildir (repeatable; default user)")
		fs.Var(&aliasFlags, "alias", "ADDRESS=FILE: a virtual alias expanding to the addresses in FILE, one a line (repeatable)")
		fs.Var(&mainFlags, "main", "NAME=VALUE: a main.cf parameter (repeatable)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		aliases, err := readAliases(aliasFlags)
		if err != nil {
			return err
		}
		extra := map[string]string{}
		for _, kv := range mainFlags {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Errorf("--main %q: want NAME=VALUE", kv)
			}
			extra[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
		if fs.NArg() != 0 {
			return usage()
		}
		if len(boxes) == 0 {
			boxes = list{"user"}
		}
		p, err := peers.StartPostfix(peers.PostfixOptions{
			Port:        *port,
			MyHostname:  *hostname,
			MyDomain:    *domain,
			Mailboxes:   boxes,
			MaildirBase: *maildir,
			RelayHost:   *relayhost,
			MyNetworks:  *mynetworks,

			VirtualAliases: aliases,
			ExtraMain:      extra,
		})
		if err != nil {
			return err
		}
		fmt.Printf("dir=%s\nport=%d\naddr=%s\nmaildir=%s\nlog=%s\n", p.Dir, p.Port, p.Addr, p.Maildir(boxes[0]), p.LogFile)
		return nil
	}
	return usage()
}

// readAliases reads the --alias ADDRESS=FILE flags.
func readAliases(flags []string) (map[string][]string, error) {
	aliases := map[string][]string{}
	for _, kv := range flags {
		addr, file, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--alias %q: want ADDRESS=FILE", kv)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		aliases[addr] = append(aliases[addr], strings.Fields(string(b))...)
	}
	return aliases, nil
}
