package deliver

// The organization side of remote delivery (KB843106): recognising a next
// hop that is a server of the organization, authenticating to it with
// X-EXPS, and the properties it gets with XEXCH50.

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"mailward/directory"
	"mailward/orgauth"
	"mailward/queue"
	"mailward/reply"
	"mailward/smtpclient"
)

// serverHop is the delivery queue and route to a server of the
// organization: named by its FQDN, reached at its delivery_address (or
// its FQDN on the SMTP port).
func (r *Remote) serverHop(name string) (string, Route, bool) {
	if r.Org == nil {
		return "", Route{}, false
	}
	s, ok := r.Org().ServerByName(name)
	if !ok {
		return "", Route{}, false
	}
	target := s.DeliveryAddress
	if target == "" {
		target = net.JoinHostPort(s.FQDN, strconv.Itoa(r.Port))
	}
	return s.FQDN, Route{SmartHost: target, TLS: r.Default.TLS, Server: s}, true
}

// orgPeer reports whether a next hop is a server of the organization, by
// its name, its delivery_address or one of its addresses, and returns its
// directory entry.
func (r *Remote) orgPeer(host, addr string) (*directory.OrgServer, bool) {
	if r.Org == nil {
		return nil, false
	}
	org := r.Org()
	if s, ok := org.ServerByFQDN(host); ok {
		return s, true
	}
	// Servers that share an IP address (a test bed on loopback) are told
	// apart by the port of their delivery_address.
	for i := range org.Servers {
		if d := org.Servers[i].DeliveryAddress; d != "" && d == addr {
			return &org.Servers[i], true
		}
	}
	ip, _, _ := net.SplitHostPort(addr)
	for i := range org.Servers {
		for _, a := range org.Servers[i].Addresses {
			if a == ip {
				return &org.Servers[i], true
			}
		}
	}
	return nil, false
}

// ErrOrgAuthNotOffered: an organization server did not offer X-EXPS
// with the mechanism its directory entry names (it does not know our EHLO
// name as a server of the organization: KB843106).
var ErrOrgAuthNotOffered = errors.New("X-EXPS not offered")

// ErrNoOrgCredentials: this server has no LOGIN secret to prove itself
// with (organization.self, organization.password_file).
var ErrNoOrgCredentials = errors.New("no organization credentials configured (organization.self, organization.password_file)")

// OrgAuthRefused is an organization server's refusal of our X-EXPS: 454
// 4.7.0 is KB979174's temporary failure, 535 a refused credential.
type OrgAuthRefused struct{ Reply reply.Reply }

func (e *OrgAuthRefused) Error() string { return e.Reply.String() }

// Unwrap makes a 504 ErrEHLONotTrusted.
func (e *OrgAuthRefused) Unwrap() error {
	if e.Reply.Code == 504 {
		return ErrEHLONotTrusted
	}
	return nil
}

// ErrEHLONotTrusted: a peer that offers X-EXPS to every client
// (org_auth_offer = "everyone") refused ours with 504 because our EHLO
// name is not our FQDN in its directory. Trust goes with the EHLO name
// (KB843106), so delivery goes on as if X-EXPS had not been offered.
var ErrEHLONotTrusted = errors.New("X-EXPS refused: our EHLO name is not our FQDN in the peer's directory")

// OrgPeer is orgPeer for the diagnostics (mailward diag auth).
func (r *Remote) OrgPeer(host, addr string) (*directory.OrgServer, bool) {
	return r.orgPeer(host, addr)
}

// AuthenticateOrg runs the X-EXPS exchange delivery would run with peer on
// c, for the diagnostics (mailward diag auth): it returns the mechanism
// used and the peer's final reply.
func (r *Remote) AuthenticateOrg(ctx context.Context, c *smtpclient.Conn, peer *directory.OrgServer) (string, reply.Reply, error) {
	return r.orgAuth(ctx, c, peer)
}

