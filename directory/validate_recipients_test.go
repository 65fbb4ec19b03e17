package directory

import (
	"strings"
	"testing"
)

// The organization's recipients as `mailward config check` judges them:
// each broken entry is reported with what is wrong, and the valid
// organization it was broken from has no error at all (so each case's
// error comes from its own change).
func TestValidateRecipients(t *testing.T) {
	if errs, _ := newOrg(t, orgRecipients(t)).Validate(); len(errs) != 0 {
		t.Fatalf("valid organization refused: %v", errs)
	}
	group := func(f *OrgFile, addr string) *DistributionGroup {
		for i := range f.DistGroups {
			if f.DistGroups[i].Address == addr {
				return &f.DistGroups[i]
			}
		}
		t.Fatalf("no group %s", addr)
		return nil
	}
	cases := []struct {
		name   string
		change func(f *OrgFile)
		want   string
	}{
		// Members.
		{"unknown member", func(f *OrgFile) {
			g := group(f, "team@example.test")
			g.Members = append(g.Members, "ghost@example.test")
		}, `group "team@example.test": unknown member "ghost@example.test"`},
		{"member that is not an address", func(f *OrgFile) {
			g := group(f, "team@example.test")
			g.Members = append(g.Members, "bob")
		}, `group "team@example.test": member "bob" is not an address`},
		{"member listed twice", func(f *OrgFile) {
			g := group(f, "team@example.test")
			g.Members = append(g.Members, "Carol@Example.Test")
		}, `group "team@example.test": member "carol@example.test" listed twice`},
		// Nesting cycles, through two groups and onto itself.
		{"nesting cycle", func(f *OrgFile) {
			g := group(f, "team@example.test")
			g.Members = append(g.Members, "everyone@example.test")
		}, `group "everyone@example.test": nesting cycle everyone@example.test → team@example.test → everyone@example.test`},
		{"group member of itself", func(f *OrgFile) {
			g := group(f, "staff@example.test")
			g.Members = append(g.Members, "staff@example.test")
		}, `group "staff@example.test": nesting cycle staff@example.test → staff@example.test`},
		// One address, one entry: across mailboxes, proxies and groups.
		{"two mailboxes", func(f *OrgFile) {
			f.Mailboxes = append(f.Mailboxes, OrgMailbox{Address: "BOB@example.test", HomeServer: "mx1"})
		}, `address "bob@example.test" belongs to mailbox "bob@example.test" and to mailbox "bob@example.test"`},
		{"proxy address of another mailbox", func(f *OrgFile) {
			f.Mailboxes[1].ProxyAddresses = []string{"a.smith@example.test"}
		}, `address "a.smith@example.test" belongs to mailbox "alice@example.test" (proxy address) and to mailbox "bob@example.test" (proxy address)`},
		{"proxy address that is another's primary", func(f *OrgFile) {
			f.Mailboxes[1].ProxyAddresses = []string{"carol@example.test"}
		}, `address "carol@example.test" belongs to mailbox "bob@example.test" (proxy address) and to mailbox "carol@example.test"`},
		{"group with a mailbox's proxy address", func(f *OrgFile) {
			f.DistGroups = append(f.DistGroups, DistributionGroup{Address: "c.jones@example.test", Members: []string{"bob@example.test"}})
		}, `address "c.jones@example.test" belongs to mailbox "carol@example.test" (proxy address) and to group "c.jones@example.test"`},
		{"group with a mailbox's address", func(f *OrgFile) {
			f.DistGroups = append(f.DistGroups, DistributionGroup{Address: "bob@example.test"})
		}, `address "bob@example.test" belongs to mailbox "bob@example.test" and to group "bob@example.test"`},
		{"address outside the organization's domains", func(f *OrgFile) {
			f.Mailboxes[0].ProxyAddresses = append(f.Mailboxes[0].ProxyAddresses, "alice@elsewhere.test")
		}, `mailbox "alice@example.test" (proxy address): "alice@elsewhere.test" is not in a domain of the organization`},
		{"address without a domain", func(f *OrgFile) {
			f.Mailboxes = append(f.Mailboxes, OrgMailbox{Address: "erin@", HomeServer: "mx1"})
		}, `"erin@" is not an address (local@domain)`},
		// Servers.
		{"home server not in the directory", func(f *OrgFile) { f.Mailboxes[1].HomeServer = "mx9" },
			`mailbox "bob@example.test": home_server "mx9" is not a server of the organization`},
		{"no home server with two servers", func(f *OrgFile) { f.Mailboxes[1].HomeServer = "" },
			`mailbox "bob@example.test": no home_server (the organization has 2 servers)`},
		{"expansion server not in the directory", func(f *OrgFile) { group(f, "staff@example.test").ExpansionServer = "mx9" },
			`group "staff@example.test": expansion_server "mx9" is not a server of the organization`},
		// Delivery reports.
		{"owner reports without an owner", func(f *OrgFile) { group(f, "team@example.test").DeliveryReports = "owner" },
			`group "team@example.test": delivery_reports = "owner" needs an owner address`},
		{"unknown delivery_reports", func(f *OrgFile) { group(f, "team@example.test").DeliveryReports = "manager" },
			`group "team@example.test": delivery_reports "manager": want sender, owner or none`},
		// Alternate recipients.
		{"deliver_to_both without an alternate", func(f *OrgFile) { f.Mailboxes[1].DeliverToBoth = true },
			`mailbox "bob@example.test": deliver_to_both without an alternate_recipient`},
		{"alternate that is not an address", func(f *OrgFile) { f.Mailboxes[1].AlternateRecipient = "carol" },
			`mailbox "bob@example.test": alternate_recipient "carol" is not an address`},
		{"alternate that is the mailbox itself, by a proxy address", func(f *OrgFile) {
			f.Mailboxes[0].AlternateRecipient = "A.Smith@example.test"
		}, `mailbox "alice@example.test": alternate_recipient "a.smith@example.test" is the mailbox itself`},
		{"alternate unknown in the organization", func(f *OrgFile) { f.Mailboxes[1].AlternateRecipient = "ghost@example.test" },
			`mailbox "bob@example.test": alternate_recipient "ghost@example.test" is unknown (no mailbox or group of the organization has it)`},
		{"owner unknown in the organization", func(f *OrgFile) {
			g := group(f, "team@example.test")
			g.DeliveryReports, g.Owner = "owner", "ghost@example.test"
		}, `group "team@example.test": owner "ghost@example.test" is unknown (no mailbox or group of the organization has it)`},
		// Restrictions.
		{"accept_from an unknown sender", func(f *OrgFile) {
			group(f, "staff@example.test").AcceptFrom = []string{"ghost@example.test"}
		}, `group "staff@example.test": accept_from/reject_from: unknown sender or group "ghost@example.test"`},
		{"reject_from an unknown sender", func(f *OrgFile) {
			group(f, "staff@example.test").RejectFrom = []string{"nobody@example.test"}
		}, `group "staff@example.test": accept_from/reject_from: unknown sender or group "nobody@example.test"`},
		{"accept_from entry that is not an address", func(f *OrgFile) {
			group(f, "staff@example.test").AcceptFrom = []string{"bob"}
		}, `group "staff@example.test": accept_from/reject_from: "bob" is not an address`},
		// Domains and logins.
		{"domain listed twice", func(f *OrgFile) { f.Domains = append(f.Domains, OrgDomain{Name: "Example.Test."}) },
			`organization domain "example.test" listed twice`},
		{"password that is not a bcrypt hash", func(f *OrgFile) { f.Mailboxes[1].PasswordHash = "bob-secret" },
			`mailbox "bob@example.test": password_hash must be a bcrypt hash`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := orgRecipients(t)
			c.change(&f)
			errs, _ := newOrg(t, f).Validate()
			if !containsLine(errs, c.want) {
				t.Fatalf("Validate errors lack\n  %s\ngot:\n  %s", c.want, strings.Join(errs, "\n  "))
			}
		})
	}
}

