// Package orgauth is the Kerberos side of inter-server trust: SASL GSSAPI
// (RFC 4752) over gokrb5, for X-EXPS and AUTH between the organization's
// mail servers, both the accepting (receiving) and the initiating
// (sending) side.
//
// The exchange, as the SMTP layer carries it (each line base64):
//
//	C: AUTH GSSAPI <AP-REQ, mutual authentication requested>
//	S: 334 <AP-REP>                       (empty if mutual auth was not asked)
//	C: <empty>
//	S: 334 <wrap token: 0x01 0 0 0>       (only "no security layer", size 0)
//	C: <wrap token: 0x01 0 0 0 authzid>
//	S: 235
//
// Failures are *AuthError values, classified (Kind) so that the SMTP layer
// can answer 454 4.7.0 for temporary causes — clock skew, missing or
// duplicate SPNs, stale keytabs, an unreachable KDC — and name the cause in
// its events (KB979174), SEC_E_LOGON_DENIED (0x8009030c) for the rest.
//
// The acceptor verifies the AP-REQ itself, from gokrb5's exported pieces,
// rather than through service.VerifyAPREQ: it needs an injectable clock, a
// per-acceptor replay cache, a classified cause for every failure (which
// keytab entry is missing, or stale) and no PAC decoding (MIT tickets carry
// no KerbValidationInfo, and gokrb5 rejects them when it decodes PACs).
package orgauth

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// DefaultMaxSkew is the clock skew Kerberos tolerates by default.
const DefaultMaxSkew = 5 * time.Minute

// LoadKeytab reads an MIT keytab file.
func LoadKeytab(path string) (*keytab.Keytab, error) {
	kt, err := keytab.Load(path)
	if err != nil {
		return nil, &AuthError{Kind: Misconfigured, Err: fmt.Errorf("keytab %s: %w", path, err)}
	}
	return kt, nil
}

// Acceptor verifies the Kerberos tickets that peers present. One Acceptor
// is shared by all sessions of a virtual server (its replay cache spans them);
// it is safe for concurrent use. Set the fields before the first session.
type Acceptor struct {
	Keytab  *keytab.Keytab
	Clock   func() time.Time // nil: time.Now
	MaxSkew time.Duration    // 0: DefaultMaxSkew

	mu        sync.Mutex
	replay    map[string]time.Time // authenticator identity -> when it may be forgotten
	lastPrune time.Time
}

func (a *Acceptor) now() time.Time {
	if a.Clock != nil {
		return a.Clock().UTC()
	}
	return time.Now().UTC()
}

func (a *Acceptor) maxSkew() time.Duration {
	if a.MaxSkew > 0 {
		return a.MaxSkew
	}
	return DefaultMaxSkew
}

// seen records an authenticator and reports whether it was seen before.
func (a *Acceptor) seen(key string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.replay == nil {
		a.replay = map[string]time.Time{}
	}
	if now.Sub(a.lastPrune) > time.Minute || len(a.replay) > 100000 {
		for k, exp := range a.replay {
			if now.After(exp) {
				delete(a.replay, k)
			}
		}
		a.lastPrune = now
	}
	if exp, ok := a.replay[key]; ok && !now.After(exp) {
		return true
	}
	// An authenticator is accepted only within ±skew of its time, so it
	// needs remembering for twice the skew.
	a.replay[key] = now.Add(2 * a.maxSkew())
	return false
}

// serviceAliases are the service names a session for service accepts:
// for SMTP, the SPNs a mail server registers (KB979174) and the lower-case
// form real SASL clients ask for.
func serviceAliases(service string) []string {
	if strings.EqualFold(service, "SMTP") || strings.EqualFold(service, "SMTPSVC") {
		return []string{"SMTP", "SMTPSVC", "smtp"}
	}
	return []string{service}
}

type serverState int

const (
	srvWantAPReq serverState = iota
	srvWantEmpty
	srvWantLayer
	srvDone
	srvFailed
)

// ServerSession is one SASL GSSAPI exchange on the accepting side.
type ServerSession struct {
	a       *Acceptor
	service string
	host    string
	state   serverState

	key       types.EncryptionKey // the context key: initiator subkey, or the session key
	initSeq   uint64              // the initiator's first sequence number
	accSeq    uint32              // ours, sent in the AP-REP
	principal string
	authzid   string
	ticketEnd time.Time
}

