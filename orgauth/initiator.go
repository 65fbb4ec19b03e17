package orgauth

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Initiator is the sending server's side: it logs in to the KDC named in
// Krb5Conf with its own keytab (client principal e.g.
// "SMTP/mx1.example.test") and gets service tickets for its peers. The
// TGT and service tickets are cached between sessions; Reset drops them
// (after a peer reported a stale or missing key, for instance). Safe for
// concurrent use; set the fields before the first session.
type Initiator struct {
	Krb5Conf  string // path of krb5.conf naming the realm's KDCs
	Keytab    *keytab.Keytab
	Principal string // our client principal, without the realm
	Realm     string // "" = default_realm of Krb5Conf
	// Clock dates the authenticator (nil: time.Now). Only the AP-REQ's
	// authenticator uses it, which lets a test stand in for a server whose
	// clock is off.
	Clock   func() time.Time
	AuthzID string // authorization identity to ask for ("" = none)

	mu    sync.Mutex
	cl    *client.Client
	users map[*client.Client]int // sessions being prepared with each client
	// retired: clients Reset while in use, destroyed by their last user.
	retired map[*client.Client]bool
	cfg     *config.Config
}

func (i *Initiator) now() time.Time {
	if i.Clock != nil {
		return i.Clock().UTC()
	}
	return time.Now().UTC()
}

// client returns the logged-in gokrb5 client, logging in on first use,
// and counts the caller as a user of it: release it when done, so that a
// concurrent Reset never destroys a client in use.
func (i *Initiator) client() (*client.Client, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.cl != nil {
		i.use(i.cl)
		return i.cl, nil
	}
	if i.Keytab == nil || i.Principal == "" {
		return nil, newErr(Misconfigured, 0, "initiator needs a keytab and a principal")
	}
	if i.cfg == nil {
		cfg, err := config.Load(i.Krb5Conf)
		if err != nil {
			var ud config.UnsupportedDirective
			if !errors.As(err, &ud) || cfg == nil {
				return nil, &AuthError{Kind: Misconfigured, Err: fmt.Errorf("krb5.conf %s: %w", i.Krb5Conf, err)}
			}
		}
		i.cfg = cfg
	}
	realm := i.Realm
	if realm == "" {
		realm = i.cfg.LibDefaults.DefaultRealm
	}
	if realm == "" {
		return nil, newErr(Misconfigured, 0, "no realm: set Initiator.Realm or default_realm in %s", i.Krb5Conf)
	}
	cl := client.NewWithKeytab(i.Principal, realm, i.Keytab, i.cfg, client.DisablePAFXFAST(true))
	if err := cl.Login(); err != nil {
		cl.Destroy()
		return nil, classifyClient(err)
	}
	i.cl = cl
	i.use(cl)
	return cl, nil
}

func (i *Initiator) use(cl *client.Client) {
	if i.users == nil {
		i.users = map[*client.Client]int{}
	}
	i.users[cl]++
}

// release ends a use of cl; a client retired meanwhile is destroyed by
// its last user.
func (i *Initiator) release(cl *client.Client) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.users[cl]--; i.users[cl] > 0 {
		return
	}
	delete(i.users, cl)
	if i.retired[cl] {
		delete(i.retired, cl)
		cl.Destroy()
	}
}

// Reset forgets the TGT and the cached service tickets: the next session
// logs in again. Safe while other sessions are being prepared: their
// client is destroyed when they are done with it.
func (i *Initiator) Reset() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.cl == nil {
		return
	}
	if i.users[i.cl] > 0 {
		if i.retired == nil {
			i.retired = map[*client.Client]bool{}
		}
		i.retired[i.cl] = true
	} else {
		i.cl.Destroy()
	}
	i.cl = nil
}

// Close releases the cached credentials (same as Reset).
func (i *Initiator) Close() { i.Reset() }

type clientState int

const (
	cliStart clientState = iota
	cliWantAPRep
	cliWantLayer
	cliDone
	cliFailed
)

