package setup

import (
	"net/netip"

	"mailward/config"
	"mailward/filter"
)

// DNSBLLookup is the one block list cache of the server, shared by its
// virtual servers, asking [dns] server (docs/filtering.md); nil when no
// virtual server names a [[dnsbl]].
func DNSBLLookup(cfg *config.Config) *filter.Lookup {
	for _, l := range cfg.VirtualServers {
		if l.ConnectionFilter != nil && len(l.ConnectionFilter.DNSBL) > 0 {
			return filter.NewLookup(filter.NewDNSResolver(cfg.DNS.Server))
		}
	}
	return nil
}

// Filters are a virtual server's connection and sender filters, nil
// when its table does not configure them. The configuration was
// validated, so the lists parse.
func Filters(cfg *config.Config, l config.VirtualServer, lookup *filter.Lookup) (*filter.Connection, *filter.Sender) {
	var conn *filter.Connection
	if f := l.ConnectionFilter; f != nil {
		deny, _ := filter.ParseIPList(f.Deny)
		grant, _ := filter.ParseIPList(f.Grant)
		accept, _ := filter.ParseIPList(f.Accept)
		conn = &filter.Connection{Deny: deny, Grant: grant, Accept: accept, Lookup: lookup, Timeout: f.LookupTimeout.Duration,
			FailOpen: *f.FailOpen, Message: f.Message, Exceptions: f.Exceptions}
		for _, name := range f.DNSBL {
			for _, d := range cfg.DNSBLs {
				if d.Name == name {
					conn.Providers = append(conn.Providers, provider(d))
				}
			}
		}
	}
	var sender *filter.Sender
	if f := l.SenderFilter; f != nil {
		sender = &filter.Sender{Blocked: f.Blocked, RefuseNull: f.RefuseNullSender, Drop: f.Action == config.SenderDrop}
	}
	return conn, sender
}

func provider(d config.DNSBL) filter.Provider {
	p := filter.Provider{Name: d.Name, Zone: d.Zone, Bitmask: uint8(d.Bitmask), Message: d.Message}
	for _, c := range d.Codes {
		if a, err := netip.ParseAddr(c); err == nil {
			p.Codes = append(p.Codes, a)
		}
	}
	return p
}
