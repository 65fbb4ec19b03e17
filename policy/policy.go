// Package policy decides, recipient by recipient, what a client may do:
// deliver locally, relay, or be refused (KB304897).
//
// The rule that keeps mailward from being an open relay lives here and
// only here: a recipient outside the local domains is accepted only from a
// client that may relay — authenticated on a virtual server that lets
// authenticated users relay, or connecting from that virtual server's
// relay networks (empty by default). Nothing about the sender, the HELO
// name, or the recipient's spelling changes that.
package policy

import (
	"net/netip"
	"sync/atomic"
	"time"

	"mailward/address"
	"mailward/directory"
	"mailward/reply"
)

// Directory is what policy needs to know about local recipients
// (directory.Recipients satisfies it).
type Directory interface {
	IsLocalDomain(domain string) bool
	// Find resolves a local address to a mailbox or a group; an error
	// means the directory cannot tell right now.
	Find(addr string) (directory.Entry, error)
	// MayPost applies a group's restrictions to a sender.
	MayPost(g *directory.DistributionGroup, sender string, authenticated bool) (bool, string)
	// IsHere reports whether a group's expansion server is this server.
	IsHere(server string) bool
}

// Client is what policy knows about the SMTP client.
type Client struct {
	IP            netip.Addr
	Authenticated bool
	// OrgServer: the client authenticated as a server of the
	// organization holding send-as (KB843106's X-EXPS).
	OrgServer bool
	// Sender is the transaction's MAIL FROM address ("" for <>).
	Sender string
}

// Rules are a virtual server's relay settings.
type Rules struct {
	RelayAuthenticated bool
	RelayNetworks      []netip.Prefix
}

// MayRelay reports whether the client may send to non-local domains: a
// server of the organization always (mail between them is relayed by
// design), an authenticated user where the virtual server lets them, and the
// virtual server's relay networks.
func (r Rules) MayRelay(c Client) bool {
	if c.OrgServer || (c.Authenticated && r.RelayAuthenticated) {
		return true
	}
	ip := c.IP.Unmap()
	for _, p := range r.RelayNetworks {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Kind classifies a recipient decision.
type Kind int

const (
	Local      Kind = iota // accepted for a local domain
	Relay                  // accepted for a remote domain from a client that may relay
	Unknown                // local domain, no such recipient (filtering on)
	Denied                 // remote domain, client may not relay
	TempFail               // the directory could not answer
	Restricted             // a group whose restrictions refuse the sender
)

// Decision is the answer to one RCPT.
type Decision struct {
	Kind Kind
	// Reply is what the client is told, in KB304897's wording.
	Reply reply.Reply
	// Tarpit is how long to wait before replying (anti-harvesting).
	Tarpit time.Duration
	Err    error
}

// Domain is one local domain's recipient settings (KB304897).
type Domain struct {
	// RecipientFiltering refuses unknown recipients at RCPT; without it
	// every address of the domain is accepted and the unknown ones get a
	// non-delivery report later.
	RecipientFiltering bool
	// Tarpit is the wait before the first "User unknown" of a session;
	// each further one waits one Tarpit more, up to TarpitMax.
	Tarpit, TarpitMax time.Duration
}

// Policy holds the per-domain recipient settings.
type Policy struct {
	dir Directory
	// cur is replaced whole by Replace (a reload of the configuration).
	cur atomic.Pointer[settings]
}

type settings struct {
	defaultDomain string
	domains       map[string]Domain
}

// New builds the policy: the default domain appended to bare local
// parts, and the settings of each local domain by name.
func New(defaultDomain string, domains map[string]Domain, dir Directory) *Policy {
	p := &Policy{dir: dir}
	p.Replace(defaultDomain, domains)
	return p
}

// Replace swaps in new domain settings (a reload of the configuration).
func (p *Policy) Replace(defaultDomain string, domains map[string]Domain) {
	p.cur.Store(&settings{defaultDomain: defaultDomain, domains: domains})
}

// Qualify appends the default local domain to an address that has none
// (KB304897: "MAIL FROM:LocalUser" is LocalUser@<default domain>).
func (p *Policy) Qualify(a address.Address) address.Address {
	if !a.Null() && a.Domain == "" {
		a.Domain = p.cur.Load().defaultDomain
	}
	return a
}

// Recipient decides one RCPT. unknownSoFar counts the unknown recipients
// this session already had; the tarpit grows with it.
func (p *Policy) Recipient(c Client, r Rules, rcpt address.Address, unknownSoFar int) Decision {
	addr := rcpt.String()
	accepted := Decision{Kind: Local, Reply: reply.New(250, "2.1.5", "%s", addr)}
	if !p.dir.IsLocalDomain(rcpt.Domain) {
		if r.MayRelay(c) {
			return Decision{Kind: Relay, Reply: accepted.Reply}
		}
		return Decision{Kind: Denied, Reply: reply.New(550, "5.7.1", "Unable to relay for %s", addr)}
	}
	if d, refused := p.storeRefused(c, rcpt); refused {
		return d
	}
	dom, ok := p.cur.Load().domains[rcpt.Domain]
	if ok && !dom.RecipientFiltering {
		// KB304897's default Windows behaviour: accept for the domain,
		// and let the categorizer send an NDR if nobody is there.
		return accepted
	}
	e, err := p.dir.Find(rcpt.Key())
	if err != nil {
		return Decision{Kind: TempFail, Err: err,
			Reply: reply.New(451, "4.3.0", "Recipient lookup failed (directory unavailable), try again later")}
	}
	switch {
	case e.Kind == directory.GroupEntry && !c.OrgServer && p.dir.IsHere(e.Group.ExpansionServer):
		// Decidable now: this server expands the group, and the client is
		// not an organization server whose XEXCH50 properties (after
		// RCPT) might say the sender authenticated upstream.
		if ok, why := p.dir.MayPost(e.Group, c.Sender, c.Authenticated); !ok {
			return Decision{Kind: Restricted, Reply: reply.New(550, "5.7.1", "%s", why)}
		}
		return accepted
	case e.Kind != directory.NotFound:
		return accepted
	}
	return Decision{Kind: Unknown, Reply: reply.New(550, "5.1.1", "%s... User unknown", addr), Tarpit: tarpit(dom, unknownSoFar)}
}

// tarpit grows linearly with the number of unknown recipients already
// seen in the session: one wrong address costs a typo little, a harvest
// run of hundreds costs the harvester minutes.
func tarpit(d Domain, unknownSoFar int) time.Duration {
	t := d.Tarpit * time.Duration(unknownSoFar+1)
	if d.TarpitMax > 0 && t > d.TarpitMax {
		t = d.TarpitMax
	}
	return t
}
