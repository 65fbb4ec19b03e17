// Package journal is envelope journaling (docs/journaling.md): which
// messages the organization's journal rules select, and the journal
// report a journal recipient gets instead of the message — its envelope
// as the transport saw it, with the original attached unchanged. It is
// pure: the categorizer decides when to journal, delivery sends the
// report this package builds.
package journal

import (
	"slices"
	"strings"
)

// Rule is one [[journal_rule]] of the organization directory: a scope
// (exactly one of Domain, Mailboxes, Group) and the journal recipient.
// As Exchange's journal rules, it selects the messages sent to or from
// its scope.
type Rule struct {
	Name      string
	Domain    string
	Mailboxes []string
	Group     string
	Recipient string
}

// Dir is what matching needs from the directory.
type Dir interface {
	// Identity is what an address is counted by: a mailbox's primary
	// address (for any of its addresses), or the address itself.
	Identity(addr string) string
	// InGroup reports whether the address with identity id is a member
	// of the distribution group, directly or nested to any depth.
	InGroup(group, id string) bool
}

// InScope reports whether an address is in the rule's scope.
func (r *Rule) InScope(d Dir, addr string) bool {
	id := d.Identity(addr)
	switch {
	case r.Domain != "":
		return strings.EqualFold(domainOf(addr), r.Domain) || strings.EqualFold(domainOf(id), r.Domain)
	case len(r.Mailboxes) > 0:
		return slices.ContainsFunc(r.Mailboxes, func(m string) bool { return d.Identity(m) == id })
	case r.Group != "":
		return d.InGroup(r.Group, id)
	}
	return false
}

// Match returns the rules that select a message from sender to the
// recipients rcpts (after expansion), in the order given: a rule matches
// when the sender or any recipient is in its scope.
func Match(rules []Rule, d Dir, sender string, rcpts []string) []Rule {
	var out []Rule
	for _, r := range rules {
		hit := sender != "" && r.InScope(d, sender)
		for _, a := range rcpts {
			if hit {
				break
			}
			hit = r.InScope(d, a)
		}
		if hit {
			out = append(out, r)
		}
	}
	return out
}

// ByRecipient groups matched rules by their journal recipient (case
// folded), in first-seen order: one report per distinct journal
// recipient, naming every rule that asked for it.
func ByRecipient(rules []Rule) (addrs []string, names map[string][]string) {
	names = map[string][]string{}
	for _, r := range rules {
		a := strings.ToLower(r.Recipient)
		if _, ok := names[a]; !ok {
			addrs = append(addrs, a)
		}
		names[a] = append(names[a], r.Name)
	}
	return addrs, names
}

func domainOf(a string) string { return a[strings.LastIndexByte(a, '@')+1:] }
