package directory

import (
	"fmt"
	"strings"
)

// MayPost decides whether sender may send to group g, as the group's
// restrictions say (docs/categorizer.md): refused senders first (they win),
// then "accept only from authenticated senders", then the list of the
// only senders accepted. A sender or list entry that is a mailbox matches
// by any of its addresses; a list entry that is a group matches its
// members, nested to any depth. why names the group and the rule.
func (r *Recipients) MayPost(g *DistributionGroup, sender string, authenticated bool) (ok bool, why string) {
	id := r.identity(sender)
	if r.matchesAny(g.RejectFrom, id) {
		return false, fmt.Sprintf("%s does not accept mail from %s", g.Address, orNullSender(sender))
	}
	if g.AcceptOnlyAuthenticated && !authenticated {
		return false, fmt.Sprintf("%s accepts mail only from authenticated senders", g.Address)
	}
	if len(g.AcceptFrom) > 0 && !r.matchesAny(g.AcceptFrom, id) {
		return false, fmt.Sprintf("%s accepts mail only from the senders it lists", g.Address)
	}
	return true, ""
}

// identity is a sender's canonical address: a mailbox's primary one,
// else the address in lower case as the lists hold it (a refused
// sender must not get through by changing case).
func (r *Recipients) identity(sender string) string {
	if e, err := r.Find(sender); err == nil && e.Kind == MailboxEntry {
		return e.Mailbox.Address
	}
	return strings.ToLower(sender)
}

func (r *Recipients) matchesAny(list []string, id string) bool {
	if id == "" {
		return false
	}
	for _, entry := range list {
		e, _ := r.Find(entry)
		switch e.Kind {
		case MailboxEntry:
			if e.Mailbox.Address == id {
				return true
			}
		case GroupEntry:
			if r.isMember(e.Group, id, map[string]bool{}) {
				return true
			}
		default:
			if entry == id {
				return true
			}
		}
	}
	return false
}

// isMember reports whether id is in g, nested to any depth; seen ends
// cycles.
func (r *Recipients) isMember(g *DistributionGroup, id string, seen map[string]bool) bool {
	if seen[g.Address] {
		return false
	}
	seen[g.Address] = true
	for _, m := range g.Members {
		if m == id {
			return true
		}
		e, _ := r.Find(m)
		switch e.Kind {
		case MailboxEntry:
			if e.Mailbox.Address == id {
				return true
			}
		case GroupEntry:
			if r.isMember(e.Group, id, seen) {
				return true
			}
		}
	}
	return false
}

func orNullSender(s string) string {
	if s == "" {
		return "<>"
	}
	return s
}
