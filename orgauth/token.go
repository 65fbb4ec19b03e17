package orgauth

// The pieces gokrb5 v8.4.4 lacks, written from its exported types: the
// GSS-API initial-context-token framing (RFC 2743 §3.1, RFC 4121 §4.1),
// the acceptor's AP-REP (RFC 4120 §5.5.2), and RFC 4121 §4.2.6.2 wrap
// tokens in both directions, sealed or not, with the RRC rotation of
// §4.2.5 undone on receipt (gokrb5's WrapToken.Unmarshal ignores RRC: MIT
// sends RRC=0, Active Directory RRC=12 or 28, MIT's IOV API EC+16...).

import (
	"bytes"
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// GSS-API token IDs of the Kerberos mechanism (RFC 4121 §4.1).
var (
	tokAPReq    = [2]byte{0x01, 0x00}
	tokAPRep    = [2]byte{0x02, 0x00}
	tokKRBError = [2]byte{0x03, 0x00}
)

// The DER encodings of the mechanism OIDs: 1.2.840.113554.1.2.2 (RFC 1964)
// and the one old Microsoft stacks send, 1.2.840.48018.1.2.2.
var (
	oidKRB5   = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}
	oidMSKRB5 = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02}
)

// frameToken wraps a Kerberos message in the GSS-API token framing:
// [APPLICATION 0] { mech OID, TOK_ID, message }.
func frameToken(id [2]byte, msg []byte) []byte {
	inner := make([]byte, 0, len(oidKRB5)+2+len(msg))
	inner = append(inner, oidKRB5...)
	inner = append(inner, id[:]...)
	inner = append(inner, msg...)
	out := []byte{0x60}
	out = append(out, asn1tools.MarshalLengthBytes(len(inner))...)
	return append(out, inner...)
}

// unframeToken undoes frameToken; it returns the TOK_ID and the message.
func unframeToken(b []byte) (id [2]byte, msg []byte, err error) {
	if len(b) < 2 || b[0] != 0x60 {
		return id, nil, errors.New("not a GSS-API initial context token")
	}
	n, hl := 0, 2
	switch l := int(b[1]); {
	case l < 0x80:
		n = l
	case l > 0x80 && l <= 0x84:
		if len(b) < 2+l-0x80 {
			return id, nil, errors.New("truncated token length")
		}
		for _, c := range b[2 : 2+l-0x80] {
			n = n<<8 | int(c)
		}
		hl = 2 + l - 0x80
	default:
		return id, nil, errors.New("bad token length")
	}
	if n != len(b)-hl {
		return id, nil, fmt.Errorf("token length %d, have %d bytes", n, len(b)-hl)
	}
	inner := b[hl:]
	switch {
	case bytes.HasPrefix(inner, oidKRB5):
		inner = inner[len(oidKRB5):]
	case bytes.HasPrefix(inner, oidMSKRB5):
		inner = inner[len(oidMSKRB5):]
	default:
		return id, nil, errors.New("token is not for the Kerberos V5 mechanism")
	}
	if len(inner) < 2 {
		return id, nil, errors.New("token too short")
	}
	copy(id[:], inner[:2])
	return id, inner[2:], nil
}

// marshalAPRep builds the acceptor's KRB_AP_REP: EncAPRepPart {ctime,
// cusec of the client's authenticator, our sequence number, no subkey}
// encrypted in the ticket's session key (key usage 12).
func marshalAPRep(sessionKey types.EncryptionKey, ctime time.Time, cusec int, seq uint32) ([]byte, error) {
	enc := messages.EncAPRepPart{
		CTime:          ctime.UTC().Truncate(time.Second),
		Cusec:          cusec,
		SequenceNumber: int64(seq),
	}
	eb, err := asn1.Marshal(enc)
	if err != nil {
		return nil, fmt.Errorf("marshal EncAPRepPart: %w", err)
	}
	eb = asn1tools.AddASNAppTag(eb, asnAppTag.EncAPRepPart)
	ed, err := crypto.GetEncryptedData(eb, sessionKey, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		return nil, fmt.Errorf("encrypt EncAPRepPart: %w", err)
	}
	rep := messages.APRep{PVNO: iana.PVNO, MsgType: msgtype.KRB_AP_REP, EncPart: ed}
	rb, err := asn1.Marshal(rep)
	if err != nil {
		return nil, fmt.Errorf("marshal AP-REP: %w", err)
	}
	return asn1tools.AddASNAppTag(rb, asnAppTag.APREP), nil
}

