// Package ldapdir keeps the organization directory (package directory's
// Org) in LDAP: the mapping between the Org's entries and LDAP entries of
// mailward's schema (schema/mailward.ldif), the client that reads and
// writes them, and the snapshot that keeps a running server's view fresh
// (docs/directory.md).
package ldapdir

import (
	"fmt"
	"sort"
)

// Attributes maps each attribute mailward uses, by its default name
// (Active Directory's where AD has one), to the name the site's
// directory uses ([organization.ldap.attributes]).
type Attributes map[string]string

// DefaultAttributes lists every attribute the mapping reads and writes.
var DefaultAttributes = []string{
	"cn", "sn", "mail", "member", "description",
	"proxyAddresses", "servicePrincipalName", "dNSHostName", "networkAddress",
	"msExchHomeServerName", "altRecipient", "deliverAndRedirect",
	"hideDLMembership", "msExchRequireAuthToSendTo", "authOrig", "unauthOrig",
	"dLMemSubmitPerms", "dLMemRejectPerms", "msExchExpansionServerName",
	"reportToOriginator", "reportToOwner", "managedBy", "msExchAcceptedDomainName",
	"mailwardPasswordHash", "mailwardAuthMechanism", "mailwardDeliveryAddress",
	"mailwardRight", "mailwardAccessType", "mailwardPrincipal",
	"mailwardJournalScopeDomain", "mailwardJournalScopeMailbox", "mailwardJournalScopeGroup",
	"mailwardJournalRecipient", "mailwardJournalingAddress", "mailwardReplicaServer",
}

// CheckAttributes refuses an override of an attribute the mapping does
// not know (a typo would silently do nothing) and two attributes mapped
// to one name.
func CheckAttributes(a Attributes) error {
	known := map[string]bool{}
	for _, n := range DefaultAttributes {
		known[n] = true
	}
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	used := map[string]string{}
	for _, k := range keys {
		if !known[k] {
			return fmt.Errorf("organization.ldap.attributes: unknown attribute %q", k)
		}
		if a[k] == "" {
			return fmt.Errorf("organization.ldap.attributes: %s mapped to an empty name", k)
		}
	}
	for _, n := range DefaultAttributes {
		to := a.name(n)
		if prev, dup := used[lower(to)]; dup {
			return fmt.Errorf("organization.ldap.attributes: %s and %s both map to %q", prev, n, to)
		}
		used[lower(to)] = n
	}
	return nil
}

// name is the site's name for attribute n.
func (a Attributes) name(n string) string {
	if v, ok := a[n]; ok {
		return v
	}
	return n
}

// names lists the site's names of every attribute (the search's list).
func (a Attributes) names() []string {
	out := []string{"objectClass"}
	for _, n := range DefaultAttributes {
		out = append(out, a.name(n))
	}
	return out
}
