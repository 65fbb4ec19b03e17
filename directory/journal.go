package directory

import (
	"fmt"
	"strings"
)

// JournalRule is one [[journal_rule]] (docs/journaling.md): the messages
// sent to or from its scope — exactly one of Domain, Mailboxes, Group —
// are journaled to Recipient, as Exchange's journal rules.
type JournalRule struct {
	Name      string   `toml:"name"`
	Domain    string   `toml:"domain"`
	Mailboxes []string `toml:"mailboxes"`
	Group     string   `toml:"group"`
	Recipient string   `toml:"recipient"`
}

// Journaling is the [journaling] table: Address is the From: of the
// journal reports (default journaling@<first organization domain>).
type Journaling struct {
	Address string `toml:"address"`
}

// JournalingAddress is the From: of the organization's journal reports.
func (o *Org) JournalingAddress() string {
	if o == nil {
		return ""
	}
	if o.Journaling.Address != "" {
		return o.Journaling.Address
	}
	if len(o.Domains) > 0 {
		return "journaling@" + o.Domains[0].Name
	}
	return ""
}

// IsJournalRecipient reports whether addr (any address of a mailbox) is
// the journal recipient of a rule.
func (o *Org) IsJournalRecipient(addr string) bool {
	if o == nil {
		return false
	}
	id := o.Identity(addr)
	for _, r := range o.JournalRules {
		if o.Identity(r.Recipient) == id {
			return true
		}
	}
	return false
}

// InGroup reports whether the address with identity id is a member of
// the distribution group, directly or nested to any depth (journal
// rules' group scope).
func (o *Org) InGroup(group, id string) bool { return o.MemberIdentities(group)[id] }

// MemberIdentities is the set of the group's members, nested to any
// depth, by identity (a mailbox's primary address); a cycle ends the
// walk. A caller that asks about many addresses keeps the set.
func (o *Org) MemberIdentities(group string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]bool{}
	var walk func(g string)
	walk = func(g string) {
		e := o.Find(g)
		if e.Kind != GroupEntry || seen[e.Group.Address] {
			return
		}
		seen[e.Group.Address] = true
		for _, m := range e.Group.Members {
			out[o.Identity(m)] = true
			walk(m)
		}
	}
	walk(group)
	return out
}

// Identity is a mailbox's primary address for any of its addresses, or
// the address itself, lower-cased (journal.Dir's Identity).
func (o *Org) Identity(addr string) string {
	if e := o.Find(addr); e.Kind != NotFound {
		return e.Address()
	}
	return strings.ToLower(addr)
}

func (o *Org) normalizeJournal() {
	lower := func(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
	o.Journaling.Address = lower(o.Journaling.Address)
	for i := range o.JournalRules {
		r := &o.JournalRules[i]
		r.Domain, r.Group, r.Recipient = strings.TrimSuffix(lower(r.Domain), "."), lower(r.Group), lower(r.Recipient)
		for j := range r.Mailboxes {
			r.Mailboxes[j] = lower(r.Mailboxes[j])
		}
	}
}

// validateJournal checks the journal rules and the journaling address.
func (o *Org) validateJournal() (errs []string) {
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if a := o.Journaling.Address; a != "" && !isAddress(a) {
		bad("journaling: address %q is not an address (local@domain)", a)
	}
	if len(o.JournalRules) > 0 && o.JournalingAddress() == "" {
		bad("journaling: no address, and no organization domain to make the default journaling@<domain> from")
	}
	names := map[string]bool{}
	for i, r := range o.JournalRules {
		what := fmt.Sprintf("journal_rule %q", r.Name)
		if r.Name == "" {
			what = fmt.Sprintf("journal_rule #%d", i+1)
			bad("%s: no name", what)
		} else if names[r.Name] {
			bad("%s: defined twice", what)
		}
		names[r.Name] = true
		scopes := 0
		for _, set := range []bool{r.Domain != "", len(r.Mailboxes) > 0, r.Group != ""} {
			if set {
				scopes++
			}
		}
		if scopes != 1 {
			bad("%s: wants exactly one scope (domain, mailboxes or group), has %d", what, scopes)
		}
		if r.Domain != "" && !o.IsOrgDomain(r.Domain) {
			bad("%s: domain %q is not a domain of the organization", what, r.Domain)
		}
		for _, m := range r.Mailboxes {
			if o.Find(m).Kind != MailboxEntry {
				bad("%s: %q is not a mailbox of the organization", what, m)
			}
		}
		if r.Group != "" && o.Find(r.Group).Kind != GroupEntry {
			bad("%s: group %q is not a distribution group of the organization", what, r.Group)
		}
		switch e := o.Find(r.Recipient); {
		case r.Recipient == "":
			bad("%s: no recipient", what)
		case !isAddress(r.Recipient):
			bad("%s: recipient %q is not an address (local@domain)", what, r.Recipient)
		case e.Kind == GroupEntry:
			// As Exchange: the journal recipient is a mailbox or a contact,
			// one archive, not a list that could change under it.
			bad("%s: recipient %q is a distribution group: journal to a mailbox of the organization or an external address", what, r.Recipient)
		case e.Kind == NotFound && o.IsOrgDomain(domainOf(r.Recipient)):
			bad("%s: recipient %q is unknown (no mailbox of the organization has it)", what, r.Recipient)
		case e.Kind == MailboxEntry && e.Mailbox.AlternateRecipient != "":
			bad("%s: recipient %q forwards to %q: journal reports are never forwarded, so the journal mailbox must not have an alternate_recipient", what, r.Recipient, e.Mailbox.AlternateRecipient)
		}
	}
	return errs
}

func isAddress(a string) bool {
	i := strings.LastIndexByte(a, '@')
	return i > 0 && i < len(a)-1
}