// decryptAPRep opens an AP-REP with the ticket's session key.
func decryptAPRep(b []byte, sessionKey types.EncryptionKey) (*messages.EncAPRepPart, error) {
	var rep messages.APRep
	if err := rep.Unmarshal(b); err != nil {
		return nil, err
	}
	pt, err := crypto.DecryptEncPart(rep.EncPart, sessionKey, keyusage.AP_REP_ENCPART)
	if err != nil {
		return nil, err
	}
	var enc messages.EncAPRepPart
	if err := enc.Unmarshal(pt); err != nil {
		return nil, err
	}
	return &enc, nil
}

// Wrap token flags (RFC 4121 §4.2.2).
const (
	flagSentByAcceptor = 0x01
	flagSealed         = 0x02
	flagAcceptorSubkey = 0x04
)

const wrapHdrLen = 16

func wrapHeader(flags byte, ec, rrc uint16, seq uint64) []byte {
	h := make([]byte, wrapHdrLen)
	h[0], h[1], h[2], h[3] = 0x05, 0x04, flags, 0xff
	binary.BigEndian.PutUint16(h[4:6], ec)
	binary.BigEndian.PutUint16(h[6:8], rrc)
	binary.BigEndian.PutUint64(h[8:16], seq)
	return h
}

// rotateRight rotates b right by n octets (RFC 4121 §4.2.5).
func rotateRight(b []byte, n int) []byte {
	if len(b) == 0 {
		return b
	}
	n %= len(b)
	out := make([]byte, 0, len(b))
	out = append(out, b[len(b)-n:]...)
	return append(out, b[:len(b)-n]...)
}

// rotateLeft undoes rotateRight.
func rotateLeft(b []byte, n int) []byte {
	if len(b) == 0 {
		return b
	}
	n %= len(b)
	out := make([]byte, 0, len(b))
	out = append(out, b[n:]...)
	return append(out, b[:n]...)
}

// wrapToken builds a wrap token. Unsealed (RFC 4752 asks for conf_flag
// FALSE): header | payload | checksum(payload | header with EC=RRC=0).
// Sealed: header | E(payload | header with RRC=0), EC=0. Either is then
// rotated right by rrc octets.
func wrapToken(key types.EncryptionKey, usage uint32, flags byte, seq uint64, payload []byte, seal bool, rrc uint16) ([]byte, error) {
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, err
	}
	var body []byte
	var ec uint16
	if seal {
		flags |= flagSealed
		pt := append(append([]byte{}, payload...), wrapHeader(flags, 0, 0, seq)...)
		_, ct, err := et.EncryptMessage(key.KeyValue, pt, usage)
		if err != nil {
			return nil, err
		}
		body = ct
	} else {
		flags &^= flagSealed
		cks, err := et.GetChecksumHash(key.KeyValue, append(append([]byte{}, payload...), wrapHeader(flags, 0, 0, seq)...), usage)
		if err != nil {
			return nil, err
		}
		ec = uint16(len(cks))
		body = append(append([]byte{}, payload...), cks...)
	}
	return append(wrapHeader(flags, ec, rrc, seq), rotateRight(body, int(rrc))...), nil
}

// wrapInfo is what unwrapToken learned from a token's header.
type wrapInfo struct {
	flags byte
	seq   uint64
	rrc   uint16
}

