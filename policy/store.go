package policy

import (
	"strings"

	"mailward/address"
	"mailward/directory"
	"mailward/reply"
)

// StoreRefused is a RCPT to a server's store address (where shared
// folders' replication goes) from a client that is not an authenticated
// server of the organization holding send-as (docs/shared-folders.md).
const StoreRefused Kind = 100

// storeRefused refuses a store address to everyone but the
// organization's authenticated servers, before any other rule (a domain
// without recipient filtering included).
func (p *Policy) storeRefused(c Client, rcpt address.Address) (Decision, bool) {
	if c.OrgServer || !p.IsStore(rcpt.Key()) {
		return Decision{}, false
	}
	return Decision{Kind: StoreRefused, Reply: reply.New(550, "5.7.1",
		"%s takes only replication from authenticated servers of the organization", rcpt.String())}, true
}

// IsStore reports whether addr is a server's store address. Most
// addresses are told apart by their local part, without a lookup.
func (p *Policy) IsStore(addr string) bool {
	local, _, _ := strings.Cut(strings.ToLower(addr), "@")
	if !strings.HasSuffix(local, directory.StoreLocalPart) {
		return false
	}
	e, err := p.dir.Find(addr)
	return err == nil && e.Kind == directory.StoreEntry
}