// orgAuth authenticates this session to an organization server with
// X-EXPS (once per session). The mechanism is the one the *peer's*
// directory entry names: auth = "gssapi" means the peer has SPNs and a
// keytab, and every server sending to it authenticates with Kerberos
// (X-EXPS GSSAPI); auth = "login" means the sender proves itself with its
// LOGIN secret, checked against the sender's password_hash.
func (r *Remote) orgAuth(ctx context.Context, c *smtpclient.Conn, peer *directory.OrgServer) (mech string, rep reply.Reply, err error) {
	mech = "LOGIN"
	if peer.Auth == "gssapi" {
		mech = "GSSAPI"
	}
	if c.Authenticated() {
		return mech, rep, nil
	}
	mechs, ok := c.Extensions()["X-EXPS"]
	if !ok || !strings.Contains(" "+strings.ToUpper(mechs)+" ", " "+mech+" ") {
		return mech, rep, fmt.Errorf("%w: organization server %s did not offer X-EXPS %s to %s (is our FQDN in its directory, and is org_auth on its virtual server?)", ErrOrgAuthNotOffered, peer.Name, mech, r.HeloName)
	}
	if mech == "GSSAPI" {
		if rep, err = r.orgGSSAPI(ctx, c, peer); err != nil {
			return mech, rep, err
		}
		c.MarkAuthenticated()
		return mech, rep, nil
	}
	if r.Self == "" || r.Secret == "" {
		return mech, rep, ErrNoOrgCredentials
	}
	rep, err = c.Cmd(ctx, 0, "X-EXPS LOGIN %s", base64.StdEncoding.EncodeToString([]byte(r.Self)))
	if err == nil && rep.Code == 334 {
		rep, err = c.Cmd(ctx, 0, "%s", base64.StdEncoding.EncodeToString([]byte(r.Secret)))
	}
	if err != nil {
		return mech, rep, err
	}
	if rep.Code != 235 {
		return mech, rep, &OrgAuthRefused{rep}
	}
	c.MarkAuthenticated()
	return mech, rep, nil
}

// maxCommandLine is RFC 5321's guaranteed command line length (CRLF
// included): an initial response that would make X-EXPS longer is sent
// after an empty 334 instead (RFC 4954 §4).
const maxCommandLine = 512

// orgGSSAPI is X-EXPS GSSAPI (RFC 4752 over RFC 4954's exchange) to
// SMTP/<peer FQDN> — the FQDN from the peer's directory entry, whatever
// name or address the hop used. A KDC without SMTP/<fqdn> is asked for
// SMTPSVC/<fqdn>, the other SPN form a mail server registers (KB979174).
//
// Failures keep the message queued (the caller records the reply or the
// error as the hop's last error): the peer's 454 is KB979174's case; a
// local Kerberos failure (KDC unreachable, clock skew with the KDC, our
// own keytab) is reported by its name, and after a key or integrity
// failure, or any refusal by the peer, the cached tickets are dropped so
// that the next attempt asks the KDC again.
func (r *Remote) orgGSSAPI(ctx context.Context, c *smtpclient.Conn, peer *directory.OrgServer) (rep reply.Reply, err error) {
	if r.Kerberos == nil {
		return rep, fmt.Errorf("organization server %s takes Kerberos (auth = \"gssapi\" in its directory entry), but organization.keytab is not set here", peer.Name)
	}
	cs, err := r.Kerberos.NewClientSession("SMTP", peer.FQDN)
	var ae *orgauth.AuthError
	if errors.As(err, &ae) && ae.Kind == orgauth.NoSuchService {
		if cs2, err2 := r.Kerberos.NewClientSession("SMTPSVC", peer.FQDN); err2 == nil {
			cs, err = cs2, nil
		}
	}
	var tok []byte
	if err == nil {
		tok, err = cs.Start()
	}
	if err != nil {
		r.resetKerberos(err)
		return rep, fmt.Errorf("Kerberos authentication to %s failed here, before X-EXPS: %w", peer.FQDN, err)
	}
	b64 := base64.StdEncoding.EncodeToString(tok)
	if len("X-EXPS GSSAPI ")+len(b64)+2 <= maxCommandLine {
		rep, err = c.Cmd(ctx, 0, "X-EXPS GSSAPI %s", b64)
	} else {
		rep, err = c.Cmd(ctx, 0, "X-EXPS GSSAPI")
		if err == nil && rep.Code == 334 {
			if len(rep.Lines) > 0 && rep.Lines[0] != "" {
				c.Cmd(ctx, 0, "*")
				return rep, fmt.Errorf("X-EXPS GSSAPI: server sent a challenge %q before our first token", rep.Lines[0])
			}
			rep, err = c.Cmd(ctx, 0, "%s", b64)
		}
	}
	done := false
	// RFC 4752: two server challenges, then the outcome.
	for n := 0; err == nil && rep.Code == 334; n++ {
		if done || n == 3 {
			c.Cmd(ctx, 0, "*")
			return rep, fmt.Errorf("X-EXPS GSSAPI: server %s sent more challenges than RFC 4752 allows", peer.FQDN)
		}
		text := ""
		if len(rep.Lines) > 0 {
			text = strings.TrimSpace(rep.Lines[0])
		}
		chal, derr := base64.StdEncoding.DecodeString(text)
		if derr != nil {
			c.Cmd(ctx, 0, "*")
			return rep, fmt.Errorf("X-EXPS GSSAPI: server challenge is not base64: %v", derr)
		}
		var resp []byte
		var serr error
		resp, done, serr = cs.Step(chal)
		if serr != nil {
			c.Cmd(ctx, 0, "*") // cancel (RFC 4954 §4); the reply is 501
			r.resetKerberos(serr)
			return rep, fmt.Errorf("Kerberos authentication of %s failed here: %w", peer.FQDN, serr)
		}
		rep, err = c.Cmd(ctx, 0, "%s", base64.StdEncoding.EncodeToString(resp))
	}
	if err != nil {
		return rep, err
	}
	if rep.Code != 235 {
		// 454 (KB979174) or 535: the peer could not use our ticket. It may
		// be stale (the peer re-keyed): ask the KDC afresh next time.
		r.Kerberos.Reset()
		return rep, &OrgAuthRefused{rep}
	}
	if !done {
		return rep, fmt.Errorf("X-EXPS GSSAPI: %s answered %s before mutual authentication completed", peer.FQDN, rep.String())
	}
	return rep, nil
}