// errBadSig marks a wrap token whose checksum or encryption did not
// verify.
var errBadSig = errors.New("wrap token integrity check failed")

// unwrapToken verifies a wrap token and returns its payload. fromAcceptor
// says which side must have sent it; the key and usage are the caller's.
func unwrapToken(key types.EncryptionKey, usage uint32, tok []byte, fromAcceptor bool) ([]byte, wrapInfo, error) {
	var wi wrapInfo
	if len(tok) < wrapHdrLen || tok[0] != 0x05 || tok[1] != 0x04 {
		return nil, wi, errors.New("not an RFC 4121 wrap token")
	}
	if tok[3] != 0xff {
		return nil, wi, errors.New("wrap token: bad filler octet")
	}
	wi.flags = tok[2]
	if (wi.flags&flagSentByAcceptor != 0) != fromAcceptor {
		return nil, wi, fmt.Errorf("wrap token: SentByAcceptor flag is %v, want %v", !fromAcceptor, fromAcceptor)
	}
	ec := binary.BigEndian.Uint16(tok[4:6])
	wi.rrc = binary.BigEndian.Uint16(tok[6:8])
	wi.seq = binary.BigEndian.Uint64(tok[8:16])
	body := rotateLeft(tok[wrapHdrLen:], int(wi.rrc))
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, wi, err
	}
	if wi.flags&flagSealed != 0 {
		pt, err := et.DecryptMessage(key.KeyValue, body, usage)
		if err != nil {
			return nil, wi, fmt.Errorf("%w: %v", errBadSig, err)
		}
		if len(pt) < wrapHdrLen+int(ec) {
			return nil, wi, errors.New("wrap token: sealed data too short")
		}
		inner := pt[len(pt)-wrapHdrLen:]
		if !bytes.Equal(inner, wrapHeader(wi.flags, ec, 0, wi.seq)) {
			return nil, wi, fmt.Errorf("%w: encrypted header copy differs", errBadSig)
		}
		return pt[:len(pt)-wrapHdrLen-int(ec)], wi, nil
	}
	if int(ec) > len(body) {
		return nil, wi, errors.New("wrap token: checksum longer than the token")
	}
	payload, cks := body[:len(body)-int(ec)], body[len(body)-int(ec):]
	want, err := et.GetChecksumHash(key.KeyValue, append(append([]byte{}, payload...), wrapHeader(wi.flags, 0, 0, wi.seq)...), usage)
	if err != nil {
		return nil, wi, err
	}
	if !hmac.Equal(want, cks) {
		return nil, wi, errBadSig
	}
	return payload, wi, nil
}

// gssChecksumFlags reads the context flags from an authenticator's
// RFC 4121 §4.1.1 checksum (type 0x8003).
func gssChecksumFlags(ck types.Checksum) (uint32, error) {
	const gssChecksumType = 0x8003
	if ck.CksumType != gssChecksumType {
		return 0, fmt.Errorf("authenticator checksum type %#x, want 0x8003", ck.CksumType)
	}
	if len(ck.Checksum) < 24 {
		return 0, errors.New("authenticator checksum too short")
	}
	if binary.LittleEndian.Uint32(ck.Checksum[0:4]) != 16 {
		return 0, errors.New("authenticator checksum: bad channel-binding length")
	}
	return binary.LittleEndian.Uint32(ck.Checksum[20:24]), nil
}

// newGSSChecksum builds that checksum: no channel bindings, the flags.
func newGSSChecksum(flags uint32) types.Checksum {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint32(b[0:4], 16)
	binary.LittleEndian.PutUint32(b[20:24], flags)
	return types.Checksum{CksumType: 0x8003, Checksum: b}
}

// GSS context flags (RFC 2744).
const (
	gssFlagDeleg    = 1
	gssFlagMutual   = 2
	gssFlagReplay   = 4
	gssFlagSequence = 8
	gssFlagConf     = 16
	gssFlagInteg    = 32
)
