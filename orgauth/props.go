// Package orgauth is the trust between the servers of one organization
// (KB843106 and KB979174): who is a server of the organization, how it proves it
// (X-EXPS with LOGIN or Kerberos GSSAPI), whether it holds SendAs, and
// the organization properties it passes on with XEXCH50.
package orgauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Magic starts every XEXCH50 blob; the digit is the format version
// (docs/xexch50.md).
const Magic = "MWX1"

// MaxBlob bounds an XEXCH50 blob: properties, not content.
const MaxBlob = 1 << 20

// Props are the organization properties of one message (KB843106: what
// must survive the hop so that journaling, group expansion, restrictions,
// forwarding and the spam verdict are not redone or lost downstream).
type Props struct {
	Version  int          `json:"v"`
	Envelope EnvelopeProp `json:"envelope"`
	// Message-level properties.
	Message    MessageProp `json:"message"`
	Recipients []RcptProp  `json:"recipients,omitempty"`
}

// EnvelopeProp holds per-envelope properties.
type EnvelopeProp struct {
	// AuthSender is the originally authenticated sender ("accept only
	// from authenticated senders" is enforced downstream with it).
	AuthSender string `json:"auth_sender,omitempty"`
	// OriginServer names the organization server that first accepted it.
	OriginServer string `json:"origin_server,omitempty"`
}

// MessageProp holds per-message properties.
type MessageProp struct {
	// SCL is the spam confidence level the first server computed
	// (-1..9); downstream trusts it instead of scanning again.
	SCL *int `json:"scl,omitempty"`
	// Journaled: a journal copy was already made (no duplicates, none
	// missing).
	Journaled bool `json:"journaled,omitempty"`
	// JournalReport: the message is a journal report (its recipient a
	// journal recipient): delivered as it is, never expanded, forwarded,
	// journaled or filtered again (docs/journaling.md).
	JournalReport bool `json:"journal_report,omitempty"`
	// Covered lists the message's recipients that reach their copies
	// another way than this transaction (or were decided already), sent
	// with a distribution group passed on unexpanded: the server that
	// expands it gives none of them a second copy (one copy per mailbox
	// for the whole organization).
	Covered []string `json:"covered,omitempty"`
	// Replication: the message is a shared folder's replication, never
	// expanded, journaled, forwarded or filtered again
	// (docs/shared-folders.md).
	Replication bool `json:"replication,omitempty"`
}

// RcptProp holds per-recipient properties (docs/xexch50.md says who sets
// each and who acts on it).
type RcptProp struct {
	Address string `json:"address"`
	// ExpandedFrom names the outermost distribution group this recipient
	// came from, and Groups every group on the way, outermost first
	// (expansion done once, not again downstream; journal reports list
	// them).
	ExpandedFrom string   `json:"expanded_from,omitempty"`
	Groups       []string `json:"groups,omitempty"`
	// Alternate marks a copy made for an alternate recipient
	// (forwarding); ForwardedFrom names the mailboxes it was made for.
	Alternate     bool     `json:"alternate,omitempty"`
	ForwardedFrom []string `json:"forwarded_from,omitempty"`
	// Forwarded: the mailbox's alternate recipient is already applied
	// upstream (deliver to both), so the next server makes no second copy.
	Forwarded bool `json:"forwarded,omitempty"`
	// ReportTo is where reports about this recipient go ("" the sender,
	// an address, "-" nobody): a group's delivery-report setting.
	ReportTo string `json:"report_to,omitempty"`
	// Hidden names the group with hidden membership it came through: a
	// report names that group, never the member.
	Hidden string `json:"hidden,omitempty"`
	// Replica names the shared folder this recipient (a server's store
	// address) is a replica of, and ReplicationID the copy: the same
	// name in every replica's Maildir, so a copy received twice is one.
	Replica       string `json:"replica,omitempty"`
	ReplicationID string `json:"replication_id,omitempty"`
}

// Recipient returns the properties of the recipient with address a
// (case-insensitive), if the blob has them.
func (p *Props) Recipient(a string) (RcptProp, bool) {
	if p == nil {
		return RcptProp{}, false
	}
	for _, r := range p.Recipients {
		if strings.EqualFold(r.Address, a) {
			return r, true
		}
	}
	return RcptProp{}, false
}

// Encode renders the wire form of XEXCH50's data.
func (p *Props) Encode() ([]byte, error) {
	p.Version = 1
	j, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("orgauth: encode properties: %w", err)
	}
	b := append([]byte(Magic), j...)
	if len(b) > MaxBlob {
		return nil, fmt.Errorf("orgauth: properties of %d octets exceed %d", len(b), MaxBlob)
	}
	return b, nil
}

// ErrBlob is any malformed XEXCH50 blob.
var ErrBlob = errors.New("orgauth: malformed XEXCH50 data")

// Decode parses XEXCH50 data; unknown fields from a newer version are
// ignored, an unknown major version is refused.
func Decode(b []byte) (*Props, error) {
	if len(b) > MaxBlob || !bytes.HasPrefix(b, []byte(Magic)) {
		return nil, ErrBlob
	}
	var p Props
	if err := json.Unmarshal(b[len(Magic):], &p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBlob, err)
	}
	if p.Version != 1 {
		return nil, fmt.Errorf("%w: version %d", ErrBlob, p.Version)
	}
	return &p, nil
}
