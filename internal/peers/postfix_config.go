package peers

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// masterCF lists only the services a receive-and-deliver (or relay)
// instance needs. tlsmgr(8) is there for instances configured with TLS
// (ExtraMain smtpd_tls_* / smtp_tls_*): without it smtpd and smtp find no
// entropy source and switch TLS off; it is only started on demand. Everything runs unchrooted (column 5 = n): a chroot would
// need copies of /etc files inside the private queue directory.
//
// %s is the smtpd virtual server ("127.0.0.1:PORT").
const masterCF = `# Private Postfix instance written by mailward internal/peers.
# service  type  private unpriv  chroot  wakeup  maxproc command
%s inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`

// writeConfig writes main.cf, master.cf and the virtual mailbox map.
func writeConfig(p *Postfix, o PostfixOptions, uid, gid int) error {
	for _, s := range []string{p.Dir, p.MaildirBase} {
		if strings.ContainsAny(s, " \t\r\n,") {
			// main.cf values are whitespace/comma separated lists.
			return fmt.Errorf("postfix peer: path %q contains whitespace or a comma", s)
		}
	}
	vmap := filepath.Join(p.ConfigDir, "vmailbox")
	var vm strings.Builder
	vm.WriteString("# address  maildir (relative to virtual_mailbox_base; trailing / = Maildir)\n")
	for _, lp := range o.Mailboxes {
		fmt.Fprintf(&vm, "%s@%s %s/%s/\n", lp, o.MyDomain, o.MyDomain, lp)
	}
	if err := writeFile(vmap, []byte(vm.String()), 0o644); err != nil {
		return fmt.Errorf("postfix peer: %w", err)
	}

	valias, err := writeAliases(p, o.VirtualAliases)
	if err != nil {
		return err
	}

	// Ordered so the file reads like a hand-written one; ExtraMain may
	// override any of these.
	main := [][2]string{
		{"compatibility_level", "3.6"},
		{"queue_directory", filepath.Join(p.Dir, "queue")},
		{"data_directory", filepath.Join(p.Dir, "data")},
		{"mail_owner", "postfix"},
		{"setgid_group", "postdrop"},
		// Log to a file through postlogd(8) instead of syslog: there is
		// no syslog daemon in a container, and a test wants to read it.
		{"maillog_file", p.LogFile},
		{"maillog_file_prefixes", p.Dir},
		{"syslog_name", "postfix-peer"},
		{"myhostname", o.MyHostname},
		{"mydomain", o.MyDomain},
		{"myorigin", "$myhostname"},
		// Nothing is delivered by local(8): mail for the test domain goes
		// to virtual(8), everything else is remote.
		{"mydestination", ""},
		{"local_transport", "error:local delivery is disabled"},
		{"inet_interfaces", "127.0.0.1"},
		{"inet_protocols", "ipv4"},
		{"mynetworks", o.MyNetworks},
		{"relay_domains", ""},
		{"smtpd_relay_restrictions", "permit_mynetworks, reject_unauth_destination"},
		{"smtpd_recipient_restrictions", ""},
		// The machine's resolver is not on loopback: no DNS at all.
		{"smtp_dns_support_level", "disabled"},
		{"lmtp_dns_support_level", "disabled"},
		{"smtpd_peername_lookup", "no"},
		{"virtual_mailbox_domains", o.MyDomain},
		{"virtual_mailbox_maps", "texthash:" + vmap},
		{"virtual_mailbox_base", p.MaildirBase},
		{"virtual_uid_maps", fmt.Sprintf("static:%d", uid)},
		{"virtual_gid_maps", fmt.Sprintf("static:%d", gid)},
		{"virtual_minimum_uid", "1"},
		{"alias_maps", ""},
		{"alias_database", ""},
		{"biff", "no"},
		{"append_dot_mydomain", "no"},
		{"readme_directory", "no"},
		{"smtpd_banner", "$myhostname ESMTP $mail_name"},
	}
	if valias != "" {
		main = append(main, [2]string{"virtual_alias_maps", valias})
	}
	if o.RelayHost != "" {
		main = append(main, [2]string{"relayhost", o.RelayHost})
	} else {
		// Without a relay host there is nowhere safe to send remote mail
		// (bounces included): fail it instead of looking up MX records.
		main = append(main, [2]string{"default_transport", "error:remote delivery is disabled in this test instance"})
		main = append(main, [2]string{"relay_transport", "error:remote delivery is disabled in this test instance"})
	}
	keys := make([]string, 0, len(o.ExtraMain))
	for k := range o.ExtraMain {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := o.ExtraMain[k]
		if k == "" || strings.ContainsAny(k, " \t\r\n=#") {
			return fmt.Errorf("postfix peer: bad main.cf parameter name %q", k)
		}
		if strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("postfix peer: main.cf value for %s contains a newline", k)
		}
		replaced := false
		for i := range main {
			if main[i][0] == k {
				// Replace in place: a repeated name makes Postfix warn
				// "overriding earlier entry" on every command.
				main[i][1] = v
				replaced = true
			}
		}
		if !replaced {
			main = append(main, [2]string{k, v})
		}
	}
	var mc strings.Builder
	mc.WriteString("# Private Postfix instance written by mailward internal/peers.\n")
	for _, kv := range main {
		fmt.Fprintf(&mc, "%s = %s\n", kv[0], kv[1])
	}
	if err := writeFile(filepath.Join(p.ConfigDir, "main.cf"), []byte(mc.String()), 0o644); err != nil {
		return fmt.Errorf("postfix peer: %w", err)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", p.Port)
	if err := writeFile(filepath.Join(p.ConfigDir, "master.cf"), []byte(fmt.Sprintf(masterCF, listen)), 0o644); err != nil {
		return fmt.Errorf("postfix peer: %w", err)
	}
	return nil
}

// writeAliases writes the virtual alias map and returns the
// virtual_alias_maps value ("" when there are none: Postfix's default). One entry per logical
// line, a member per continuation line (virtual(5)), in sorted order.
func writeAliases(p *Postfix, aliases map[string][]string) (string, error) {
	if len(aliases) == 0 {
		return "", nil
	}
	keys := make([]string, 0, len(aliases))
	for a := range aliases {
		keys = append(keys, a)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# address  members (virtual(5)), written by mailward internal/peers\n")
	for _, a := range keys {
		b.WriteString(a)
		for i, m := range aliases[a] {
			sep := ","
			if i == len(aliases[a])-1 {
				sep = ""
			}
			fmt.Fprintf(&b, "\n    %s%s", m, sep)
		}
		b.WriteString("\n")
	}
	file := filepath.Join(p.ConfigDir, "valias")
	if err := writeFile(file, []byte(b.String()), 0o644); err != nil {
		return "", fmt.Errorf("postfix peer: %w", err)
	}
	return "texthash:" + file, nil
}