// NewServerSession starts one exchange for service ("SMTP") on host (our
// FQDN; "" accepts any host the keytab holds keys for). Tickets for
// SMTP/<host>, SMTPSVC/<host> and smtp/<host> are accepted when the
// keytab has their key.
func (a *Acceptor) NewServerSession(service, host string) *ServerSession {
	return &ServerSession{a: a, service: service, host: host}
}

// Principal is the authenticated client principal, e.g.
// "SMTP/mx1.example.test@EXAMPLE.TEST"; "" until the exchange is done.
func (s *ServerSession) Principal() string {
	if s.state != srvDone {
		return ""
	}
	return s.principal
}

// AuthzID is the authorization identity the client asked for ("" for
// none: act as Principal).
func (s *ServerSession) AuthzID() string {
	if s.state != srvDone {
		return ""
	}
	return s.authzid
}

// TicketEnd is when the client's ticket expires.
func (s *ServerSession) TicketEnd() time.Time { return s.ticketEnd }

// Step takes one client response (already base64-decoded) and returns the
// challenge to send; done is true once the client is authenticated (send
// 235, no challenge). After an error the session is dead.
func (s *ServerSession) Step(resp []byte) (challenge []byte, done bool, err error) {
	switch s.state {
	case srvWantAPReq:
		challenge, err = s.acceptAPReq(resp)
	case srvWantEmpty:
		// RFC 4752: the client answers the last context token with an
		// empty response; its content, if any, carries no meaning.
		challenge, err = s.layerOffer()
		if err == nil {
			s.state = srvWantLayer
		}
	case srvWantLayer:
		err = s.acceptLayer(resp)
		if err == nil {
			s.state = srvDone
			return nil, true, nil
		}
	case srvDone:
		return nil, true, errors.New("orgauth: exchange already complete")
	default:
		return nil, false, errors.New("orgauth: exchange already failed")
	}
	if err != nil {
		s.state = srvFailed
		return nil, false, err
	}
	return challenge, false, nil
}

func (s *ServerSession) acceptAPReq(tok []byte) ([]byte, error) {
	if len(tok) == 0 {
		return nil, newErr(Malformed, 0, "empty initial response: the client sent no AP-REQ")
	}
	id, msg, err := unframeToken(tok)
	if err != nil {
		return nil, &AuthError{Kind: Malformed, Err: err}
	}
	if id != tokAPReq {
		return nil, newErr(Malformed, 0, "initial token has TOK_ID %x, want an AP-REQ (0100)", id)
	}
	var req messages.APReq
	if err := req.Unmarshal(msg); err != nil {
		return nil, &AuthError{Kind: Malformed, Err: err}
	}
	if err := s.verify(&req); err != nil {
		return nil, err
	}

	gflags, err := gssChecksumFlags(req.Authenticator.Cksum)
	if err != nil {
		return nil, &AuthError{Kind: Malformed, Err: err}
	}
	s.key = req.Ticket.DecryptedEncPart.Key
	if len(req.Authenticator.SubKey.KeyValue) > 0 {
		s.key = req.Authenticator.SubKey
	}
	s.initSeq = uint64(uint32(req.Authenticator.SeqNumber))
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, &AuthError{Kind: Misconfigured, Err: err}
	}
	s.accSeq = binary.BigEndian.Uint32(rnd[:]) & 0x3fffffff
	s.principal = req.Authenticator.CName.PrincipalNameString() + "@" + req.Authenticator.CRealm
	s.ticketEnd = req.Ticket.DecryptedEncPart.EndTime

	mutual := gflags&gssFlagMutual != 0 || types.IsFlagSet(&req.APOptions, flags.APOptionMutualRequired)
	s.state = srvWantEmpty
	if !mutual {
		return []byte{}, nil
	}
	rep, err := marshalAPRep(req.Ticket.DecryptedEncPart.Key, req.Authenticator.CTime, req.Authenticator.Cusec, s.accSeq)
	if err != nil {
		return nil, &AuthError{Kind: Misconfigured, Err: err}
	}
	return frameToken(tokAPRep, rep), nil
}

