package diag

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"mailward/directory"
)

// SPNHolder is an account that carries service principal names: a
// server of the organization, or (in LDAP, as in Active Directory) any
// other entry, named by its DN.
type SPNHolder struct {
	Name   string
	Server bool // a server of the organization, Name its name
	SPNs   []string
}

// OrgSPNs are the SPNs of the organization's servers, as the directory
// holds them (the file backend: no other account can carry one).
func OrgSPNs(org *directory.Org) []SPNHolder {
	out := make([]SPNHolder, 0, len(org.Servers))
	for _, s := range org.Servers {
		out = append(out, SPNHolder{Name: s.Name, Server: true, SPNs: s.SPNs})
	}
	return out
}

// duplicateSPNs maps each SPN registered more than once (on one holder
// or several) to its holders: Kerberos cannot tell which account's key
// to use, so authentication to that name breaks.
func duplicateSPNs(holders []SPNHolder) map[string][]string {
	by := map[string][]string{}
	for _, h := range holders {
		for _, spn := range h.SPNs {
			k := strings.ToLower(spn)
			by[k] = append(by[k], h.Name)
		}
	}
	for k, v := range by {
		if len(v) < 2 {
			delete(by, k)
		}
	}
	return by
}

// WriteSPNReport lists the service principal names of one server (or of
// all, when server is ""), as KB979174's "setspn -L" does, with what is
// wrong with each: every expected SPN must be registered exactly once in
// the whole directory. The servers are the organization's; what they
// carry, and the rest of the directory checked for duplicates, are
// holders (an LDAP search of its own, or OrgSPNs). It returns the
// number of problems found.
func WriteSPNReport(w io.Writer, org *directory.Org, holders []SPNHolder, server string) (int, error) {
	servers, found := CheckSPNs(org, holders, server)
	if !found {
		return 0, fmt.Errorf("diag spn: no server %q in the organization", server)
	}
	problems := 0
	for _, s := range servers {
		fmt.Fprintf(w, "Registered ServicePrincipalNames for %s (%s):\n", s.Name, s.FQDN)
		for _, c := range s.SPNs {
			note := ""
			switch c.Problem {
			case SPNDuplicate:
				note = "  DUPLICATE: also on " + strings.Join(c.Others, ", ")
			case SPNMissing:
				note = "  MISSING: Kerberos authentication to this name fails (454 4.7.0)"
			}
			if note != "" {
				problems++
			}
			fmt.Fprintf(w, "\t%s%s\n", c.SPN, note)
		}
	}
	return problems, nil
}

func others(list []string, self string) []string {
	var out []string
	seen := false
	for _, s := range list {
		if s == self && !seen {
			seen = true
			continue
		}
		out = append(out, s)
	}
	return out
}

// WriteDuplicateSPNs checks every holder for SPNs registered more than
// once (KB979174's "setspn -X") and prints each group; the last line
// is "found N group(s) of duplicate SPNs." It returns N.
func WriteDuplicateSPNs(w io.Writer, orgName string, holders []SPNHolder) int {
	dups := duplicateSPNs(holders)
	keys := make([]string, 0, len(dups))
	for k := range dups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(w, "Checking organization %q for duplicate SPNs\n", orgName)
	for _, k := range keys {
		fmt.Fprintf(w, "%s is registered on: %s\n", k, strings.Join(dups[k], ", "))
	}
	fmt.Fprintf(w, "found %d group(s) of duplicate SPNs.\n", len(keys))
	return len(keys)
}

// Names are the names a server gives itself.
type Names struct {
	// Outbound is its EHLO name when it sends (server.fqdn).
	Outbound string
	// Self is its name in the directory (organization.self).
	Self string
	// VirtualServers are the names each virtual server greets with.
	VirtualServers []VirtualServerName
}

// VirtualServerName is one virtual server's name and the FQDN it greets with.
type VirtualServerName struct{ Name, FQDN string }

// WriteFQDNReport checks the names this server gives itself against the
// organization directory (KB843106: the EHLO name decides trust; a wrong
// FQDN makes the other servers treat us as a stranger). It returns the
// number of problems.
func WriteFQDNReport(w io.Writer, names Names, org *directory.Org) int {
	problems := 0
	self := names.Self
	var entry *directory.OrgServer
	if self != "" {
		if s, ok := org.ServerByName(self); ok {
			entry = s
		}
	}
	fmt.Fprintf(w, "server.fqdn: %s\n", names.Outbound)
	switch {
	case len(org.Servers) == 0:
		fmt.Fprintln(w, "no organization configured: every peer is external")
		return 0
	case self == "":
		fmt.Fprintln(w, "PROBLEM: organization.self is not set: this server does not know which directory entry it is")
		problems++
	case entry == nil:
		fmt.Fprintf(w, "PROBLEM: organization.self %q is not a server of the organization\n", self)
		problems++
	default:
		fmt.Fprintf(w, "directory entry %s: fqdn %s\n", entry.Name, entry.FQDN)
	}
	for _, l := range names.VirtualServers {
		fmt.Fprintf(w, "virtual server %s: greets and sends EHLO as %s", l.Name, l.FQDN)
		if entry != nil && !strings.EqualFold(l.FQDN, entry.FQDN) {
			fmt.Fprintf(w, "  PROBLEM: not %s, the name the organization knows: peers will not offer X-EXPS and will refuse XEXCH50 with 504\n", entry.FQDN)
			problems++
			continue
		}
		fmt.Fprintln(w)
	}
	if entry != nil && !strings.EqualFold(names.Outbound, entry.FQDN) {
		fmt.Fprintf(w, "PROBLEM: outbound EHLO name %s is not %s: organization servers will treat this server as a stranger\n", names.Outbound, entry.FQDN)
		problems++
	}
	fmt.Fprintf(w, "%d problem(s) found\n", problems)
	return problems
}

// MaxClockSkew is Kerberos's default tolerance (KB979174: all clocks
// within 5 minutes).
const MaxClockSkew = 5 * time.Minute

// ParseGreetingTime reads the date an SMTP greeting carries ("220 host
// ESMTP ... ready at Mon, 02 Jan 2006 15:04:05 -0700", as mailward and
// Exchange give it).
func ParseGreetingTime(greeting string) (time.Time, bool) {
	fields := strings.Fields(greeting)
	for i := 0; i+6 <= len(fields); i++ {
		cand := strings.Join(fields[i:i+6], " ")
		if t, err := time.Parse(time.RFC1123Z, cand); err == nil {
			return t, true
		}
		if t, err := time.Parse(time.RFC1123, cand); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