// What the administrator may leave out or write otherwise: it is not an
// error, and the defaults are filled in.
func TestValidateRecipientsAccepts(t *testing.T) {
	f := orgRecipients(t)
	g := &f.DistGroups[1]
	g.DeliveryReports, g.Owner = "OWNER", "Bob@Example.Test" // an owner of the organization, any case
	f.DistGroups[2].DeliveryReports = "none"
	f.DistGroups[2].AcceptFrom = []string{"team@example.test", "c.jones@example.test", "partner@remote.test"} // a group, a proxy, an external address
	f.DistGroups[2].RejectFrom = []string{"everyone@example.test"}
	f.DistGroups[2].ExpansionServer = "MX2"
	f.Mailboxes[1].AlternateRecipient, f.Mailboxes[1].DeliverToBoth = "bob.home@remote.test", true
	f.Mailboxes[2].AlternateRecipient = "a.smith@example.test" // another mailbox, by its proxy address
	o := newOrg(t, f)
	if errs, _ := o.Validate(); len(errs) != 0 {
		t.Fatalf("refused: %v", errs)
	}
	if got := o.Find("everyone@example.test").Group.DeliveryReports; got != ReportsToSender {
		t.Errorf("delivery_reports left out: %q, want %q", got, ReportsToSender)
	}
	if g := o.Find("team@example.test").Group; g.DeliveryReports != ReportsToOwner || g.Owner != "bob@example.test" {
		t.Errorf("team: reports %q to %q, want owner to bob@example.test", g.DeliveryReports, g.Owner)
	}
	if s := o.Find("staff@example.test").Group.ExpansionServer; s != "mx2" {
		t.Errorf("expansion_server %q, want mx2", s)
	}

	// One server: a mailbox without home_server is homed on it.
	one := orgRecipients(t)
	one.Servers = one.Servers[:1]
	for i := range one.Mailboxes {
		one.Mailboxes[i].HomeServer = ""
	}
	o = newOrg(t, one)
	if errs, _ := o.Validate(); len(errs) != 0 {
		t.Fatalf("one server, no home_server: %v", errs)
	}
	if h := o.Find("c.jones@example.test").Mailbox.HomeServer; h != "mx1" {
		t.Errorf("one server: home_server %q, want mx1", h)
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if strings.Contains(l, want) {
			return true
		}
	}
	return false
}