// verify checks the AP-REQ: a ticket for one of our names, decrypted with
// our key, valid now, an authenticator in its session key, from the
// ticket's client, within the allowed skew, not seen before.
func (s *ServerSession) verify(req *messages.APReq) error {
	a := s.a
	if a.Keytab == nil {
		return newErr(Misconfigured, 0, "acceptor has no keytab")
	}
	now, skew := a.now(), a.maxSkew()
	tkt := &req.Ticket
	sname := tkt.SName.PrincipalNameString() + "@" + tkt.Realm
	if len(tkt.SName.NameString) != 2 || !s.acceptsName(tkt.SName.NameString[0], tkt.SName.NameString[1]) {
		return newErr(WrongPrincipal, errorcode.KRB_AP_ERR_NOT_US,
			"ticket is for %s, this server accepts %s/%s", sname, strings.Join(serviceAliases(s.service), "|"), s.hostOrAny())
	}
	key, aerr := findKey(a.Keytab, tkt.SName, tkt.Realm, tkt.EncPart.KVNO, tkt.EncPart.EType)
	if aerr != nil {
		return aerr
	}
	if err := tkt.Decrypt(key); err != nil {
		return newErr(Integrity, errorcode.KRB_AP_ERR_BAD_INTEGRITY,
			"ticket for %s (kvno %d) does not decrypt with the keytab's key: the KDC used another key (duplicate SPN, or account re-keyed with the same kvno?): %v",
			sname, tkt.EncPart.KVNO, err)
	}
	ep := &tkt.DecryptedEncPart
	start := ep.StartTime
	if start.IsZero() {
		start = ep.AuthTime
	}
	if start.Sub(now) > skew || types.IsFlagSet(&ep.Flags, flags.Invalid) {
		return newErr(ClockSkew, errorcode.KRB_AP_ERR_TKT_NYV,
			"ticket not yet valid: starts %s, our clock says %s (KDC clock ahead by more than %s?)",
			start.Format(time.RFC3339), now.Format(time.RFC3339), skew)
	}
	if now.Sub(ep.EndTime) > skew {
		return newErr(TicketExpired, errorcode.KRB_AP_ERR_TKT_EXPIRED,
			"ticket expired at %s, our clock says %s", ep.EndTime.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	if err := req.DecryptAuthenticator(ep.Key); err != nil {
		return newErr(Integrity, errorcode.KRB_AP_ERR_BAD_INTEGRITY, "authenticator: %v", err)
	}
	au := &req.Authenticator
	if !au.CName.Equal(ep.CName) || au.CRealm != ep.CRealm {
		return newErr(LogonDenied, errorcode.KRB_AP_ERR_BADMATCH,
			"authenticator names %s@%s, ticket was issued to %s@%s",
			au.CName.PrincipalNameString(), au.CRealm, ep.CName.PrincipalNameString(), ep.CRealm)
	}
	ct := au.CTime.Add(time.Duration(au.Cusec) * time.Microsecond)
	if d := ct.Sub(now); d > skew || -d > skew {
		dir := "ahead of"
		if d < 0 {
			dir, d = "behind", -d
		}
		return newErr(ClockSkew, errorcode.KRB_AP_ERR_SKEW,
			"clock skew too great: %s's clock is %s %s ours (allowed %s)",
			au.CName.PrincipalNameString(), d.Round(time.Second), dir, skew)
	}
	rkey := strings.Join([]string{
		au.CName.PrincipalNameString(), au.CRealm, sname,
		strconv.FormatInt(au.CTime.Unix(), 10), strconv.Itoa(au.Cusec),
		string(au.Cksum.Checksum),
	}, "\x00")
	if a.seen(rkey, now) {
		return newErr(Replay, errorcode.KRB_AP_ERR_REPEAT, "authenticator from %s@%s replayed", au.CName.PrincipalNameString(), au.CRealm)
	}
	return nil
}

func (s *ServerSession) hostOrAny() string {
	if s.host == "" {
		return "*"
	}
	return s.host
}

func (s *ServerSession) acceptsName(svc, host string) bool {
	ok := false
	for _, alias := range serviceAliases(s.service) {
		if strings.EqualFold(svc, alias) {
			ok = true
		}
	}
	return ok && (s.host == "" || strings.EqualFold(strings.TrimSuffix(host, "."), strings.TrimSuffix(s.host, ".")))
}

// findKey looks the ticket's key up in the keytab and, when it is not
// there, says why: no entry for the principal at all (NoKey), entries but
// not this key version (StaleKeytab), or not this encryption type (NoKey).
func findKey(kt *keytab.Keytab, sname types.PrincipalName, realm string, kvno int, etype int32) (types.EncryptionKey, *AuthError) {
	var key types.EncryptionKey
	var newest time.Time
	var kvnos []int
	seenKVNO, found := map[int]bool{}, false
	name := sname.PrincipalNameString() + "@" + realm
	for _, e := range kt.Entries {
		if e.Principal.Realm != realm || strings.Join(e.Principal.Components, "/") != sname.PrincipalNameString() {
			continue
		}
		if !seenKVNO[int(e.KVNO)] {
			seenKVNO[int(e.KVNO)] = true
			kvnos = append(kvnos, int(e.KVNO))
		}
		if kvno != 0 && int(e.KVNO) != kvno {
			continue
		}
		found = true
		if e.Key.KeyType == etype && (key.KeyValue == nil || !e.Timestamp.Before(newest)) {
			key, newest = e.Key, e.Timestamp
		}
	}
	switch {
	case len(kvnos) == 0:
		var have []string
		seen := map[string]bool{}
		for _, e := range kt.Entries {
			p := e.Principal.String()
			if !seen[p] {
				seen[p] = true
				have = append(have, p)
			}
		}
		sort.Strings(have)
		return key, newErr(NoKey, errorcode.KRB_AP_ERR_NOKEY,
			"keytab holds no key for %s (it holds: %s)", name, strings.Join(have, ", "))
	case !found:
		sort.Ints(kvnos)
		return key, newErr(StaleKeytab, errorcode.KRB_AP_ERR_BADKEYVER,
			"ticket for %s uses key version %d, keytab has %v: stale keytab (account re-keyed after export?)", name, kvno, kvnos)
	case key.KeyValue == nil:
		return key, newErr(NoKey, errorcode.KRB_AP_ERR_NOKEY,
			"keytab holds %s kvno %d but not for encryption type %d", name, kvno, etype)
	}
	return key, nil
}

// layerOffer is the server's security-layer message: bitmask 1 (no
// security layer) and maximum message size 0, wrapped without
// confidentiality (RFC 4752 §3.1).
func (s *ServerSession) layerOffer() ([]byte, error) {
	tok, err := wrapToken(s.key, keyusage.GSSAPI_ACCEPTOR_SEAL, flagSentByAcceptor, uint64(s.accSeq), []byte{0x01, 0, 0, 0}, false, 0)
	if err != nil {
		return nil, &AuthError{Kind: Misconfigured, Err: err}
	}
	return tok, nil
}

// acceptLayer checks the client's answer: a wrap token (any RRC, sealed or
// not) with its first sequence number, choosing "no security layer", then
// the authorization identity.
func (s *ServerSession) acceptLayer(tok []byte) error {
	payload, wi, err := unwrapToken(s.key, keyusage.GSSAPI_INITIATOR_SEAL, tok, false)
	if err != nil {
		if errors.Is(err, errBadSig) {
			return &AuthError{Kind: Integrity, Err: err}
		}
		return &AuthError{Kind: Malformed, Err: err}
	}
	if wi.flags&flagAcceptorSubkey != 0 {
		return newErr(Malformed, 0, "client wrap token claims an acceptor subkey; none was sent")
	}
	if wi.seq != s.initSeq {
		return newErr(Integrity, 0, "client wrap token has sequence number %d, want %d", wi.seq, s.initSeq)
	}
	if len(payload) < 4 {
		return newErr(Malformed, 0, "security-layer answer is %d octets, want at least 4", len(payload))
	}
	if payload[0] != 0x01 {
		return newErr(Malformed, 0, "client chose security layer %#02x; only 0x01 (none) was offered", payload[0])
	}
	s.authzid = string(payload[4:])
	return nil
}
