package dsn

import (
	"mailward/orgauth"
	"mailward/queue"
)

// upstream is what the organization server before us said about the
// message's recipients (XEXCH50), nil when none.
func upstream(m *queue.Message) *orgauth.Props {
	if m.Env.OrgProps == nil {
		return nil
	}
	p, _ := orgauth.Decode(m.Env.OrgProps)
	return p
}

// recipientView is recipient i as the notices treat it: where its
// reports go and whether its group hides it, decided here by the
// categorizer or upstream by the server that expanded its group.
func recipientView(m *queue.Message, i int, up *orgauth.Props) queue.Recipient {
	r := m.Env.Recipients[i]
	if rp, ok := up.Recipient(r.Addr); ok {
		if r.ReportTo == "" {
			r.ReportTo = rp.ReportTo
		}
		if r.Hidden == "" {
			r.Hidden = rp.Hidden
		}
		if len(r.ExpandedFrom) == 0 {
			r.ExpandedFrom = rp.Groups
		}
	}
	return r
}

// groupOf names the group a recipient came through, for events.
func groupOf(r queue.Recipient) string {
	if n := len(r.ExpandedFrom); n > 0 {
		return r.ExpandedFrom[n-1]
	}
	return "(unknown)"
}