// resetKerberos drops the cached tickets after a failure that a fresh
// login may cure: a key the keytab lacks or holds in an old version, or
// a message that does not decrypt.
func (r *Remote) resetKerberos(err error) {
	var ae *orgauth.AuthError
	if errors.As(err, &ae) {
		switch ae.Kind {
		case orgauth.NoKey, orgauth.StaleKeytab, orgauth.Integrity:
			r.Kerberos.Reset()
		}
	}
}

// props are the organization properties sent with XEXCH50 (OrgProps).
func (r *Remote) props(m *queue.Message, idx []int) []byte {
	isGroup := func(addr string) bool {
		return r.Org != nil && r.Org().Find(addr).Kind == directory.GroupEntry
	}
	return OrgProps(m.Env, idx, r.Self, isGroup)
}

// OrgProps are the organization properties a server sends with XEXCH50
// for the recipients idx of env: what the server before it said (passed
// on), and what this one decided for each recipient of the transaction —
// the groups it came through, forwarding, where its reports go
// (docs/xexch50.md). self is this server's name; isGroup tells the
// distribution groups (a transaction that passes one on carries the
// message's other recipients, covered). mailward directory resolve
// builds the same properties for the hops it follows.
func OrgProps(env *queue.Envelope, idx []int, self string, isGroup func(addr string) bool) []byte {
	var up *orgauth.Props
	if env.OrgProps != nil {
		up, _ = orgauth.Decode(env.OrgProps)
	}
	var p orgauth.Props
	if up != nil {
		p.Envelope, p.Message = up.Envelope, up.Message
	}
	p.Message.Covered = covered(env, idx, up, isGroup)
	if env.SCL != nil {
		// The SCL given at receipt, so that the next servers trust it
		// instead of scanning again (KB843106, docs/filtering.md).
		p.Message.SCL = env.SCL
	}
	if p.Envelope.AuthSender == "" {
		p.Envelope.AuthSender = env.AuthUser
	}
	if p.Envelope.OriginServer == "" {
		p.Envelope.OriginServer = self
	}
	journalProps(&p, env, idx) // journal.go
	for _, i := range idx {
		rc := env.Recipients[i]
		rp, _ := up.Recipient(rc.Addr)
		rp.Address = rc.Addr
		if len(rc.ExpandedFrom) > 0 {
			rp.ExpandedFrom, rp.Groups = rc.ExpandedFrom[0], rc.ExpandedFrom
		}
		if len(rc.ForwardedFrom) > 0 {
			rp.Alternate, rp.ForwardedFrom = true, rc.ForwardedFrom
		}
		rp.Forwarded = rp.Forwarded || rc.Forwarded
		if rc.ReportTo != "" {
			rp.ReportTo = rc.ReportTo
		}
		if rc.Hidden != "" {
			rp.Hidden = rc.Hidden
		}
		p.Recipients = append(p.Recipients, rp)
	}
	replicaProps(env, idx, &p)
	b, err := p.Encode()
	if err != nil {
		return nil
	}
	return b
}

// covered is the Covered property of a transaction that passes on a
// distribution group unexpanded (to its expansion server): the message's
// other recipients, here and as the server before us listed them. They
// get their copies another way, and a member among them must not get a
// second one from the group (docs/xexch50.md). Other transactions carry
// none: their recipients are expanded already.
func covered(env *queue.Envelope, idx []int, up *orgauth.Props, isGroup func(string) bool) []string {
	in := map[int]bool{}
	passes := false
	for _, i := range idx {
		in[i] = true
		passes = passes || isGroup(env.Recipients[i].Addr)
	}
	if !passes {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	add := func(a string) {
		if a = strings.ToLower(a); !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	if up != nil {
		for _, a := range up.Message.Covered {
			add(a)
		}
	}
	for i, rc := range env.Recipients {
		if !in[i] {
			add(rc.Addr)
		}
	}
	return out
}
