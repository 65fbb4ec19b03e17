package testkit

// The organization directory file (organization.file) from Go values, as
// Config is the configuration file: the servers, their groups and
// rights, and the organization's recipients, with the keys of
// docs/organization.md. A zero value leaves its key out.

import (
	"fmt"

	"github.com/pelletier/go-toml/v2"
)

// OrgDirectory is an organization directory file.
type OrgDirectory struct {
	Servers     []OrgServer         `toml:"server,omitempty"`
	Groups      []OrgGroup          `toml:"group,omitempty"`
	Permissions []Permission        `toml:"permission,omitempty"`
	Domains     []OrgDomain         `toml:"domain,omitempty"`
	Mailboxes   []OrgMailbox        `toml:"mailbox,omitempty"`
	DistGroups  []DistributionGroup `toml:"distribution_group,omitempty"`
	// Journaling (docs/journaling.md).
	JournalRules []JournalRule  `toml:"journal_rule,omitempty"`
	Journaling   *Journaling    `toml:"journaling,omitempty"`
	Folders      []SharedFolder `toml:"shared_folder,omitempty"`
}

// JournalRule is one [[journal_rule]]: a name, one scope, the journal
// recipient.
type JournalRule struct {
	Name      string   `toml:"name"`
	Domain    string   `toml:"domain,omitempty"`
	Mailboxes []string `toml:"mailboxes,omitempty"`
	Group     string   `toml:"group,omitempty"`
	Recipient string   `toml:"recipient"`
}

// Journaling is the [journaling] table.
type Journaling struct {
	Address string `toml:"address,omitempty"`
}

// SharedFolder is one [[shared_folder]] (docs/shared-folders.md).
type SharedFolder struct {
	Address  string   `toml:"address"`
	Replicas []string `toml:"replicas"`
}

// OrgServer is one [[server]].
type OrgServer struct {
	Name            string   `toml:"name"`
	FQDN            string   `toml:"fqdn"`
	Addresses       []string `toml:"addresses,omitempty"`
	DeliveryAddress string   `toml:"delivery_address,omitempty"`
	Auth            string   `toml:"auth,omitempty"`
	PasswordHash    string   `toml:"password_hash,omitempty"`
	SPNs            []string `toml:"spns,omitempty"`
}

// OrgGroup is one [[group]] of servers.
type OrgGroup struct {
	Name    string   `toml:"name"`
	Members []string `toml:"members"`
}

// Permission is one [[permission]].
type Permission struct {
	Right     string `toml:"right"`
	Principal string `toml:"principal"`
	Type      string `toml:"type"`
}

// OrgDomain is one [[domain]] of the organization.
type OrgDomain struct {
	Name string `toml:"name"`
}

// OrgMailbox is one [[mailbox]] of the organization.
type OrgMailbox struct {
	Address            string   `toml:"address"`
	ProxyAddresses     []string `toml:"proxy_addresses,omitempty"`
	HomeServer         string   `toml:"home_server,omitempty"`
	PasswordHash       string   `toml:"password_hash,omitempty"`
	AlternateRecipient string   `toml:"alternate_recipient,omitempty"`
	DeliverToBoth      bool     `toml:"deliver_to_both,omitempty"`
}

// DistributionGroup is one [[distribution_group]].
type DistributionGroup struct {
	Address                 string   `toml:"address"`
	Members                 []string `toml:"members"`
	ExpansionServer         string   `toml:"expansion_server,omitempty"`
	HideMembership          bool     `toml:"hide_membership,omitempty"`
	AcceptOnlyAuthenticated bool     `toml:"accept_only_authenticated,omitempty"`
	AcceptFrom              []string `toml:"accept_from,omitempty"`
	RejectFrom              []string `toml:"reject_from,omitempty"`
	DeliveryReports         string   `toml:"delivery_reports,omitempty"`
	Owner                   string   `toml:"owner,omitempty"`
}

// Server returns the server named name, nil if there is none.
func (d *OrgDirectory) Server(name string) *OrgServer {
	for i := range d.Servers {
		if d.Servers[i].Name == name {
			return &d.Servers[i]
		}
	}
	return nil
}

// Group returns the distribution group with this address, nil if there
// is none.
func (d *OrgDirectory) Group(addr string) *DistributionGroup {
	for i := range d.DistGroups {
		if d.DistGroups[i].Address == addr {
			return &d.DistGroups[i]
		}
	}
	return nil
}

// TOML renders the directory file.
func (d *OrgDirectory) TOML() string {
	b, err := toml.Marshal(d)
	if err != nil {
		// Only a type go-toml cannot encode fails, and OrgDirectory has none.
		panic(fmt.Sprintf("testkit: rendering an organization directory: %v", err))
	}
	return string(b)
}
