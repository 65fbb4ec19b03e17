package ldapdir

import (
	"strings"

	"github.com/go-ldap/ldap/v3"

	"mailward/directory"
)

// normDN is a DN's comparable form: attribute types and values
// lower-cased, escaping undone, no spaces between RDNs.
func normDN(dn string) string {
	p, err := ldap.ParseDN(dn)
	if err != nil {
		return lower(dn)
	}
	var rdns []string
	for _, r := range p.RDNs {
		var parts []string
		for _, a := range r.Attributes {
			parts = append(parts, lower(a.Type)+"="+lower(a.Value))
		}
		rdns = append(rdns, strings.Join(parts, "+"))
	}
	return strings.Join(rdns, ",")
}

// firstRDNValue is the value of a DN's first RDN ("mx1" of cn=mx1,...).
func firstRDNValue(dn string) string {
	p, err := ldap.ParseDN(dn)
	if err != nil || len(p.RDNs) == 0 || len(p.RDNs[0].Attributes) == 0 {
		return dn
	}
	return p.RDNs[0].Attributes[0].Value
}

func hasClass(e *ldap.Entry, c string) bool {
	for _, v := range e.GetAttributeValues("objectClass") {
		if strings.EqualFold(v, c) {
			return true
		}
	}
	return false
}

