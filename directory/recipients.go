package directory

import (
	"strings"
)

// The organization's recipients: its domains, its mailboxes (each with a
// home server) and its distribution groups, the same for every server of
// the organization (docs/categorizer.md). Where Active Directory has an
// attribute for a setting, the comment names it, for administrators who
// know Exchange.

// OrgDomain is one domain of the organization: mail for it is accepted
// by every server of the organization and routed by home server.
type OrgDomain struct {
	Name string `toml:"name"`
}

// OrgMailbox is one mailbox of the organization.
type OrgMailbox struct {
	// Address is the primary address (AD mail).
	Address string `toml:"address"`
	// ProxyAddresses are more addresses for the same mailbox (AD
	// proxyAddresses): mail to any of them is delivered to Address.
	ProxyAddresses []string `toml:"proxy_addresses"`
	// HomeServer is the server of the organization that holds the
	// mailbox (AD homeMTA); may be empty when the organization has one
	// server.
	HomeServer string `toml:"home_server"`
	// PasswordHash is the bcrypt hash of the mailbox's login (AUTH).
	PasswordHash string `toml:"password_hash"`
	// AlternateRecipient forwards the mailbox's mail to another address
	// (AD altRecipient); DeliverToBoth keeps a copy in the mailbox too
	// (AD deliverAndRedirect).
	AlternateRecipient string `toml:"alternate_recipient"`
	DeliverToBoth      bool   `toml:"deliver_to_both"`
}

// Delivery-report settings of a distribution group: where the reports
// about its members go (AD reportToOriginator / reportToOwner).
const (
	ReportsToSender = "sender" // default
	ReportsToOwner  = "owner"
	ReportsNone     = "none"
)

// DistributionGroup is one distribution group of the organization.
type DistributionGroup struct {
	Address string `toml:"address"`
	// Members are addresses: mailboxes (primary or proxy), groups
	// (nested to any depth) and external addresses.
	Members []string `toml:"members"`
	// ExpansionServer, when set, is the only server that expands the
	// group (AD msExchExpansionServerName); the others pass it there
	// unexpanded.
	ExpansionServer string `toml:"expansion_server"`
	// HideMembership keeps members out of everything a sender sees: EXPN,
	// non-delivery and delivery reports (AD hideDLMembership).
	HideMembership bool `toml:"hide_membership"`
	// AcceptOnlyAuthenticated refuses senders that did not authenticate
	// (AD msExchRequireAuthToSendTo).
	AcceptOnlyAuthenticated bool `toml:"accept_only_authenticated"`
	// AcceptFrom, when not empty, lists the only senders accepted:
	// addresses, or groups whose members (nested) are accepted (AD
	// authOrig, dLMemSubmitPerms). RejectFrom lists refused ones (AD
	// unauthOrig, dLMemRejectPerms); it wins.
	AcceptFrom []string `toml:"accept_from"`
	RejectFrom []string `toml:"reject_from"`
	// DeliveryReports is "sender" (default), "owner" or "none"; Owner
	// receives them with "owner" (AD managedBy).
	DeliveryReports string `toml:"delivery_reports"`
	Owner           string `toml:"owner"`
}

// EntryKind says what an address is.
type EntryKind int

const (
	NotFound EntryKind = iota
	MailboxEntry
	GroupEntry
	// FolderEntry is a shared folder; StoreEntry a server's store
	// address, where replication of shared folders is sent (folders.go).
	FolderEntry
	StoreEntry
)

// Entry is what an address of a local domain resolves to: a mailbox (by
// its primary or a proxy address) or a distribution group.
type Entry struct {
	Kind    EntryKind
	Mailbox *OrgMailbox // Kind MailboxEntry; HomeServer "" is this server
	Group   *DistributionGroup
	Folder  *SharedFolder // Kind FolderEntry
	Store   *OrgServer    // Kind StoreEntry: the server whose store it is
}

// Address is the entry's primary address.
func (e Entry) Address() string {
	switch e.Kind {
	case MailboxEntry:
		return e.Mailbox.Address
	case GroupEntry:
		return e.Group.Address
	case FolderEntry:
		return e.Folder.Address
	}
	return ""
}

// normalizeRecipients lower-cases the recipient entries and fills the
// defaults; index builds the address index.
func (o *Org) normalizeRecipients() {
	lower := func(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
	lowerAll := func(v []string) {
		for i := range v {
			v[i] = lower(v[i])
		}
	}
	for i := range o.Domains {
		o.Domains[i].Name = strings.TrimSuffix(lower(o.Domains[i].Name), ".")
	}
	for i := range o.Mailboxes {
		m := &o.Mailboxes[i]
		m.Address, m.HomeServer, m.AlternateRecipient = lower(m.Address), lower(m.HomeServer), lower(m.AlternateRecipient)
		lowerAll(m.ProxyAddresses)
		if m.HomeServer == "" && len(o.Servers) == 1 {
			m.HomeServer = o.Servers[0].Name
		}
	}
	for i := range o.DistGroups {
		g := &o.DistGroups[i]
		g.Address, g.ExpansionServer, g.Owner = lower(g.Address), lower(g.ExpansionServer), lower(g.Owner)
		g.DeliveryReports = lower(g.DeliveryReports)
		if g.DeliveryReports == "" {
			g.DeliveryReports = ReportsToSender
		}
		lowerAll(g.Members)
		lowerAll(g.AcceptFrom)
		lowerAll(g.RejectFrom)
	}
	o.normalizeFolders()
	o.index()
}

// index maps every address (primary and proxy) to its entry. A
// duplicate keeps its first entry; Validate reports it.
func (o *Org) index() {
	o.byAddr = map[string]Entry{}
	o.domains = map[string]bool{}
	for _, d := range o.Domains {
		o.domains[d.Name] = true
	}
	add := func(a string, e Entry) {
		if _, dup := o.byAddr[a]; !dup && a != "" {
			o.byAddr[a] = e
		}
	}
	for i := range o.Mailboxes {
		m := &o.Mailboxes[i]
		add(m.Address, Entry{Kind: MailboxEntry, Mailbox: m})
		for _, p := range m.ProxyAddresses {
			add(p, Entry{Kind: MailboxEntry, Mailbox: m})
		}
	}
	for i := range o.DistGroups {
		add(o.DistGroups[i].Address, Entry{Kind: GroupEntry, Group: &o.DistGroups[i]})
	}
	o.indexFolders(add)
}

// IsOrgDomain reports whether domain is a domain of the organization.
func (o *Org) IsOrgDomain(domain string) bool {
	return o != nil && o.domains[strings.ToLower(strings.TrimSuffix(domain, "."))]
}

// Find resolves an address of the organization (case-insensitive).
func (o *Org) Find(addr string) Entry {
	if o == nil {
		return Entry{}
	}
	return o.byAddr[strings.ToLower(addr)]
}
