package categorize

// Shared folders (docs/shared-folders.md). A post to a folder, on a
// server with a replica, is stored in that replica and replicated: one
// replica recipient per other replica server, addressed to that server's
// store address and recorded with the expansion (queue.Expand) before
// anything is delivered, so a crash can neither lose nor repeat the
// decision. On a server without a replica, the post goes to the nearest
// one (the first of the folder's replicas), which does the same. A
// replication received for this server's store is stored under its
// replication ID — the same file name on every replica, so a copy
// received twice is one — and never expanded, journaled, forwarded or
// replicated again.

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"mailward/deliver"
	"mailward/directory"
	"mailward/events"
	"mailward/queue"
	"mailward/reply"
)

// folderDirectory is what replication needs from the directory beyond
// Directory (directory.Recipients has it).
type folderDirectory interface {
	StoreAddress(server string) string
	SelfName() string
	ServerFQDN(server string) string // its delivery queue's name
}

// folderDir is the directory's replication side; the explainer's
// wrapper (anyone, explain.go) is seen through.
func folderDir(d Directory) (folderDirectory, bool) {
	if a, ok := d.(anyone); ok {
		d = a.Directory
	}
	fd, ok := d.(folderDirectory)
	return fd, ok
}

// ReplicationID names a post's copies in every replica's Maildir: a
// Maildir file name (arrival time, the queue ID and recipient index of
// the post on the replica server that took it, that server's name), so
// that a replication received twice replaces the same file.
func ReplicationID(m *queue.Message, i int, self string) string {
	return fmt.Sprintf("%d.M%sR%d.%s", m.Env.Arrival.Unix(), m.Env.ID, i, self)
}

// validReplicationID: a received ID becomes a file name; it must stay
// one path element.
var validReplicationID = regexp.MustCompile(`^[0-9]+\.M[A-Za-z0-9]+R[0-9]+\.[A-Za-z0-9][A-Za-z0-9._-]{0,200}$`)

// folder decides a post to a shared folder. The post is named first,
// by its replication ID: on a server without a replica, by a copy of
// the recipient that carries the name (recorded before it is sent), so
// that the post has one name on every replica however often it reaches
// one (a sender killed after the replica server's 250 sends it again,
// a failover sends it to another).
func (p *plan) folder(i int, f *directory.SharedFolder) {
	r := p.recips[i]
	fd, ok := folderDir(p.c.Dir)
	if !ok {
		// A directory without store addresses cannot replicate: the post
		// waits rather than reach one replica only.
		p.result(i, queue.Pending, deliver.LocalHop, reply.New(451, "4.3.0", "the directory cannot name the replicas' stores"))
		return
	}
	rid := r.ReplicationID
	if up := p.upstream(i); rid == "" && up.Replica == "" && validReplicationID.MatchString(up.ReplicationID) {
		rid = up.ReplicationID // named by the server that sent it here
	}
	if !slices.ContainsFunc(f.Replicas, p.c.Dir.IsHere) {
		if rid != "" {
			p.remote = append(p.remote, deliver.Job{Index: i, Server: p.nearest(fd, f, i)})
			return
		}
		rid = ReplicationID(p.m, i, fd.SelfName())
		if !slices.ContainsFunc(p.recips, func(x queue.Recipient) bool { return x.ReplicationID == rid && x.Replica == "" }) {
			p.add(i, []queue.Recipient{{Addr: f.Address, Notify: r.Notify, ORCPT: orcpt(r), ExpandedFrom: r.ExpandedFrom,
				ReportTo: r.ReportTo, Hidden: r.Hidden, ReplicationID: rid}}, false)
		}
		p.done(i, ExpandedHop, reply.New(250, "2.1.5", "%s is sent to the nearest replica of the shared folder", p.shown(i)), false)
		return
	}
	if rid == "" {
		rid = ReplicationID(p.m, i, fd.SelfName())
	}
	var add []queue.Recipient
	var to []string
	for _, s := range f.Replicas {
		if p.c.Dir.IsHere(s) {
			continue
		}
		addr := fd.StoreAddress(s)
		// An attempt before a crash may have recorded them already.
		if !slices.ContainsFunc(p.recips, func(r queue.Recipient) bool { return r.ReplicationID == rid && r.Addr == addr }) {
			add = append(add, queue.Recipient{Addr: addr, Notify: "NEVER", ReportTo: "-", Replica: f.Address, ReplicationID: rid})
			to = append(to, s)
		}
	}
	if len(add) > 0 {
		p.add(i, add, false)
		p.c.Events.Emit(events.FolderReplicated, "queue_id", p.m.Env.ID, "message_id", p.m.MessageID(), "folder", f.Address, "replicas", strings.Join(to, ", "))
	}
	p.local = append(p.local, localJob{index: i, mailbox: f.Address, name: rid})
}

