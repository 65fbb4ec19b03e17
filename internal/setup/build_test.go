package setup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A server of an organization takes its domains from the directory:
// default_domain may be one of them, must be one of them or a
// [[domain]], and recipients in a directory without servers are refused
// rather than ignored.
func TestBuildOrganizationDomains(t *testing.T) {
	const servers = `
[[server]]
name = "mx1"
fqdn = "mx1.example.test"
`
	const recipients = `
[[domain]]
name = "example.test"
[[mailbox]]
address = "bob@example.test"
home_server = "mx1"
`
	for _, c := range []struct {
		name, server, org, want string
	}{
		{"the organization's domain", `default_domain = "example.test"`, servers + recipients, ""},
		{"a domain nobody has", `default_domain = "other.test"`, servers + recipients,
			`server.default_domain "other.test" is neither a [[domain]] nor a domain of the organization`},
		{"recipients without servers", `default_domain = "example.test"`, recipients,
			"domains, mailboxes and distribution groups need the organization's servers"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "org.toml"), []byte(c.org), 0o600); err != nil {
				t.Fatal(err)
			}
			conf := "[server]\nfqdn = \"mx1.example.test\"\n" + c.server + "\n[organization]\nself = \"mx1\"\nfile = \"org.toml\"\n" +
				"[[virtual_server]]\nname = \"default\"\naddress = \"127.0.0.1:2525\"\ntls = \"none\"\n"
			st, err := Build(loadConfig(t, dir, conf))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want == "":
				if !st.Recipients.IsLocalDomain("example.test") {
					t.Error("the organization's domain is not taken here")
				}
			case err == nil || !strings.Contains(err.Error(), c.want):
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}
