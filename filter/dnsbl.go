package filter

import (
	"net/netip"
	"strconv"
	"strings"
)

// Provider is one DNS block list ([[dnsbl]]): a client address a.b.c.d
// is listed when a.b.c.d's reversed form under Zone has an A record
// (RFC 5782 §2.1; IPv6 by nibbles, §2.4) whose value counts.
type Provider struct {
	// Name identifies the list in events and replies ({provider}).
	Name string
	// Zone is the list's DNS zone, e.g. "zen.spamhaus.org".
	Zone string
	// Codes are the exact answers that count. Empty together with
	// Bitmask: any answer in 127.0.0.0/8 counts (RFC 5782 §2.1).
	Codes []netip.Addr
	// Bitmask, when not zero, makes an answer count whose last octet
	// has one of these bits (lists that sum their reasons, as SURBL's
	// multi list does; Exchange's "match to the following bitmask").
	Bitmask uint8
	// Message, when set, replaces the virtual server's refusal text for
	// clients this list names.
	Message string
}

// Counts reports whether an answer of the list counts as a listing.
// Answers in 127.255.255.0/24 never do: lists use them to say that the
// query was refused (Spamhaus answers 127.255.255.254 to queries through
// public resolvers), which is not a verdict on the client; Lookup reports
// them as failures.
func (p Provider) Counts(a netip.Addr) bool {
	a = a.Unmap()
	if !a.Is4() || refusal(a) {
		return false
	}
	for _, c := range p.Codes {
		if c == a {
			return true
		}
	}
	if p.Bitmask != 0 && a.As4()[3]&p.Bitmask != 0 {
		return true
	}
	return len(p.Codes) == 0 && p.Bitmask == 0 && a.As4()[0] == 127
}

var refusals = netip.MustParsePrefix("127.255.255.0/24")

func refusal(a netip.Addr) bool { return refusals.Contains(a) }

// QueryName is the name to look up for ip in the list's zone: the
// reversed octets (IPv4) or nibbles (IPv6), then the zone, fully
// qualified.
func (p Provider) QueryName(ip netip.Addr) string {
	return reverse(ip) + "." + strings.TrimSuffix(p.Zone, ".") + "."
}

func reverse(ip netip.Addr) string {
	ip = ip.Unmap()
	var b strings.Builder
	if ip.Is4() {
		o := ip.As4()
		for i := 3; i >= 0; i-- {
			b.WriteString(strconv.Itoa(int(o[i])))
			if i > 0 {
				b.WriteByte('.')
			}
		}
		return b.String()
	}
	o := ip.As16()
	const hex = "0123456789abcdef"
	for i := 15; i >= 0; i-- {
		b.WriteByte(hex[o[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hex[o[i]>>4])
		if i > 0 {
			b.WriteByte('.')
		}
	}
	return b.String()
}
