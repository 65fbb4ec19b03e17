package ldapdir

import (
	"strings"

	"github.com/go-ldap/ldap/v3"

	"mailward/directory"
)

// Entry is one LDAP entry as mailward writes it: its DN, object classes
// and attributes (by default name; Attributes renames them), in order.
type Entry struct {
	DN      string
	Classes []string
	Attrs   []Attr
}

// Attr is one attribute with its values; no values means "none" (a
// modify removes it).
type Attr struct {
	Name   string
	Values []string
}

// Containers are the organizational units under the base DN.
var Containers = []string{"servers", "groups", "permissions", "domains", "recipients", "contacts", "journal"}

func lower(s string) string { return strings.ToLower(s) }

func rdn(attr, value, parent string) string {
	return attr + "=" + ldap.EscapeDN(value) + "," + parent
}

func ou(name, base string) string { return "ou=" + name + "," + base }

// Encode turns the organization's entries into LDAP entries under base:
// the containers, then servers, groups, permissions, domains, recipients
// (with a contact for every address outside the organization that a
// group, a restriction or a forwarding names), shared folders and
// journal rules. References are DNs, as in Active Directory.
func Encode(f directory.OrgFile, base string) []Entry {
	var out []Entry
	for _, c := range Containers {
		out = append(out, Entry{DN: ou(c, base), Classes: []string{"organizationalUnit"}, Attrs: []Attr{{"ou", []string{c}}}})
	}
	names := map[string]string{} // server or group name → DN
	for _, s := range f.Servers {
		names[lower(s.Name)] = rdn("cn", lower(s.Name), ou("servers", base))
	}
	for _, g := range f.Groups {
		names[lower(g.Name)] = rdn("cn", lower(g.Name), ou("groups", base))
	}
	nameRef := func(n string) string {
		if dn, ok := names[lower(n)]; ok {
			return dn
		}
		return rdn("cn", lower(n), ou("servers", base)) // unknown: Validate names it on the way back
	}
	nameRefs := func(v []string) []string {
		var out []string
		for _, n := range v {
			out = append(out, nameRef(n))
		}
		return out
	}
	addrs := map[string]string{} // address → DN of its entry
	groups := map[string]bool{}
	for _, m := range f.Mailboxes {
		addrs[lower(m.Address)] = rdn("cn", lower(m.Address), ou("recipients", base))
	}
	for _, g := range f.DistGroups {
		addrs[lower(g.Address)] = rdn("cn", lower(g.Address), ou("recipients", base))
		groups[lower(g.Address)] = true
	}
	for _, fo := range f.Folders {
		addrs[lower(fo.Address)] = rdn("cn", lower(fo.Address), ou("recipients", base))
	}
	for _, m := range f.Mailboxes { // a proxy address names its mailbox
		for _, p := range m.ProxyAddresses {
			if _, ok := addrs[lower(p)]; !ok {
				addrs[lower(p)] = addrs[lower(m.Address)]
			}
		}
	}
	var contacts []Entry
	ref := func(a string) string {
		a = lower(strings.TrimSpace(a))
		if dn, ok := addrs[a]; ok {
			return dn
		}
		dn := rdn("cn", a, ou("contacts", base))
		addrs[a] = dn
		contacts = append(contacts, Entry{DN: dn, Classes: []string{"inetOrgPerson", "mailwardContact"},
			Attrs: []Attr{{"cn", []string{a}}, {"sn", []string{a}}, {"mail", []string{a}}}})
		return dn
	}
	refs := func(v []string) []string {
		var out []string
		for _, a := range v {
			out = append(out, ref(a))
		}
		return out
	}
	one := func(v string) []string {
		if v == "" {
			return nil
		}
		return []string{v}
	}
	boolean := func(b bool) []string {
		if !b {
			return nil
		}
		return []string{"TRUE"}
	}
	for _, s := range f.Servers {
		out = append(out, Entry{DN: names[lower(s.Name)], Classes: []string{"mailwardServer"}, Attrs: []Attr{
			{"cn", []string{lower(s.Name)}}, {"dNSHostName", []string{s.FQDN}}, {"servicePrincipalName", s.SPNs},
			{"networkAddress", s.Addresses}, {"mailwardAuthMechanism", one(s.Auth)},
			{"mailwardPasswordHash", one(s.PasswordHash)}, {"mailwardDeliveryAddress", one(s.DeliveryAddress)}}})
	}
	for _, g := range f.Groups {
		out = append(out, Entry{DN: names[lower(g.Name)], Classes: []string{"mailwardServerGroup"},
			Attrs: []Attr{{"cn", []string{lower(g.Name)}}, {"member", nameRefs(g.Members)}}})
	}
	seen := map[string]int{}
	for _, p := range f.Permissions {
		cn := lower(p.Type + "-" + p.Right + "-" + p.Principal)
		if seen[cn]++; seen[cn] > 1 { // the same entry twice stays twice
			cn += "-" + string(rune('0'+seen[cn]))
		}
		out = append(out, Entry{DN: rdn("cn", cn, ou("permissions", base)), Classes: []string{"mailwardPermission"}, Attrs: []Attr{
			{"cn", []string{cn}}, {"mailwardRight", []string{lower(p.Right)}}, {"mailwardAccessType", []string{lower(p.Type)}},
			{"mailwardPrincipal", []string{nameRef(p.Principal)}}}})
	}
	for _, d := range f.Domains {
		n := lower(d.Name)
		out = append(out, Entry{DN: rdn("cn", n, ou("domains", base)), Classes: []string{"mailwardAcceptedDomain"},
			Attrs: []Attr{{"cn", []string{n}}, {"msExchAcceptedDomainName", []string{n}}}})
	}
	for _, m := range f.Mailboxes {
		a := lower(m.Address)
		var proxies []string
		for _, p := range m.ProxyAddresses {
			proxies = append(proxies, "smtp:"+lower(p))
		}
		alt := []string(nil)
		if m.AlternateRecipient != "" {
			alt = []string{ref(m.AlternateRecipient)}
		}
		local, _, _ := strings.Cut(a, "@")
		out = append(out, Entry{DN: addrs[a], Classes: []string{"inetOrgPerson", "mailwardMailbox"}, Attrs: []Attr{
			{"cn", []string{a}}, {"sn", []string{local}}, {"mail", []string{a}}, {"proxyAddresses", proxies},
			{"msExchHomeServerName", one(lower(m.HomeServer))}, {"altRecipient", alt},
			{"deliverAndRedirect", boolean(m.DeliverToBoth)}, {"mailwardPasswordHash", one(m.PasswordHash)}}})
	}
	for _, g := range f.DistGroups {
		a := lower(g.Address)
		var accept, acceptGroups, reject, rejectGroups []string
		split := func(v []string, plain, grp *[]string) {
			for _, x := range v {
				if groups[lower(x)] {
					*grp = append(*grp, ref(x))
				} else {
					*plain = append(*plain, ref(x))
				}
			}
		}
		split(g.AcceptFrom, &accept, &acceptGroups)
		split(g.RejectFrom, &reject, &rejectGroups)
		var orig, owner []string
		switch lower(g.DeliveryReports) {
		case directory.ReportsToOwner:
			owner = []string{"TRUE"}
		case directory.ReportsNone:
			orig = []string{"FALSE"}
		}
		managed := []string(nil)
		if g.Owner != "" {
			managed = []string{ref(g.Owner)}
		}
		members := refs(g.Members)
		if len(members) == 0 {
			// groupOfNames must have a member; the empty DN is none (RFC 4519's
			// advice for an empty group, as OpenLDAP accepts it).
			members = []string{""}
		}
		out = append(out, Entry{DN: addrs[a], Classes: []string{"groupOfNames", "mailwardDistributionGroup"}, Attrs: []Attr{
			{"cn", []string{a}}, {"mail", []string{a}}, {"member", members},
			{"msExchExpansionServerName", one(lower(g.ExpansionServer))}, {"hideDLMembership", boolean(g.HideMembership)},
			{"msExchRequireAuthToSendTo", boolean(g.AcceptOnlyAuthenticated)},
			{"authOrig", accept}, {"dLMemSubmitPerms", acceptGroups}, {"unauthOrig", reject}, {"dLMemRejectPerms", rejectGroups},
			{"reportToOriginator", orig}, {"reportToOwner", owner}, {"managedBy", managed}}})
	}
	for _, fo := range f.Folders {
		a := lower(fo.Address)
		out = append(out, Entry{DN: addrs[a], Classes: []string{"mailwardPublicFolder"}, Attrs: []Attr{
			{"cn", []string{a}}, {"mail", []string{a}}, {"mailwardReplicaServer", nameRefs(fo.Replicas)}}})
	}
	for _, r := range f.JournalRules {
		grp := []string(nil)
		if r.Group != "" {
			grp = []string{ref(r.Group)}
		}
		out = append(out, Entry{DN: rdn("cn", r.Name, ou("journal", base)), Classes: []string{"mailwardJournalRule"}, Attrs: []Attr{
			{"cn", []string{r.Name}}, {"mailwardJournalRecipient", []string{ref(r.Recipient)}},
			{"mailwardJournalScopeDomain", one(lower(r.Domain))}, {"mailwardJournalScopeMailbox", refs(r.Mailboxes)},
			{"mailwardJournalScopeGroup", grp}}})
	}
	// Contacts first among the recipients: the entries naming them come
	// after them, as an LDIF loaded in order wants.
	out = append(out[:len(Containers)], append(contacts, out[len(Containers):]...)...)
	if f.Journaling != nil && f.Journaling.Address != "" {
		out = append(out, Entry{DN: base, Attrs: []Attr{{"mailwardJournalingAddress", []string{lower(f.Journaling.Address)}}}})
	}
	return out
}
