package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"mailward/filter"
)

// DNSBL is one [[dnsbl]]: a DNS block list that virtual servers name in
// their connection_filter (Exchange's block list service rules,
// Postfix's postscreen_dnsbl_sites).
type DNSBL struct {
	Name string `toml:"name"`
	Zone string `toml:"zone"`
	// Codes are the answers that count ("127.0.0.2"); with Bitmask zero
	// and no codes, any answer in 127.0.0.0/8 counts.
	Codes []string `toml:"codes"`
	// Bitmask counts an answer whose last octet has one of its bits.
	Bitmask int `toml:"bitmask"`
	// Message replaces the connection filter's refusal text for this list.
	Message string `toml:"message"`
}

// ConnectionFilter is a virtual server's [virtual_server.connection_filter]
// (docs/filtering.md).
type ConnectionFilter struct {
	// Deny: clients refused at connect with 554 5.7.1.
	Deny []string `toml:"deny"`
	// Grant, when set: only these clients may connect.
	Grant []string `toml:"grant"`
	// Accept: clients never filtered (neither deny nor block lists).
	Accept []string `toml:"accept"`
	// DNSBL names [[dnsbl]] lists, asked at connect; a listed client's
	// recipients get 550 5.7.1, the exceptions excepted.
	DNSBL []string `toml:"dnsbl"`
	// Exceptions are recipients always accepted from a listed client: a
	// local part (at every domain) or an address. Default ["postmaster"].
	Exceptions []string `toml:"exceptions"`
	// LookupTimeout bounds the lookups of a client, from connect.
	LookupTimeout Duration `toml:"lookup_timeout"`
	// FailOpen accepts a client whose lookups failed, with an event
	// (default true); false answers its recipients 451 4.7.1.
	FailOpen *bool `toml:"fail_open"`
	// Message is the refusal text, with {ip}, {provider}, {zone}, {code}.
	Message string `toml:"message"`
}

// SenderFilter is a virtual server's [virtual_server.sender_filter].
type SenderFilter struct {
	// Blocked: "user@domain", "*@domain", "*@*.domain".
	Blocked []string `toml:"blocked"`
	// RefuseNullSender refuses MAIL FROM:<> on this virtual server.
	RefuseNullSender bool `toml:"refuse_null_sender"`
	// Action: "reject" (550 5.7.1 at MAIL, default) or "drop" (accept
	// and discard, with an event).
	Action SenderAction `toml:"action"`
}

// SenderAction is what the sender filter does with a blocked sender.
type SenderAction struct{ w string }

var (
	SenderReject = SenderAction{"reject"} // 550 5.7.1 at MAIL (default)
	SenderDrop   = SenderAction{"drop"}   // accept, discard, event
)

func (v SenderAction) String() string                { return v.w }
func (v SenderAction) MarshalText() ([]byte, error)  { return []byte(v.w), nil }
func (v *SenderAction) UnmarshalText(b []byte) error { return word(&v.w, b, "reject", "drop") }

func (c *Config) validateFilters(bad func(string, ...any)) {
	names := map[string]bool{}
	for _, d := range c.DNSBLs {
		where := fmt.Sprintf("dnsbl %q", d.Name)
		switch {
		case d.Name == "":
			bad("[[dnsbl]] without a name")
		case names[d.Name]:
			bad("%s listed twice", where)
		}
		names[d.Name] = true
		if d.Zone == "" || strings.ContainsAny(d.Zone, " /@") {
			bad("%s: zone %q: want a DNS zone such as \"zen.spamhaus.org\"", where, d.Zone)
		}
		for _, code := range d.Codes {
			if a, err := netip.ParseAddr(code); err != nil || !a.Is4() {
				bad("%s: code %q: want an IPv4 address such as \"127.0.0.2\"", where, code)
			}
		}
		if d.Bitmask < 0 || d.Bitmask > 255 {
			bad("%s: bitmask %d: want 1 to 255 (bits of the answer's last octet)", where, d.Bitmask)
		}
		if err := filter.CheckTemplate(d.Message); err != nil {
			bad("%s: %v", where, err)
		}
	}
	for _, l := range c.VirtualServers {
		where := fmt.Sprintf("virtual server %q", l.Name)
		if f := l.ConnectionFilter; f != nil {
			for _, list := range []struct {
				key     string
				entries []string
			}{{"deny", f.Deny}, {"grant", f.Grant}, {"accept", f.Accept}} {
				if _, err := filter.ParseIPList(list.entries); err != nil {
					bad("%s: connection_filter.%s: %v", where, list.key, err)
				}
			}
			for _, n := range f.DNSBL {
				if !names[n] {
					bad("%s: connection_filter.dnsbl names %q, which is no [[dnsbl]]", where, n)
				}
			}
			for _, e := range f.Exceptions {
				if e == "" || strings.Count(e, "@") > 1 || strings.HasPrefix(e, "@") || strings.HasSuffix(e, "@") {
					bad("%s: connection_filter.exceptions entry %q: want a local part (\"postmaster\") or an address", where, e)
				}
			}
			if err := filter.CheckTemplate(f.Message); err != nil {
				bad("%s: connection_filter: %v", where, err)
			}
		}
		if f := l.SenderFilter; f != nil {
			for _, b := range f.Blocked {
				if why := filter.CheckPattern(b); why != "" {
					bad("%s: sender_filter.blocked entry %q: %s", where, b, why)
				}
			}
		}
	}
}

// DefaultDNSBLTimeout bounds a client's block list lookups: postscreen
// waits postscreen_greet_wait (6s) for them; 5s leaves a first RCPT
// sent at once some room under the 5 minutes of RFC 5321 §4.5.3.2.
const DefaultDNSBLTimeout = 5 * time.Second

// applyFilterDefaults fills [[dnsbl]] and the virtual servers' filters
// (docs/filtering.md).
func (c *Config) applyFilterDefaults() {
	for i := range c.DNSBLs {
		d := &c.DNSBLs[i]
		d.Zone = strings.ToLower(strings.TrimSuffix(d.Zone, "."))
	}
	for i := range c.VirtualServers {
		if f := c.VirtualServers[i].ConnectionFilter; f != nil {
			if f.Exceptions == nil {
				f.Exceptions = []string{"postmaster"}
			}
			for j, e := range f.Exceptions {
				f.Exceptions[j] = strings.ToLower(e)
			}
			if f.LookupTimeout.Duration == 0 {
				f.LookupTimeout.Duration = DefaultDNSBLTimeout
			}
			if f.FailOpen == nil {
				t := true
				f.FailOpen = &t
			}
		}
		if f := c.VirtualServers[i].SenderFilter; f != nil {
			if f.Action == (SenderAction{}) {
				f.Action = SenderReject
			}
			for j, b := range f.Blocked {
				f.Blocked[j] = strings.ToLower(b)
			}
		}
	}
}
