package directory

import (
	"fmt"
	"strings"
)

// Shared folders (docs/shared-folders.md): an address of the
// organization whose messages are kept in a Maildir on each of several
// servers, its replicas, as Exchange keeps a public folder's replicas in
// the public store of each server that has one. Mail to the folder is
// stored in one replica and replicated to the others as organization
// mail, addressed to each server's store address.

// SharedFolder is one [[shared_folder]].
type SharedFolder struct {
	Address string `toml:"address"`
	// Replicas are the servers holding a replica, in order: the first
	// is the nearest for a server without one (it sends posts there).
	Replicas []string `toml:"replicas"`
}

// HasReplica reports whether server holds a replica of the folder.
func (f *SharedFolder) HasReplica(server string) bool {
	for _, r := range f.Replicas {
		if r == server {
			return true
		}
	}
	return false
}

// StoreLocalPart ends the local part of a server's store address: the
// address replication to that server is sent to (the public store of an
// Exchange server).
const StoreLocalPart = "-store"

// StoreAddress is the address replication to server is sent to:
// <server name>-store@<the organization's first domain>. Ordinary mail
// never uses it, so a post to a folder and a replication of it cannot be
// confused; RCPT to it is refused to all but the organization's
// authenticated servers (policy).
func (o *Org) StoreAddress(server string) string {
	if o == nil || len(o.Domains) == 0 || server == "" {
		return ""
	}
	return strings.ToLower(server) + StoreLocalPart + "@" + o.Domains[0].Name
}

// Folder returns the shared folder with this address.
func (o *Org) Folder(addr string) (*SharedFolder, bool) {
	if e := o.Find(addr); e.Kind == FolderEntry {
		return e.Folder, true
	}
	return nil, false
}

// normalizeFolders lower-cases the folders' addresses and servers.
func (o *Org) normalizeFolders() {
	for i := range o.Folders {
		f := &o.Folders[i]
		f.Address = strings.ToLower(strings.TrimSpace(f.Address))
		for j := range f.Replicas {
			f.Replicas[j] = strings.ToLower(strings.TrimSpace(f.Replicas[j]))
		}
	}
}

// indexFolders adds the folders and the servers' store addresses to the
// address index (after the mailboxes and groups: a duplicate keeps its
// first entry, and Validate reports it).
func (o *Org) indexFolders(add func(string, Entry)) {
	for i := range o.Folders {
		add(o.Folders[i].Address, Entry{Kind: FolderEntry, Folder: &o.Folders[i]})
	}
	if len(o.Folders) == 0 {
		return // no folders: no store addresses to accept mail for
	}
	for i := range o.Servers {
		add(o.StoreAddress(o.Servers[i].Name), Entry{Kind: StoreEntry, Store: &o.Servers[i]})
	}
}

// validateFolders checks the shared folders; claim is the address
// namespace mailboxes, proxy addresses and groups share.
func (o *Org) validateFolders(claim func(addr, what string)) (errs []string) {
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	for _, f := range o.Folders {
		what := fmt.Sprintf("shared folder %q", f.Address)
		claim(f.Address, what)
		if len(f.Replicas) == 0 {
			bad("%s: no replicas (list the servers that hold it)", what)
		}
		seen := map[string]bool{}
		for _, r := range f.Replicas {
			if _, ok := o.ServerByName(r); !ok {
				bad("%s: replica %q is not a server of the organization", what, r)
			}
			if seen[r] {
				bad("%s: replica %q listed twice", what, r)
			}
			seen[r] = true
		}
	}
	if len(o.Folders) > 0 {
		for _, s := range o.Servers {
			if s.Name != "" {
				claim(o.StoreAddress(s.Name), fmt.Sprintf("the store of server %q", s.Name))
			}
		}
	}
	return errs
}

// StoreAddress is the store address of a server of the organization in
// force ("" without one).
func (r *Recipients) StoreAddress(server string) string { return r.org().StoreAddress(server) }

// SelfName is this server's name in the organization.
func (r *Recipients) SelfName() string { return r.Self }

// ServerFQDN is the FQDN of a server of the organization ("" when it is
// not one): the name of its delivery queue.
func (r *Recipients) ServerFQDN(server string) string {
	if s, ok := r.Server(server); ok {
		return s.FQDN
	}
	return ""
}
