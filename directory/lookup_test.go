package directory

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

// Recipients.Find: an organization address by its primary or a proxy
// address, in any case, resolves to the mailbox (primary address and
// home server) or the group; this server's own [[mailbox]]es resolve as
// homed here; an unknown address is NotFound, not an error.
func TestRecipientsFind(t *testing.T) {
	r := recipientsOf(newOrg(t, orgRecipients(t)), "mx1")
	cases := []struct {
		addr string
		kind EntryKind
		want string // primary address
		home string
	}{
		{"alice@example.test", MailboxEntry, "alice@example.test", "mx1"},
		{"A.Smith@Example.TEST", MailboxEntry, "alice@example.test", "mx1"}, // proxy, any case
		{"c.jones@example.test", MailboxEntry, "carol@example.test", "mx2"},
		{"Team@example.test", GroupEntry, "team@example.test", ""},
		{"dave@local.test", MailboxEntry, "dave@local.test", ""}, // this server's own mailbox
		{"ghost@example.test", NotFound, "", ""},
		{"ghost@local.test", NotFound, "", ""},
		{"friend@remote.test", NotFound, "", ""},
	}
	for _, c := range cases {
		e, err := r.Find(c.addr)
		if err != nil {
			t.Errorf("Find(%s): %v", c.addr, err)
			continue
		}
		if e.Kind != c.kind || e.Address() != c.want {
			t.Errorf("Find(%s) = kind %d %q, want kind %d %q", c.addr, e.Kind, e.Address(), c.kind, c.want)
			continue
		}
		if e.Kind == MailboxEntry {
			if e.Mailbox.HomeServer != c.home {
				t.Errorf("Find(%s): home server %q, want %q", c.addr, e.Mailbox.HomeServer, c.home)
			}
			if here := r.IsHere(e.Mailbox.HomeServer); here != (c.home == "" || c.home == "mx1") {
				t.Errorf("Find(%s): IsHere(%q) = %v on mx1", c.addr, e.Mailbox.HomeServer, here)
			}
		}
	}
	for _, d := range []string{"example.test", "EXAMPLE.test", "local.test"} {
		if !r.IsLocalDomain(d) {
			t.Errorf("IsLocalDomain(%s) = false", d)
		}
	}
	if r.IsLocalDomain("remote.test") {
		t.Error("IsLocalDomain(remote.test) = true")
	}
	if s, ok := r.Server("MX2"); !ok || s.FQDN != "mx2.example.test" {
		t.Errorf("Server(MX2) = %+v, %v", s, ok)
	}
	if r.IsHere("mx2") {
		t.Error("IsHere(mx2) on mx1")
	}
}

// Without an organization (a standalone server) only the server's own
// domains and mailboxes answer; an organization domain that is also one
// of the server's [[domain]]s still finds the server's own mailboxes.
func TestRecipientsFindLocal(t *testing.T) {
	standalone := &Recipients{Local: New([]string{"example.test"}, []Mailbox{{Address: "alice@example.test"}}, "")}
	if e, err := standalone.Find("ALICE@example.test"); err != nil || e.Kind != MailboxEntry || e.Mailbox.HomeServer != "" {
		t.Errorf("standalone Find: %+v, %v", e, err)
	}
	if _, ok := standalone.Server("mx1"); ok || standalone.IsLocalDomain("remote.test") {
		t.Error("a standalone server has no organization")
	}

	o := newOrg(t, orgRecipients(t))
	both := &Recipients{Local: New([]string{"example.test"}, []Mailbox{{Address: "erin@example.test"}, {Address: "alice@example.test"}}, ""),
		Org: func() *Org { return o }, Self: "mx2"}
	if e, _ := both.Find("erin@example.test"); e.Kind != MailboxEntry || e.Mailbox.HomeServer != "" {
		t.Errorf("own mailbox in an organization domain: %+v", e)
	}
	// The organization's entry wins: alice is homed on mx1, not here.
	if e, _ := both.Find("alice@example.test"); e.Kind != MailboxEntry || e.Mailbox.HomeServer != "mx1" {
		t.Errorf("organization mailbox also in the server's list: %+v, want homed on mx1", e)
	}
}

