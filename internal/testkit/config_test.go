package testkit

import (
	"strings"
	"testing"

	"mailward/config"
)

// What the builder writes is what mailward reads: every field reaches
// the loaded configuration, and zero values leave their keys out.
func TestConfigLoads(t *testing.T) {
	c := NewConfig()
	c.Diagnostics = map[string]string{"smtp_receive": "maximum"}
	c.TLS = &TLSFiles{CertFile: "cert.pem", KeyFile: "key.pem"}
	c.Queue = &Queue{RetrySchedule: []string{"1s", "1h"}, Workers: 2, MaxAge: "2h", DelayWarning: "1h"}
	c.DNS = &DNS{Server: "127.0.0.1:5353"}
	c.Categorizer = &Categorizer{MaxExpandedRecipients: 5, LocalDeliveries: 2}
	c.Delivery = &Delivery{ConnectTimeout: "5s", RemotePort: 2525, SmartHost: "[127.0.0.2]:25", MaxPerDestination: 4}
	c.Directory = &Directory{File: "recipients.toml"}
	c.Organization = &Organization{Name: "Example", Self: "mx1", File: "organization.toml", PasswordFile: "secret",
		SuppressExternal: Bool(false)}
	c.Domains[0].RecipientFiltering = Bool(false)
	c.Mailboxes = append(Mailboxes("bob@example.test"), Mailbox{Address: "alice@example.test", PasswordHash: "$2a$10$x"})
	c.VirtualServers = append(c.VirtualServers, VirtualServer{Name: "submission", FQDN: "submit.example.test", TLS: "required",
		Auth: []string{"PLAIN", "LOGIN"}, AuthPlaintext: true, RelayAuthenticated: true, AuthFailureDelay: "10ms",
		IdleTimeout: "2s", RelayNetworks: []string{"127.0.0.1/32"}, OrgAuth: []string{"LOGIN"}, MaxConnections: 60,
		MaxConnectionsPerIP: 6})
	c.Routes = []Route{{Domain: "remote.test", SmartHost: "[127.0.0.1]:2526", TLS: "required"}}
	c.ListenOnFreePorts(t)
	if a, b := c.VirtualServers[0].Address, c.VirtualServer("submission").Address; a == b || !strings.HasPrefix(a, "127.0.0.1:") {
		t.Errorf("virtual server addresses %q, %q", a, b)
	}
	text := c.TOML()
	got, err := config.Parse([]byte(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	sub := got.VirtualServers[1]
	if got.Server.FQDN != "mx1.example.test" || got.Server.DefaultDomain != "example.test" || got.Queue.Workers != 2 ||
		len(got.Queue.RetrySchedule) != 2 || got.DNS.Server != "127.0.0.1:5353" || got.Delivery.RemotePort != 2525 ||
		got.Delivery.MaxPerDestination != 4 || got.Directory.File != "recipients.toml" || got.Organization.Self != "mx1" ||
		got.Organization.SuppressExternal == nil || *got.Organization.SuppressExternal || got.TLS.CertFile != "cert.pem" ||
		*got.Domains[0].RecipientFiltering || got.Mailboxes[1].PasswordHash != "$2a$10$x" || len(got.Routes) != 1 ||
		sub.FQDN != "submit.example.test" || !sub.RelayAuthenticated || !sub.AuthPlaintext || len(sub.Auth) != 2 ||
		sub.MaxConnectionsPerIP != 6 || len(sub.OrgAuth) != 1 || sub.Address != c.VirtualServers[1].Address {
		t.Errorf("the loaded configuration differs from the built one:\n%s\n%+v", text, got)
	}
	if got.Categorizer.MaxExpandedRecipients != 5 || got.Categorizer.LocalDeliveries != 2 {
		t.Errorf("categorizer %+v", got.Categorizer)
	}
	if got.Diagnostics["smtp_receive"] != config.DiagMaximum {
		t.Errorf("diagnostics %v", got.Diagnostics)
	}

	// The defaults: only what NewConfig sets is written.
	plain := NewConfig()
	plain.VirtualServers[0].Address = "127.0.0.1:2525"
	want := "[server]\nfqdn = 'mx1.example.test'\ndefault_domain = 'example.test'\ndata_dir = 'data'\n\n" +
		"[[domain]]\nname = 'example.test'\ntarpit = '10ms'\n\n" +
		"[[virtual_server]]\nname = 'default'\naddress = '127.0.0.1:2525'\ntls = 'none'\n"
	if got := plain.TOML(); got != want {
		t.Errorf("NewConfig renders\n%s\nwant\n%s", got, want)
	}
}