// ClientSession is one SASL GSSAPI exchange on the initiating side.
type ClientSession struct {
	i      *Initiator
	spn    string
	tkt    messages.Ticket
	sesKey types.EncryptionKey
	cname  types.PrincipalName
	crealm string
	state  clientState

	ctime   time.Time
	cusec   int
	subkey  types.EncryptionKey // our authenticator subkey
	accKey  types.EncryptionKey // the acceptor's subkey, if its AP-REP had one
	initSeq uint64
	accSeq  uint64
}

// NewClientSession gets (or takes from the cache) a service ticket for
// <service>/<host> — "SMTP/mx2.example.test"; MIT principal names are
// case-sensitive — and prepares the exchange. KDC failures come back
// classified: KDC_ERR_S_PRINCIPAL_UNKNOWN (NoSuchService) for a missing
// SPN, KDCUnreachable, ClockSkew, StaleKeytab for our own keytab...
func (i *Initiator) NewClientSession(service, host string) (*ClientSession, error) {
	cl, err := i.client()
	if err != nil {
		return nil, err
	}
	defer i.release(cl)
	spn := service + "/" + host
	tkt, key, err := cl.GetServiceTicket(spn)
	if err != nil {
		ae := classifyClient(err)
		ae.Err = fmt.Errorf("service ticket for %s: %w", spn, ae.Err)
		return nil, ae
	}
	return &ClientSession{
		i: i, spn: spn, tkt: tkt, sesKey: key,
		cname: cl.Credentials.CName(), crealm: cl.Credentials.Domain(),
	}, nil
}

// Start returns the initial response: the GSS-API token carrying the
// AP-REQ, with mutual authentication, integrity and sequencing asked for.
func (c *ClientSession) Start() ([]byte, error) {
	if c.state != cliStart {
		return nil, errors.New("orgauth: Start called twice")
	}
	tok, err := c.apReq()
	if err != nil {
		c.state = cliFailed
		return nil, err
	}
	c.state = cliWantAPRep
	return tok, nil
}

func (c *ClientSession) apReq() ([]byte, error) {
	au, err := types.NewAuthenticator(c.crealm, c.cname)
	if err != nil {
		return nil, &AuthError{Kind: Misconfigured, Err: err}
	}
	t := c.i.now()
	au.CTime = t.Truncate(time.Second)
	au.Cusec = t.Nanosecond() / 1000
	au.Cksum = newGSSChecksum(gssFlagMutual | gssFlagReplay | gssFlagSequence | gssFlagInteg)
	et, err := crypto.GetEtype(c.sesKey.KeyType)
	if err != nil {
		return nil, &AuthError{Kind: Misconfigured, Err: err}
	}
	if err := au.GenerateSeqNumberAndSubKey(c.sesKey.KeyType, et.GetKeyByteSize()); err != nil {
		return nil, &AuthError{Kind: Misconfigured, Err: err}
	}
	req, err := messages.NewAPReq(c.tkt, c.sesKey, au)
	if err != nil {
		return nil, &AuthError{Kind: Misconfigured, Err: err}
	}
	types.SetFlag(&req.APOptions, flags.APOptionMutualRequired)
	b, err := req.Marshal()
	if err != nil {
		return nil, &AuthError{Kind: Misconfigured, Err: err}
	}
	c.ctime, c.cusec = au.CTime, au.Cusec
	c.subkey = au.SubKey
	c.initSeq = uint64(uint32(au.SeqNumber))
	return frameToken(tokAPReq, b), nil
}