// A recipients file that cannot be read makes lookups of the server's
// own domains fail (the caller defers), while the organization's
// recipients still resolve.
func TestRecipientsFindUnavailable(t *testing.T) {
	o := newOrg(t, orgRecipients(t))
	missing := filepath.Join(t.TempDir(), "gone.toml")
	r := &Recipients{Local: New([]string{"local.test", "example.test"}, nil, missing), Org: func() *Org { return o }, Self: "mx1"}
	if _, err := r.Find("dave@local.test"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("own domain with the recipients file gone: %v, want ErrUnavailable", err)
	}
	if e, err := r.Find("c.jones@example.test"); err != nil || e.Address() != "carol@example.test" {
		t.Errorf("organization recipient with the recipients file gone: %+v, %v", e, err)
	}
}

// AUTH: an organization mailbox logs in by its primary or a proxy
// address, in any case; a wrong password, a mailbox without a password,
// a group and an unknown user are all refused; the server's own
// mailboxes still log in.
func TestRecipientsAuthenticate(t *testing.T) {
	f := orgRecipients(t)
	o := newOrg(t, f)
	local := New([]string{"local.test"}, []Mailbox{{Address: "dave@local.test", PasswordHash: hash(t, "dave-secret")}}, "")
	r := &Recipients{Local: local, Org: func() *Org { return o }, Self: "mx2"}
	cases := []struct {
		user, password string
		ok             bool
	}{
		{"alice@example.test", "alice-secret", true},
		{"a.smith@example.test", "alice-secret", true},
		{"Alice@Example.Test", "alice-secret", true},
		{"alice@example.test", "Alice-secret", false},
		{"a.smith@example.test", "wrong", false},
		{"bob@example.test", "", false},                  // no password_hash: no login
		{"everyone@example.test", "alice-secret", false}, // a group
		{"ghost@example.test", "alice-secret", false},
		{"dave@local.test", "dave-secret", true},
		{"dave@local.test", "alice-secret", false},
	}
	for _, c := range cases {
		ok, err := r.Authenticate(c.user, c.password)
		if err != nil || ok != c.ok {
			t.Errorf("Authenticate(%s, %s) = %v, %v; want %v", c.user, c.password, ok, err, c.ok)
		}
	}
}

// An organization directory that may not be used now (an LDAP copy
// expired during an outage: Available fails) makes every lookup and
// login of an organization domain fail with ErrUnavailable — the
// caller defers, never answers "no such user" — while the domain stays
// local (no relay) and the server's own domains still answer.
func TestRecipientsOrgUnavailable(t *testing.T) {
	o := newOrg(t, orgRecipients(t))
	down := fmt.Errorf("%w: ldap down", ErrUnavailable)
	local := New([]string{"local.test"}, []Mailbox{{Address: "dave@local.test", PasswordHash: hash(t, "dave-secret")}}, "")
	r := &Recipients{Local: local, Org: func() *Org { return o }, Self: "mx1", Available: func() error { return down }}
	for _, a := range []string{"alice@example.test", "ghost@example.test"} {
		if _, err := r.Find(a); !errors.Is(err, ErrUnavailable) {
			t.Errorf("Find(%s) with the directory down: %v, want ErrUnavailable", a, err)
		}
	}
	if _, err := r.Authenticate("alice@example.test", "alice-secret"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Authenticate with the directory down: %v", err)
	}
	if !r.IsLocalDomain("example.test") {
		t.Error("the organization's domain stopped being local during an outage: relay")
	}
	if e, err := r.Find("dave@local.test"); err != nil || e.Kind != MailboxEntry {
		t.Errorf("own mailbox during the organization's outage: %+v %v", e, err)
	}
	if ok, err := r.Authenticate("dave@local.test", "dave-secret"); !ok || err != nil {
		t.Errorf("own login during the organization's outage: %v %v", ok, err)
	}
}
