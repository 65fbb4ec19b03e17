package testkit

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"mailward/directory"
)

// What the directory builder writes is what mailward reads, strictly:
// every field reaches the loaded organization, and it validates.
func TestOrgDirectoryLoads(t *testing.T) {
	hash := "$2a$04$abcdefghijklmnopqrstuu5Ud6BsEJJ7UG8yVwLEdINCYLq6OmD6W"
	d := &OrgDirectory{
		Servers: []OrgServer{
			{Name: "mx1", FQDN: "mx1.example.test", DeliveryAddress: "127.0.0.1:2725", Auth: "login", PasswordHash: hash},
			{Name: "mx2", FQDN: "mx2.example.test", Addresses: []string{"127.0.0.2"}, Auth: "login", PasswordHash: hash},
		},
		Groups:      []OrgGroup{{Name: "domain-servers", Members: []string{"mx1", "mx2"}}},
		Permissions: []Permission{{Right: "send-as", Principal: "domain-servers", Type: "allow"}},
		Domains:     []OrgDomain{{Name: "example.test"}},
		Mailboxes: []OrgMailbox{
			{Address: "alice@example.test", ProxyAddresses: []string{"a@example.test"}, HomeServer: "mx2",
				AlternateRecipient: "bob@example.test", DeliverToBoth: true},
			{Address: "bob@example.test", HomeServer: "mx1", PasswordHash: hash},
		},
		DistGroups: []DistributionGroup{
			{Address: "all@example.test", Members: []string{"alice@example.test", "team@example.test"}, ExpansionServer: "mx2",
				HideMembership: true, AcceptOnlyAuthenticated: true, AcceptFrom: []string{"bob@example.test"},
				RejectFrom: []string{"a@example.test"}, DeliveryReports: "owner", Owner: "bob@example.test"},
			{Address: "team@example.test", Members: []string{"bob@example.test", "someone@elsewhere.test"}},
		},
	}
	file := filepath.Join(t.TempDir(), "organization.toml")
	if err := os.WriteFile(file, []byte(d.TOML()), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := directory.NewOrg("Example", directory.OrgFile{}, file)
	if err != nil {
		t.Fatalf("%v\n%s", err, d.TOML())
	}
	if errs, _ := o.Validate(); len(errs) > 0 {
		t.Fatalf("the built directory does not validate: %v\n%s", errs, d.TOML())
	}
	want := directory.DistributionGroup{Address: "all@example.test", Members: []string{"alice@example.test", "team@example.test"},
		ExpansionServer: "mx2", HideMembership: true, AcceptOnlyAuthenticated: true, AcceptFrom: []string{"bob@example.test"},
		RejectFrom: []string{"a@example.test"}, DeliveryReports: "owner", Owner: "bob@example.test"}
	if len(o.DistGroups) != 2 || !reflect.DeepEqual(o.DistGroups[0], want) {
		t.Errorf("groups %+v, want first %+v", o.DistGroups, want)
	}
	alice := o.Find("a@example.test")
	if alice.Kind != directory.MailboxEntry || alice.Mailbox.HomeServer != "mx2" || alice.Mailbox.AlternateRecipient != "bob@example.test" ||
		!alice.Mailbox.DeliverToBoth {
		t.Errorf("alice by her proxy address: %+v", alice.Mailbox)
	}
	if s, ok := o.ServerByName("mx1"); !ok || s.DeliveryAddress != "127.0.0.1:2725" || o.Servers[1].Addresses[0] != "127.0.0.2" {
		t.Errorf("servers %+v", o.Servers)
	}
	if !o.Effective("mx2", "send-as").Allowed {
		t.Errorf("mx2 lacks send-as: %+v", o.Effective("mx2", "send-as"))
	}
}
