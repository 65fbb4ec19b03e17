package directory

import (
	"strings"
	"testing"
)

// The journal rules as `mailward config check` judges them: each broken
// rule is reported with what is wrong, and the valid rules it was broken
// from give no error.
func TestValidateJournalRules(t *testing.T) {
	valid := func() OrgFile {
		f := orgRecipients(t)
		f.Mailboxes = append(f.Mailboxes, OrgMailbox{Address: "journal@example.test", HomeServer: "mx1"})
		f.JournalRules = []JournalRule{
			{Name: "alice", Mailboxes: []string{"a.smith@example.test"}, Recipient: "journal@example.test"},
			{Name: "team", Group: "team@example.test", Recipient: "vault@archive.test"},
			{Name: "all", Domain: "Example.Test.", Recipient: "journal@example.test"},
		}
		return f
	}
	o := newOrg(t, valid())
	if errs, _ := o.Validate(); len(errs) != 0 {
		t.Fatalf("valid rules refused: %v", errs)
	}
	if a := o.JournalingAddress(); a != "journaling@example.test" {
		t.Errorf("default journaling address %q, want journaling@example.test", a)
	}
	cases := []struct {
		name   string
		change func(f *OrgFile)
		want   string
	}{
		{"two scopes", func(f *OrgFile) { f.JournalRules[0].Domain = "example.test" }, `journal_rule "alice": wants exactly one scope (domain, mailboxes or group), has 2`},
		{"no scope", func(f *OrgFile) { f.JournalRules[0].Mailboxes = nil }, `journal_rule "alice": wants exactly one scope (domain, mailboxes or group), has 0`},
		{"unknown mailbox", func(f *OrgFile) { f.JournalRules[0].Mailboxes = []string{"ghost@example.test"} }, `journal_rule "alice": "ghost@example.test" is not a mailbox of the organization`},
		{"group as mailbox", func(f *OrgFile) { f.JournalRules[0].Mailboxes = []string{"team@example.test"} }, `journal_rule "alice": "team@example.test" is not a mailbox of the organization`},
		{"unknown group", func(f *OrgFile) { f.JournalRules[1].Group = "ghosts@example.test" }, `journal_rule "team": group "ghosts@example.test" is not a distribution group`},
		{"foreign domain", func(f *OrgFile) { f.JournalRules[2].Domain = "partner.test" }, `journal_rule "all": domain "partner.test" is not a domain of the organization`},
		{"no recipient", func(f *OrgFile) { f.JournalRules[0].Recipient = "" }, `journal_rule "alice": no recipient`},
		{"recipient not an address", func(f *OrgFile) { f.JournalRules[0].Recipient = "journal" }, `journal_rule "alice": recipient "journal" is not an address`},
		{"unknown recipient", func(f *OrgFile) { f.JournalRules[0].Recipient = "ghost@example.test" }, `journal_rule "alice": recipient "ghost@example.test" is unknown`},
		{"group recipient", func(f *OrgFile) { f.JournalRules[0].Recipient = "staff@example.test" }, `journal_rule "alice": recipient "staff@example.test" is a distribution group`},
		{"forwarding recipient", func(f *OrgFile) {
			f.Mailboxes[len(f.Mailboxes)-1].AlternateRecipient = "bob@example.test"
			f.JournalRules = f.JournalRules[:2]
		}, `journal_rule "alice": recipient "journal@example.test" forwards to "bob@example.test"`},
		{"no name", func(f *OrgFile) { f.JournalRules[1].Name = "" }, `journal_rule #2: no name`},
		{"name twice", func(f *OrgFile) { f.JournalRules[1].Name = "alice" }, `journal_rule "alice": defined twice`},
		{"bad journaling address", func(f *OrgFile) { f.Journaling = &Journaling{Address: "journaling"} }, `journaling: address "journaling" is not an address`},
	}
	for _, c := range cases {
		f := valid()
		c.change(&f)
		errs, _ := newOrg(t, f).Validate()
		if len(errs) != 1 || !strings.Contains(errs[0], c.want) {
			t.Errorf("%s: errors %q, want one with %q", c.name, errs, c.want)
		}
	}
}

// A group scope takes members nested to any depth, by any of their
// addresses; a cycle ends the walk.
func TestInGroup(t *testing.T) {
	f := orgRecipients(t)
	f.DistGroups = append(f.DistGroups, DistributionGroup{Address: "loop@example.test", Members: []string{"loop@example.test"}})
	o := newOrg(t, f)
	for _, c := range []struct {
		group, id string
		want      bool
	}{
		{"everyone@example.test", "carol@example.test", true}, // through team@
		{"team@example.test", "alice@example.test", true},
		{"team@example.test", "bob@example.test", false},
		{"loop@example.test", "bob@example.test", false},
	} {
		if got := o.InGroup(c.group, c.id); got != c.want {
			t.Errorf("InGroup(%s, %s) = %v, want %v", c.group, c.id, got, c.want)
		}
	}
}