// Decode turns LDAP entries of mailward's schema into the organization's
// entries, the same tables the TOML file has (references, which are DNs,
// become the names and addresses of the entries they point at).
func Decode(entries []*ldap.Entry, a Attributes) directory.OrgFile {
	get := func(e *ldap.Entry, n string) string { return e.GetEqualFoldAttributeValue(a.name(n)) }
	all := func(e *ldap.Entry, n string) []string { return e.GetEqualFoldAttributeValues(a.name(n)) }
	isTrue := func(e *ldap.Entry, n string) bool { return strings.EqualFold(get(e, n), "TRUE") }
	names := map[string]string{} // DN → server or group name
	addrs := map[string]string{} // DN → address
	for _, e := range entries {
		switch {
		case hasClass(e, "mailwardServer"), hasClass(e, "mailwardServerGroup"):
			names[normDN(e.DN)] = lower(get(e, "cn"))
		case hasClass(e, "mailwardMailbox"), hasClass(e, "mailwardDistributionGroup"), hasClass(e, "mailwardContact"),
			hasClass(e, "mailwardPublicFolder"):
			addrs[normDN(e.DN)] = lower(get(e, "mail"))
		}
	}
	name := func(dn string) string {
		if n, ok := names[normDN(dn)]; ok {
			return n
		}
		return lower(firstRDNValue(dn)) // a dangling reference: Validate reports the name
	}
	addr := func(dn string) string {
		if v, ok := addrs[normDN(dn)]; ok {
			return v
		}
		return lower(firstRDNValue(dn))
	}
	nameList := func(dns []string) []string {
		var out []string
		for _, dn := range dns {
			out = append(out, name(dn))
		}
		return out
	}
	addrList := func(dns []string) []string {
		var out []string
		for _, dn := range dns {
			if dn != "" {
				out = append(out, addr(dn))
			}
		}
		return out
	}
	var f directory.OrgFile
	for _, e := range entries {
		switch {
		case hasClass(e, "mailwardServer"):
			f.Servers = append(f.Servers, directory.OrgServer{Name: get(e, "cn"), FQDN: get(e, "dNSHostName"),
				Addresses: all(e, "networkAddress"), SPNs: all(e, "servicePrincipalName"), Auth: get(e, "mailwardAuthMechanism"),
				PasswordHash: get(e, "mailwardPasswordHash"), DeliveryAddress: get(e, "mailwardDeliveryAddress")})
		case hasClass(e, "mailwardServerGroup"):
			f.Groups = append(f.Groups, directory.OrgGroup{Name: get(e, "cn"), Members: nameList(all(e, "member"))})
		case hasClass(e, "mailwardPermission"):
			f.Permissions = append(f.Permissions, directory.Permission{Right: get(e, "mailwardRight"),
				Type: get(e, "mailwardAccessType"), Principal: name(get(e, "mailwardPrincipal"))})
		case hasClass(e, "mailwardAcceptedDomain"):
			f.Domains = append(f.Domains, directory.OrgDomain{Name: get(e, "msExchAcceptedDomainName")})
		case hasClass(e, "mailwardMailbox"):
			m := directory.OrgMailbox{Address: get(e, "mail"), HomeServer: get(e, "msExchHomeServerName"),
				DeliverToBoth: isTrue(e, "deliverAndRedirect"), PasswordHash: get(e, "mailwardPasswordHash")}
			for _, p := range all(e, "proxyAddresses") {
				// AD's form: "SMTP:" the primary, "smtp:" the others; other
				// types (X400:, SIP:) are not mail addresses.
				typ, v, ok := strings.Cut(p, ":")
				switch {
				case !ok:
					m.ProxyAddresses = append(m.ProxyAddresses, p)
				case strings.EqualFold(typ, "smtp") && !strings.EqualFold(v, m.Address):
					m.ProxyAddresses = append(m.ProxyAddresses, v)
				}
			}
			if alt := get(e, "altRecipient"); alt != "" {
				m.AlternateRecipient = addr(alt)
			}
			f.Mailboxes = append(f.Mailboxes, m)
		case hasClass(e, "mailwardDistributionGroup"):
			g := directory.DistributionGroup{Address: get(e, "mail"), Members: addrList(all(e, "member")),
				ExpansionServer: get(e, "msExchExpansionServerName"), HideMembership: isTrue(e, "hideDLMembership"),
				AcceptOnlyAuthenticated: isTrue(e, "msExchRequireAuthToSendTo"),
				AcceptFrom:              append(addrList(all(e, "authOrig")), addrList(all(e, "dLMemSubmitPerms"))...),
				RejectFrom:              append(addrList(all(e, "unauthOrig")), addrList(all(e, "dLMemRejectPerms"))...)}
			switch {
			case isTrue(e, "reportToOwner"):
				g.DeliveryReports = directory.ReportsToOwner
			case strings.EqualFold(get(e, "reportToOriginator"), "FALSE"):
				g.DeliveryReports = directory.ReportsNone
			}
			if o := get(e, "managedBy"); o != "" {
				g.Owner = addr(o)
			}
			f.DistGroups = append(f.DistGroups, g)
		case hasClass(e, "mailwardPublicFolder"):
			f.Folders = append(f.Folders, directory.SharedFolder{Address: get(e, "mail"),
				Replicas: nameList(all(e, "mailwardReplicaServer"))})
		case hasClass(e, "mailwardJournalRule"):
			r := directory.JournalRule{Name: get(e, "cn"), Domain: get(e, "mailwardJournalScopeDomain"),
				Mailboxes: addrList(all(e, "mailwardJournalScopeMailbox")), Recipient: addr(get(e, "mailwardJournalRecipient"))}
			if g := get(e, "mailwardJournalScopeGroup"); g != "" {
				r.Group = addr(g)
			}
			f.JournalRules = append(f.JournalRules, r)
		}
		if j := get(e, "mailwardJournalingAddress"); j != "" {
			f.Journaling = &directory.Journaling{Address: j}
		}
	}
	return f
}

// Filter selects every entry Decode reads.
const Filter = "(|(objectClass=mailwardServer)(objectClass=mailwardServerGroup)(objectClass=mailwardPermission)" +
	"(objectClass=mailwardAcceptedDomain)(objectClass=mailwardMailbox)(objectClass=mailwardDistributionGroup)" +
	"(objectClass=mailwardContact)(objectClass=mailwardPublicFolder)(objectClass=mailwardJournalRule)" +
	"(objectClass=mailwardOrganization))"
