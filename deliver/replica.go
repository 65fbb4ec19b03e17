package deliver

// The sending side of shared folders' replication
// (docs/shared-folders.md): each replica recipient travels in a
// transaction of its own, with its properties (the folder, the
// replication ID, message.replication) in XEXCH50, and is never sent
// without them — without its replication ID the receiving replica could
// not store it exactly once. A trust failure holds it, with KB979174's
// last error, as any organization mail whose X-EXPS fails.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"mailward/directory"
	"mailward/events"
	"mailward/orgauth"
	"mailward/queue"
	"mailward/smtpclient"
)

// replicaKey keys a replica recipient's own transaction to hop (Deliver
// keeps the hop beside it).
func replicaKey(hop string, index int) string { return hop + "\x00" + strconv.Itoa(index) }

// isReplication reports whether a transaction carries replica
// recipients (Deliver gives each its own).
func isReplication(m *queue.Message, idx []int) bool { return folderOf(m, idx) != "" }

// named reports whether a transaction carries a shared folder's post or
// replication (its replication ID): the test build holds it after the
// 250 (replicahold_hook.go).
func named(m *queue.Message, idx []int) bool {
	for _, i := range idx {
		if m.Env.Recipients[i].ReplicationID != "" {
			return true
		}
	}
	return false
}

// replicaProps marks the replica recipients of a transaction in its
// properties: the folder and replication ID of each, and the message as
// a replication. Any other transaction is not one, whatever the server
// before said. A post to a folder sent to its nearest replica carries
// its name (replication ID) too.
func replicaProps(env *queue.Envelope, idx []int, p *orgauth.Props) {
	p.Message.Replication = false
	for k, i := range idx {
		rc := env.Recipients[i]
		if k >= len(p.Recipients) {
			break
		}
		if rc.ReplicationID != "" {
			// A replication's, or a post's name on its way to the
			// nearest replica.
			p.Recipients[k].ReplicationID = rc.ReplicationID
		}
		if rc.Replica != "" {
			p.Recipients[k].Replica = rc.Replica
			p.Message.Replication = true
		}
	}
}

// replicationPrecheck says why a replication cannot be sent on this
// session ("" when it can): the next hop is not a server of the
// organization, or it does not take XEXCH50 from us.
func (r *Remote) replicationPrecheck(m *queue.Message, idx []int, host string, isOrg bool, blob []byte) string {
	why := ""
	switch {
	case !isOrg:
		why = fmt.Sprintf("%s is not a server of the organization", host)
	case blob == nil:
		why = fmt.Sprintf("%s did not offer XEXCH50", host)
	}
	if why != "" {
		r.Events.Emit(events.ReplicationHeld, "queue_id", m.Env.ID, "message_id", m.MessageID(), "folder", folderOf(m, idx), "remote", host,
			"reason", why)
	}
	return why
}

// replicationHeld records a replication whose XEXCH50 was not accepted
// (or whose recipient was not): the transaction was reset before DATA.
// The reply becomes the hop's last error (lastError: KB979174's text).
func (r *Remote) replicationHeld(m *queue.Message, idx []int, host string, res smtpclient.SendResult) string {
	why, what := res.XEXCH50.String(), "XEXCH50"
	if res.XEXCH50.Code == 0 {
		// Refused before XEXCH50: MAIL or the recipient (a store address
		// refuses a server without send-as, as XEXCH50 would).
		why, what = res.Mail.String(), "MAIL"
		for _, rr := range res.Rcpts {
			if !rr.Positive() {
				why, what = rr.String(), "RCPT"
			}
		}
	} else {
		r.Events.Emit(events.XEXCH50Protocol, "remote", host, "reply", why)
	}
	r.Events.Emit(events.ReplicationHeld, "queue_id", m.Env.ID, "message_id", m.MessageID(), "folder", folderOf(m, idx), "remote", host,
		"reason", what+" answered "+why)
	return why
}

// folderOf is the shared folder a replication transaction replicates.
func folderOf(m *queue.Message, idx []int) string {
	for _, i := range idx {
		if f := m.Env.Recipients[i].Replica; f != "" {
			return f
		}
	}
	return ""
}

// Count is the number of messages in a mailbox's or shared folder's
// Maildir (new/ and cur/; tmp/ holds none yet). A Maildir not made yet
// holds none.
func (md *Maildir) Count(addr string) (int, error) {
	n := 0
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(md.Dir(addr), sub))
		if err != nil && !os.IsNotExist(err) {
			return 0, err
		}
		n += len(ents)
	}
	return n, nil
}

// ServerAddress is where the organization server name is reached: its
// delivery_address, or its FQDN on the SMTP port (as its mail goes).
func (r *Remote) ServerAddress(name string) (addr string, tls smtpclient.TLSPolicy, ok bool) {
	_, rt, ok := r.serverHop(name)
	return rt.SmartHost, rt.TLS, ok
}

// OrgPeerByName is the directory entry of an organization server.
func (r *Remote) OrgPeerByName(name string) (*directory.OrgServer, bool) {
	if r.Org == nil {
		return nil, false
	}
	return r.Org().ServerByName(name)
}