// nearest is the replica a post goes to from a server without one: the
// first of the folder's replicas whose delivery queue is neither failing
// nor suspended (fail over to the next), or the first when all are.
func (p *plan) nearest(fd folderDirectory, f *directory.SharedFolder, i int) string {
	for k, s := range f.Replicas {
		if p.c.Hops != nil {
			if h := p.c.Hops.Get(fd.ServerFQDN(s)); h.Failing || h.Suspended {
				continue
			}
		}
		if k > 0 {
			p.c.Events.Emit(events.ReplicaFailover, "queue_id", p.m.Env.ID, "message_id", p.m.MessageID(), "folder", f.Address, "nearest", f.Replicas[0],
				"error", p.c.Hops.Get(fd.ServerFQDN(f.Replicas[0])).LastError, "server", s)
		} else {
			p.c.Events.Emit(events.NearestReplica, "queue_id", p.m.Env.ID, "message_id", p.m.MessageID(), "folder", f.Address, "server", s)
		}
		return s
	}
	p.c.Events.Emit(events.NearestReplica, "queue_id", p.m.Env.ID, "message_id", p.m.MessageID(), "folder", f.Address, "server", f.Replicas[0])
	return f.Replicas[0]
}

// store decides a recipient addressed to a server's store: a replica
// recipient added here goes to its server; one received here is stored
// in this server's replica.
func (p *plan) store(i int, srv *directory.OrgServer) {
	r := p.recips[i]
	if !p.c.Dir.IsHere(srv.Name) {
		if r.Replica == "" {
			p.invalidReplication(i, queue.Failed, "a store address of another server, without a replication of this server's")
			return
		}
		p.remote = append(p.remote, deliver.Job{Index: i, Server: srv.Name, Replica: true})
		return
	}
	up := p.upstream(i)
	folder, rid := up.Replica, up.ReplicationID
	switch e, _ := p.c.Dir.Find(folder); {
	case p.up == nil || !p.up.Message.Replication || folder == "":
		p.invalidReplication(i, queue.Failed, "the message carries no replication properties")
	case !validReplicationID.MatchString(rid):
		p.invalidReplication(i, queue.Failed, fmt.Sprintf("replication ID %q is not valid", rid))
	case e.Kind != directory.FolderEntry || !slices.ContainsFunc(e.Folder.Replicas, p.c.Dir.IsHere):
		// The directories differ (a change not yet everywhere): it
		// waits, as KB979174's replication delays do.
		p.invalidReplication(i, queue.Pending, fmt.Sprintf("this server holds no replica of shared folder %s", folder))
	default:
		p.c.Events.Emit(events.ReplicaStored, "queue_id", p.m.Env.ID, "message_id", p.m.MessageID(), "folder", folder, "name", rid, "origin", p.m.Env.Helo)
		p.local = append(p.local, localJob{index: i, mailbox: e.Folder.Address, name: rid})
	}
}

func (p *plan) invalidReplication(i int, st queue.State, why string) {
	p.c.Events.Emit(events.ReplicationInvalid, "queue_id", p.m.Env.ID, "message_id", p.m.MessageID(), "rcpt", p.recips[i].Addr, "reason", why)
	r := reply.New(550, "5.7.1", "replication to %s not stored: %s", p.recips[i].Addr, why)
	if st == queue.Pending {
		r = reply.New(451, "4.3.0", "replication to %s not stored: %s", p.recips[i].Addr, why)
	}
	p.result(i, st, deliver.LocalHop, r)
}
