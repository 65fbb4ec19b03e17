package main

import (
	"strings"
	"testing"

	"mailward/directory"
)

// `directory resolve` names the journal rules that select a message to
// the address: by a member of a group, by the sender, and none for an
// address no rule covers; a hidden member does not show through.
func TestResolveJournal(t *testing.T) {
	f := resolveDirectory()
	f.Mailboxes = append(f.Mailboxes, directory.OrgMailbox{Address: "journal@example.test", HomeServer: "mx1"})
	f.JournalRules = []directory.JournalRule{{Name: "alice", Mailboxes: []string{"alice@example.test"}, Recipient: "journal@example.test"}}
	dir := writeResolveConfig(t, f)
	const line = "journaled: rule alice, a journal report to journal@example.test (once, by the first server of the organization that categorizes the message)\n"
	for _, c := range []struct {
		args string
		want bool
	}{
		{"everyone@example.test --config mx1.toml", true},                          // alice is a member
		{"bob@example.test --config mx1.toml --sender a.smith@example.test", true}, // alice sends, by her proxy
		{"bob@example.test --config mx1.toml", false},
	} {
		out, err := runResolve(t, dir, strings.Fields(c.args)...)
		if err != nil && !strings.Contains(err.Error(), "resolves to no one") {
			t.Fatalf("resolve %s: %v", c.args, err)
		}
		if strings.HasSuffix(out, line) != c.want {
			t.Errorf("resolve %s: journaled line shown %v, want %v:\n%s", c.args, !c.want, c.want, out)
		}
	}
	// dave is a hidden member of board@: the rule that journals him is
	// named only with --show-hidden.
	f.JournalRules = append(f.JournalRules, directory.JournalRule{Name: "dave", Mailboxes: []string{"dave@example.test"}, Recipient: "journal@example.test"})
	dir = writeResolveConfig(t, f)
	for _, show := range []bool{false, true} {
		args := []string{"board@example.test", "--config", "mx1.toml"}
		if show {
			args = append(args, "--show-hidden")
		}
		out, _ := runResolve(t, dir, args...)
		if got := strings.Contains(out, "journaled: rule dave,"); got != show {
			t.Errorf("board@ with --show-hidden=%v: rule dave named %v:\n%s", show, got, out)
		}
	}
}
