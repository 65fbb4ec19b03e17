package deliver

// A next hop that is this server itself. RFC 5321 §6.3 asks a relay to
// stop mail loops; the hop count (categorize, server.max_hops) stops them
// in the end, but only after the message has gone round dozens of times.
// A route that leads straight back here is seen at once, as Postfix does
// ("mail for <domain> loops back to myself"): by the address, before
// connecting, when it is one this server listens on; by the name, after
// connecting, when the next hop greets or answers EHLO with one of this
// server's names. Two servers that share one name are therefore a loop
// too, which they are as far as the names in Received: fields go.

import (
	"net"
	"net/netip"
	"strconv"
	"strings"

	"mailward/smtpclient"
)

// selfHop is where a delivery queue met this server.
type selfHop struct {
	host, addr, reason string
	// best: no host of the hop is better than this server (it is the
	// smart host, or the domain's best MX host).
	best bool
}

// selfAddress reports, as the reason to give, whether "ip:port" is an
// address this server's virtual servers take connections on. A virtual server on
// 0.0.0.0 or [::] (or with no host) takes them on every address of this
// host, loopback included, with its port: Go listens on both families
// for either. A virtual server given by a host name is recognised by its
// greeting only (selfName), since resolving it here would be a guess.
func (r *Remote) selfAddress(addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return ""
	}
	ip := ap.Addr().Unmap().WithZone("")
	_, addrs := r.localSelf()
	for _, la := range addrs {
		host, port, err := net.SplitHostPort(la)
		if err != nil || listenPort(port) != int(ap.Port()) {
			continue
		}
		lip := netip.IPv6Unspecified()
		if host != "" {
			if lip, err = netip.ParseAddr(host); err != nil {
				continue
			}
		}
		lip = lip.Unmap().WithZone("")
		if lip == ip || lip.IsUnspecified() && r.isLocalIP(ip) {
			return "is an address this server listens on (virtual server " + la + ")"
		}
	}
	return ""
}

// listenPort is a virtual server's port number; a service name ("smtp") is
// looked up in /etc/services as the virtual server's own Listen does. -1 if
// unknown.
func listenPort(port string) int {
	if n, err := strconv.Atoi(port); err == nil {
		return n
	}
	if n, err := net.LookupPort("tcp", port); err == nil {
		return n
	}
	return -1
}

// isLocalIP reports whether ip is an address of this host.
func (r *Remote) isLocalIP(ip netip.Addr) bool {
	if ip.IsLoopback() || ip.IsUnspecified() {
		return true
	}
	list := r.InterfaceAddrs
	if list == nil {
		list = net.InterfaceAddrs
	}
	addrs, err := list()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		var b net.IP
		switch v := a.(type) {
		case *net.IPNet:
			b = v.IP
		case *net.IPAddr:
			b = v.IP
		}
		if x, ok := netip.AddrFromSlice(b); ok && x.Unmap() == ip {
			return true
		}
	}
	return false
}

// selfName reports, as the reason to give, whether the server c is
// connected to calls itself by one of this server's names, in its
// greeting or in its reply to EHLO.
func (r *Remote) selfName(c *smtpclient.Conn) string {
	for _, n := range []struct{ where, name string }{{"greeted", c.GreetingName()}, {"answered EHLO", c.HelloName()}} {
		if r.isLocalName(n.name) {
			return n.where + " with this server's own name " + strings.ToLower(strings.TrimSuffix(n.name, "."))
		}
	}
	return ""
}

func (r *Remote) isLocalName(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return false
	}
	names, _ := r.localSelf()
	for _, n := range names {
		if strings.EqualFold(strings.TrimSuffix(n, "."), name) {
			return true
		}
	}
	return false
}
