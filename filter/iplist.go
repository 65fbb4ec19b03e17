package filter

import "net/netip"

// IPList is a list of networks (a bare address is a /32 or /128): a
// virtual server's deny list or its accept list.
type IPList []netip.Prefix

// Match returns the first network holding ip, and whether there is one.
func (l IPList) Match(ip netip.Addr) (netip.Prefix, bool) {
	ip = ip.Unmap()
	for _, p := range l {
		if p.Contains(ip) {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// ParseIPList parses "192.0.2.0/24" and "192.0.2.7" entries; the first
// bad one is returned as the error's subject.
func ParseIPList(entries []string) (IPList, error) {
	var out IPList
	for _, e := range entries {
		p, err := ParseNetwork(e)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// ParseNetwork parses one CIDR or bare address, masked.
func ParseNetwork(e string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(e); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(e)
	if err != nil {
		return netip.Prefix{}, &BadEntryError{Entry: e, Want: "an IP address or a CIDR network"}
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// BadEntryError names a list entry that does not parse and what was
// expected instead.
type BadEntryError struct{ Entry, Want string }

func (e *BadEntryError) Error() string { return "entry " + quote(e.Entry) + " is not " + e.Want }

func quote(s string) string { return "\"" + s + "\"" }
