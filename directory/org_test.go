package directory

import (
	"strings"
	"testing"
)

func testOrg() *Org {
	o := &Org{
		Servers: []OrgServer{
			{Name: "mx1", FQDN: "mx1.example.test", Auth: "gssapi", SPNs: []string{"SMTP/mx1", "SMTP/mx1.example.test", "SMTPSVC/mx1", "SMTPSVC/mx1.example.test"}},
			{Name: "mx2", FQDN: "mx2.example.test", Auth: "gssapi", SPNs: []string{"SMTP/mx2", "SMTP/mx2.example.test", "SMTPSVC/mx2"}},
			{Name: "mx3", FQDN: "mx3.example.test", Auth: "login", PasswordHash: "$2a$10$x"},
		},
		Groups: []OrgGroup{
			{Name: "domain-servers", Members: []string{"mx1", "mx2", "mx3"}},
			{Name: "site-a", Members: []string{"mx2"}},
			{Name: "all-infrastructure", Members: []string{"domain-servers"}},
		},
		Permissions: []Permission{{Right: "send-as", Principal: "domain-servers", Type: "allow"}},
	}
	o.Normalize()
	return o
}

// KB843106: the right is inherited through the servers group, and a DENY
// wins wherever it sits: on that group, on another group the server is
// in, or on a group the servers group is nested in.
func TestEffectiveSendAs(t *testing.T) {
	o := testOrg()
	if d := o.Effective("mx2", RightSendAs); !d.Allowed || !strings.Contains(d.Reason, "mx2 → domain-servers") {
		t.Fatalf("inherited ALLOW: %+v", d)
	}
	cases := []struct{ name, principal, wantChain string }{
		{"deny on the servers group", "domain-servers", "mx2 → domain-servers"},
		{"deny on a group the server is also in", "site-a", "mx2 → site-a"},
		{"deny on a group the servers group is nested in", "all-infrastructure", "mx2 → domain-servers → all-infrastructure"},
		{"deny on the server itself", "mx2", "mx2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := testOrg()
			o.Permissions = append(o.Permissions, Permission{Right: "send-as", Principal: c.principal, Type: "deny"})
			d := o.Effective("mx2", RightSendAs)
			if d.Allowed || !strings.HasPrefix(d.Reason, "DENY send-as") || !strings.Contains(d.Reason, c.wantChain) {
				t.Fatalf("got %+v, want a DENY via %s", d, c.wantChain)
			}
			if c.principal == "site-a" && !o.Effective("mx1", RightSendAs).Allowed {
				t.Fatal("a DENY on site-a must not touch mx1")
			}
		})
	}
	if d := o.Effective("stranger", RightSendAs); d.Allowed {
		t.Fatalf("a server outside the organization got %+v", d)
	}
}

func TestDefaultServersGroup(t *testing.T) {
	o := &Org{Servers: []OrgServer{{Name: "MX1", FQDN: "MX1.Example.Test."}}}
	o.Normalize()
	if len(o.Groups) != 1 || o.Groups[0].Name != DefaultServersGroup || !o.Effective("mx1", RightSendAs).Allowed {
		t.Fatalf("default group missing: %+v", o)
	}
	if s, ok := o.ServerByFQDN("mx1.example.test"); !ok || s.Name != "mx1" {
		t.Fatal("FQDN lookup")
	}
}

func TestValidateOrg(t *testing.T) {
	o := testOrg()
	o.Groups = append(o.Groups, OrgGroup{Name: "loop-a", Members: []string{"loop-b"}}, OrgGroup{Name: "loop-b", Members: []string{"loop-a", "ghost", "ghost"}})
	o.Permissions = append(o.Permissions, Permission{Right: "send-as", Principal: "nobody", Type: "allow"}, Permission{Right: "read", Principal: "mx1", Type: "maybe"})
	o.Servers = append(o.Servers, OrgServer{Name: "mx1", FQDN: "other.example.test", Auth: "gssapi"})
	o.Servers[1].SPNs = append(o.Servers[1].SPNs, "SMTP/mx1") // duplicate with mx1
	errs, warns := o.Validate()
	all := strings.Join(errs, "\n")
	for _, want := range []string{`unknown member "ghost"`, `member "ghost" listed twice`, "membership cycle", `unknown principal "nobody"`,
		`unknown right "read"`, `type "maybe"`, `"mx1" defined twice`} {
		if !strings.Contains(all, want) {
			t.Errorf("Validate errors lack %q:\n%s", want, all)
		}
	}
	w := strings.Join(warns, "\n")
	if !strings.Contains(w, "duplicate SPN smtp/mx1 on mx1, mx2") || !strings.Contains(w, `server "mx2" lacks SPN SMTPSVC/mx2.example.test`) {
		t.Errorf("Validate warnings:\n%s", w)
	}
	if errs, _ := testOrg().Validate(); len(errs) != 0 {
		t.Fatalf("valid organization rejected: %v", errs)
	}
}
