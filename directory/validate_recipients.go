package directory

import (
	"fmt"
	"strings"
)

// validateRecipients checks the organization's domains, mailboxes and
// distribution groups: what `mailward config check` reports and `serve`
// refuses to start with.
func (o *Org) validateRecipients() (errs []string) {
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	seenDomain := map[string]bool{}
	for _, d := range o.Domains {
		switch {
		case d.Name == "":
			bad("organization domain without a name")
		case seenDomain[d.Name]:
			bad("organization domain %q listed twice", d.Name)
		}
		seenDomain[d.Name] = true
	}
	inOrg := func(a string) bool { return o.IsOrgDomain(domainOf(a)) }
	// Every address — primary, proxy, group — names one entry only.
	owner := map[string]string{}
	claim := func(addr, what string) {
		switch {
		case !strings.Contains(addr, "@") || strings.HasPrefix(addr, "@") || strings.HasSuffix(addr, "@"):
			bad("%s: %q is not an address (local@domain)", what, addr)
		case !inOrg(addr):
			bad("%s: %q is not in a domain of the organization", what, addr)
		case owner[addr] != "":
			bad("address %q belongs to %s and to %s", addr, owner[addr], what)
		default:
			owner[addr] = what
		}
	}
	serverKnown := func(name string) bool { _, ok := o.ServerByName(name); return ok }
	for _, m := range o.Mailboxes {
		what := fmt.Sprintf("mailbox %q", m.Address)
		claim(m.Address, what)
		for _, p := range m.ProxyAddresses {
			claim(p, what+" (proxy address)")
		}
		switch {
		case m.HomeServer == "":
			bad("%s: no home_server (the organization has %d servers)", what, len(o.Servers))
		case !serverKnown(m.HomeServer):
			bad("%s: home_server %q is not a server of the organization", what, m.HomeServer)
		}
		if m.PasswordHash != "" && !strings.HasPrefix(m.PasswordHash, "$2") {
			bad("%s: password_hash must be a bcrypt hash (mailward config hash-password)", what)
		}
		switch a := m.AlternateRecipient; {
		case a == "" && m.DeliverToBoth:
			bad("%s: deliver_to_both without an alternate_recipient", what)
		case a != "" && !strings.Contains(a, "@"):
			bad("%s: alternate_recipient %q is not an address", what, a)
		case a != "" && o.Find(a).Address() == m.Address:
			bad("%s: alternate_recipient %q is the mailbox itself", what, a)
		case a != "" && inOrg(a) && o.Find(a).Kind == NotFound:
			// AD's altRecipient links an existing object: a typo would
			// turn every message to the mailbox into an NDR.
			bad("%s: alternate_recipient %q is unknown (no mailbox or group of the organization has it)", what, a)
		}
	}
	for _, g := range o.DistGroups {
		claim(g.Address, fmt.Sprintf("group %q", g.Address))
	}
	folderErrs := o.validateFolders(claim) // claim appends to errs too
	errs = append(errs, folderErrs...)
	for _, g := range o.DistGroups {
		what := fmt.Sprintf("group %q", g.Address)
		seen := map[string]bool{}
		for _, m := range g.Members {
			switch {
			case seen[m]:
				bad("%s: member %q listed twice", what, m)
			case !strings.Contains(m, "@"):
				bad("%s: member %q is not an address", what, m)
			case inOrg(m) && o.Find(m).Kind == NotFound:
				bad("%s: unknown member %q (no mailbox or group of the organization has it)", what, m)
			}
			seen[m] = true
		}
		if g.ExpansionServer != "" && !serverKnown(g.ExpansionServer) {
			bad("%s: expansion_server %q is not a server of the organization", what, g.ExpansionServer)
		}
		switch g.DeliveryReports {
		case ReportsToSender, ReportsNone:
		case ReportsToOwner:
			if !strings.Contains(g.Owner, "@") {
				bad("%s: delivery_reports = \"owner\" needs an owner address", what)
			}
			if inOrg(g.Owner) && o.Find(g.Owner).Kind == NotFound {
				// The reports would bounce, to nobody (they come from <>).
				bad("%s: owner %q is unknown (no mailbox or group of the organization has it)", what, g.Owner)
			}
		default:
			bad("%s: delivery_reports %q: want sender, owner or none", what, g.DeliveryReports)
		}
		for _, list := range [][]string{g.AcceptFrom, g.RejectFrom} {
			for _, s := range list {
				if !strings.Contains(s, "@") {
					// MayPost compares whole addresses: it would never match.
					bad("%s: accept_from/reject_from: %q is not an address", what, s)
				} else if inOrg(s) && o.Find(s).Kind == NotFound {
					bad("%s: accept_from/reject_from: unknown sender or group %q", what, s)
				}
			}
		}
		if chain := o.groupCycle(g.Address); chain != "" {
			bad("%s: nesting cycle %s", what, chain)
		}
	}
	return errs
}

// groupCycle returns the chain by which a group contains itself
// ("a → b → a"), or "".
func (o *Org) groupCycle(start string) string {
	var walk func(addr string, chain []string, seen map[string]bool) string
	walk = func(addr string, chain []string, seen map[string]bool) string {
		e := o.Find(addr)
		if e.Kind != GroupEntry {
			return ""
		}
		for _, m := range e.Group.Members {
			me := o.Find(m)
			if me.Kind != GroupEntry {
				continue
			}
			c := append(append([]string(nil), chain...), me.Group.Address)
			if me.Group.Address == start {
				return strings.Join(c, " → ")
			}
			if seen[me.Group.Address] {
				continue
			}
			seen[me.Group.Address] = true
			if r := walk(me.Group.Address, c, seen); r != "" {
				return r
			}
		}
		return ""
	}
	return walk(start, []string{start}, map[string]bool{start: true})
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}
