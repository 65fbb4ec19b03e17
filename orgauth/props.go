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
}

// RcptProp holds per-recipient properties.
type RcptProp struct {
	Address string `json:"address"`
	// ExpandedFrom names the distribution group this recipient came from
	// (expansion done once, not again downstream).
	ExpandedFrom string `json:"expanded_from,omitempty"`
	// Alternate marks a copy made for an alternate recipient
	// (forwarding), so the next server makes no second one.
	Alternate bool `json:"alternate,omitempty"`
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
