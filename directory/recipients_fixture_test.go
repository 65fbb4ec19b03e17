package directory

import (
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// hash is a bcrypt hash of password at the lowest cost (a test needs the
// format, not the strength).
func hash(t testing.TB, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// orgRecipients is a valid organization of two servers with recipients:
// alice (proxy a.smith) on mx1, bob and carol on mx2; everyone = alice,
// bob, team and an external friend; team = alice and carol; staff
// accepts only authenticated senders.
func orgRecipients(t testing.TB) OrgFile {
	t.Helper()
	secret := hash(t, "mx-secret")
	return OrgFile{
		Servers: []OrgServer{
			{Name: "mx1", FQDN: "mx1.example.test", Auth: "login", PasswordHash: secret},
			{Name: "mx2", FQDN: "mx2.example.test", Auth: "login", PasswordHash: secret},
		},
		Domains: []OrgDomain{{Name: "example.test"}},
		Mailboxes: []OrgMailbox{
			{Address: "alice@example.test", ProxyAddresses: []string{"a.smith@example.test"}, HomeServer: "mx1",
				PasswordHash: hash(t, "alice-secret")},
			{Address: "bob@example.test", HomeServer: "mx2"},
			{Address: "carol@example.test", ProxyAddresses: []string{"c.jones@example.test"}, HomeServer: "mx2"},
		},
		DistGroups: []DistributionGroup{
			{Address: "everyone@example.test", Members: []string{"alice@example.test", "bob@example.test", "team@example.test", "friend@remote.test"}},
			{Address: "team@example.test", Members: []string{"alice@example.test", "carol@example.test"}},
			{Address: "staff@example.test", Members: []string{"bob@example.test", "carol@example.test"}, AcceptOnlyAuthenticated: true},
		},
	}
}

// newOrg builds (and normalizes) the organization of f, without
// validating it: a test may want one in a state Validate refuses.
func newOrg(t testing.TB, f OrgFile) *Org {
	t.Helper()
	o, err := NewOrg("Example", f, "")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// recipientsOf is the one lookup over o for server self, with this
// server's own domain local.test and its mailbox dave.
func recipientsOf(o *Org, self string) *Recipients {
	local := New([]string{"local.test"}, []Mailbox{{Address: "dave@local.test"}}, "")
	return &Recipients{Local: local, Org: func() *Org { return o }, Self: self}
}
