package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestFilterDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal + `
[virtual_server.connection_filter]
dnsbl = ["zen"]
[virtual_server.sender_filter]
blocked = ["*@Junk.Test"]
[[dnsbl]]
name = "zen"
zone = "Zen.Example.Test."
`))
	if err != nil {
		t.Fatal(err)
	}
	f := c.VirtualServers[0].ConnectionFilter
	if f == nil || !*f.FailOpen || f.LookupTimeout.Duration != DefaultDNSBLTimeout || len(f.Exceptions) != 1 || f.Exceptions[0] != "postmaster" {
		t.Fatalf("connection_filter defaults: %+v", f)
	}
	s := c.VirtualServers[0].SenderFilter
	if s == nil || s.Action != SenderReject || s.Blocked[0] != "*@junk.test" || s.RefuseNullSender {
		t.Fatalf("sender_filter defaults: %+v", s)
	}
	if c.DNSBLs[0].Zone != "zen.example.test" {
		t.Errorf("zone not canonical: %q", c.DNSBLs[0].Zone)
	}
	// Off unless configured.
	c, _ = Parse([]byte(minimal))
	if c.VirtualServers[0].ConnectionFilter != nil || c.VirtualServers[0].SenderFilter != nil {
		t.Error("filters on without their tables")
	}
}

// config check names each mistake with where it is.
func TestFilterValidation(t *testing.T) {
	cases := []struct{ toml, want string }{
		{`[virtual_server.connection_filter]
deny = ["192.0.2.0/33"]`, `virtual server "default": connection_filter.deny: entry "192.0.2.0/33" is not an IP address or a CIDR network`},
		{`[virtual_server.connection_filter]
grant = ["10.0.0.0/8", "10.1"]`, `connection_filter.grant: entry "10.1" is not an IP address or a CIDR network`},
		{`[virtual_server.connection_filter]
accept = ["mail.example.test"]`, `connection_filter.accept: entry "mail.example.test" is not an IP address or a CIDR network`},
		{`[virtual_server.connection_filter]
dnsbl = ["nosuch"]`, `virtual server "default": connection_filter.dnsbl names "nosuch", which is no [[dnsbl]]`},
		{`[virtual_server.connection_filter]
message = "listed by {list}"`, `connection_filter: message "listed by {list}": unknown placeholder {list} (known: {ip} {provider} {zone} {code})`},
		{`[virtual_server.connection_filter]
exceptions = ["@example.test"]`, `connection_filter.exceptions entry "@example.test": want a local part ("postmaster") or an address`},
		{`[virtual_server.connection_filter]
fail_open = "no"`, `column 13: toml: cannot decode TOML string`},
		{`[virtual_server.connection_filter]
lookup_time = "1s"`, `unknown key "virtual_server.connection_filter.lookup_time"`},
		{`[virtual_server.sender_filter]
action = "discard"`, `"discard" is not one of: reject, drop`},
		{`[virtual_server.sender_filter]
blocked = ["junk.test"]`, `sender_filter.blocked entry "junk.test": want user@domain, *@domain or *@*.domain`},
		{`[[dnsbl]]
name = "x"
zone = "bl.test"
codes = ["127.0.0.300"]`, `dnsbl "x": code "127.0.0.300": want an IPv4 address such as "127.0.0.2"`},
		{`[[dnsbl]]
name = "x"
zone = "bl.test"
bitmask = 256`, `dnsbl "x": bitmask 256: want 1 to 255`},
		{`[[dnsbl]]
name = "x"`, `dnsbl "x": zone "": want a DNS zone`},
		{`[[dnsbl]]
name = "x"
zone = "a.test"
[[dnsbl]]
name = "x"
zone = "b.test"`, `dnsbl "x" listed twice`},
	}
	for _, c := range cases {
		_, err := Parse([]byte(minimal + c.toml + "\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s\n got: %v\nwant: ...%s...", c.toml, err, c.want)
		}
	}
}

// The configuration shown in docs/filtering.md loads: the page cannot
// drift from the keys.
func TestFilteringDocExamples(t *testing.T) {
	b, err := os.ReadFile("../docs/filtering.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```toml\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	if len(blocks) != 3 {
		t.Fatalf("docs/filtering.md has %d toml blocks, want 3 (connection, sender and content filtering)", len(blocks))
	}
	for _, blk := range blocks {
		text := blk[1]
		if !strings.Contains(text, "[[virtual_server]]") {
			// [content_filter] is the server's: any virtual server will do.
			text += "\n[[virtual_server]]\nname = \"default\"\naddress = \"127.0.0.1:2525\"\n"
		}
		c, err := Parse([]byte("[server]\nfqdn = \"mx1.example.test\"\n[[domain]]\nname = \"example.test\"\n" + text))
		if err != nil {
			t.Errorf("docs/filtering.md example does not load: %v\n%s", err, blk[1])
			continue
		}
		if c.ContentFilter != nil {
			continue
		}
		if l := c.VirtualServers[0]; l.ConnectionFilter == nil && l.SenderFilter == nil {
			t.Errorf("docs/filtering.md example configures no filter:\n%s", blk[1])
		}
	}
}
