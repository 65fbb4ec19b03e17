package smtp

import (
	"mailward/events"
	"mailward/orgauth"
	"mailward/queue"
	"mailward/reply"
)

// replicationRefused refuses, at the end of DATA, a message to a
// server's store address that came without valid replication properties
// (XEXCH50 refused or not sent): without its replication ID it could not
// be stored exactly once, so nothing is stored (docs/shared-folders.md).
// The zero reply lets it through. props are the transaction's XEXCH50
// properties, nil when none came.
func (s *session) replicationRefused(env *queue.Envelope, props *orgauth.Props) reply.Reply {
	if s.opt.Policy == nil {
		return reply.Reply{}
	}
	store := false
	for _, r := range env.Recipients {
		if !s.opt.Policy.IsStore(r.Addr) {
			continue
		}
		store = true
		why := ""
		rp, ok := props.Recipient(r.Addr)
		switch {
		case props == nil:
			why = "the message came without its replication properties (XEXCH50)"
		case !props.Message.Replication || !ok || rp.Replica == "" || rp.ReplicationID == "":
			why = "its properties do not mark it a replication of a shared folder"
		default:
			continue
		}
		s.srv.ev.Emit(events.ReplicationDataRefused, "rcpt", r.Addr, "helo", s.helo, "ip", s.ip, "reason", why)
		return reply.New(550, "5.7.1", "Replication to %s refused: %s; nothing was stored", r.Addr, why)
	}
	if store {
		replicaDataHold() // the e2e build's kill point (replicahold_hook.go)
	}
	return reply.Reply{}
}
