package main

import (
	"fmt"
	"io"

	"mailward/categorize"
	"mailward/directory"
	"mailward/journal"
)

// journalMatch is a journal rule that selects a message to the address
// resolved (docs/journaling.md): `directory resolve` shows it.
type journalMatch struct {
	Rule      string `json:"rule"`
	Recipient string `json:"recipient"`
}

// journaled lists the journal rules that select a message from sender
// ("" none given) to the recipients of the tree shown (hidden members,
// left out, are not looked at: the output must not tell them).
func journaled(org *directory.Org, sender string, root *categorize.Node) []journalMatch {
	if org == nil || len(org.JournalRules) == 0 {
		return nil
	}
	var addrs []string
	eachNode(root, func(n *categorize.Node) { addrs = append(addrs, n.Address) })
	rules := make([]journal.Rule, len(org.JournalRules))
	for i, r := range org.JournalRules {
		rules[i] = journal.Rule(r)
	}
	var out []journalMatch
	for _, r := range journal.Match(rules, org, sender, addrs) {
		out = append(out, journalMatch{Rule: r.Name, Recipient: r.Recipient})
	}
	return out
}

// printJournal is the text form's last lines.
func printJournal(w io.Writer, ms []journalMatch) {
	for _, m := range ms {
		fmt.Fprintf(w, "journaled: rule %s, a journal report to %s (once, by the first server of the organization that categorizes the message)\n",
			m.Rule, m.Recipient)
	}
}