// Step takes a server challenge (base64-decoded) and returns the response
// to send. done=true comes with the last response: after sending it the
// client expects the server's final 235 (or an error reply).
func (c *ClientSession) Step(challenge []byte) (resp []byte, done bool, err error) {
	switch c.state {
	case cliWantAPRep:
		err = c.checkAPRep(challenge)
		if err == nil {
			c.state = cliWantLayer
			return []byte{}, false, nil
		}
	case cliWantLayer:
		resp, err = c.answerLayer(challenge)
		if err == nil {
			c.state = cliDone
			return resp, true, nil
		}
	case cliStart:
		return nil, false, errors.New("orgauth: Step before Start")
	case cliDone:
		return nil, true, errors.New("orgauth: exchange already complete")
	default:
		return nil, false, errors.New("orgauth: exchange already failed")
	}
	c.state = cliFailed
	return nil, false, err
}

func (c *ClientSession) checkAPRep(tok []byte) error {
	if len(tok) == 0 {
		return newErr(Malformed, 0, "server sent no AP-REP although mutual authentication was required")
	}
	id, msg, err := unframeToken(tok)
	if err != nil {
		return &AuthError{Kind: Malformed, Err: err}
	}
	switch id {
	case tokKRBError:
		var ke messages.KRBError
		if err := ke.Unmarshal(msg); err != nil {
			return &AuthError{Kind: Malformed, Err: err}
		}
		return &AuthError{Kind: kindOfCode(ke.ErrorCode), KerberosCode: ke.ErrorCode, Err: fmt.Errorf("%s rejected the ticket: %w", c.spn, ke)}
	case tokAPRep:
	default:
		return newErr(Malformed, 0, "server token has TOK_ID %x, want an AP-REP (0200)", id)
	}
	enc, err := decryptAPRep(msg, c.sesKey)
	if err != nil {
		return newErr(Integrity, errorcode.KRB_AP_ERR_BAD_INTEGRITY, "AP-REP from %s: %v", c.spn, err)
	}
	if !enc.CTime.Equal(c.ctime) || enc.Cusec != c.cusec {
		return newErr(Integrity, errorcode.KRB_AP_ERR_MUT_FAIL, "AP-REP from %s does not echo our authenticator's time", c.spn)
	}
	if len(enc.Subkey.KeyValue) > 0 {
		c.accKey = enc.Subkey
	}
	c.accSeq = uint64(uint32(enc.SequenceNumber))
	return nil
}

// contextKey is the key wrap tokens use: the acceptor's subkey if it sent
// one, else ours (RFC 4121 §2).
func (c *ClientSession) contextKey() (types.EncryptionKey, byte) {
	if len(c.accKey.KeyValue) > 0 {
		return c.accKey, flagAcceptorSubkey
	}
	return c.subkey, 0
}

func (c *ClientSession) answerLayer(tok []byte) ([]byte, error) {
	key, fl := c.contextKey()
	payload, wi, err := unwrapToken(key, keyusage.GSSAPI_ACCEPTOR_SEAL, tok, true)
	if err != nil {
		if errors.Is(err, errBadSig) {
			return nil, &AuthError{Kind: Integrity, Err: err}
		}
		return nil, &AuthError{Kind: Malformed, Err: err}
	}
	if wi.flags&flagAcceptorSubkey != fl {
		return nil, newErr(Malformed, 0, "server wrap token's AcceptorSubkey flag does not match the AP-REP")
	}
	if wi.seq != c.accSeq {
		return nil, newErr(Integrity, 0, "server wrap token has sequence number %d, want %d", wi.seq, c.accSeq)
	}
	if len(payload) != 4 {
		return nil, newErr(Malformed, 0, "security-layer offer is %d octets, want 4", len(payload))
	}
	if payload[0]&0x01 == 0 {
		return nil, newErr(Malformed, 0, "server offers security layers %#02x without 0x01 (none); we support none other", payload[0])
	}
	msg := append([]byte{0x01, 0, 0, 0}, c.i.AuthzID...)
	out, err := wrapToken(key, keyusage.GSSAPI_INITIATOR_SEAL, fl, c.initSeq, msg, false, 0)
	if err != nil {
		return nil, &AuthError{Kind: Misconfigured, Err: err}
	}
	return out, nil
}
