package diag

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"mailward/deliver"
	"mailward/directory"
	"mailward/orgauth"
	"mailward/reply"
	"mailward/smtpclient"
)

// AuthOptions configure the organization authentication check.
type AuthOptions struct {
	Addr     string // peer "host:port"
	HeloName string // our FQDN, as we send it in EHLO
	Self     string // our server name (X-EXPS LOGIN user)
	Secret   string // our LOGIN secret
	Rcpt     string // a recipient the peer accepts; default "postmaster"
	Timeout  time.Duration
	// Authenticate, when set, runs the X-EXPS exchange the way delivery
	// does (deliver.Remote.AuthenticateOrg: LOGIN or Kerberos GSSAPI, as
	// the peer's directory entry says); nil: X-EXPS LOGIN with Self/Secret.
	Authenticate func(ctx context.Context, c *smtpclient.Conn) (mech string, r reply.Reply, err error)
}

// AuthStep is one step of the check.
type AuthStep struct {
	Name   string
	Reply  string
	OK     bool
	Advice string // the likely cause, when not OK
}

// RunAuthCheck walks the path a message between organization servers
// takes — connect, EHLO, STARTTLS, X-EXPS, MAIL/RCPT, XEXCH50 — and stops
// at the first step that fails, naming its likely cause (KB843106, KB979174).
func RunAuthCheck(ctx context.Context, o AuthOptions) []AuthStep {
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Rcpt == "" {
		o.Rcpt = "postmaster"
	}
	var steps []AuthStep
	add := func(name, reply string, ok bool, advice string) bool {
		steps = append(steps, AuthStep{name, reply, ok, advice})
		return ok
	}
	host, _, _ := net.SplitHostPort(o.Addr)
	c, err := smtpclient.Dial(ctx, o.Addr, host, smtpclient.ClientOptions{HeloName: o.HeloName, TLS: smtpclient.TLSOpportunistic,
		Timeouts: smtpclient.Timeouts{Connect: o.Timeout, Greeting: o.Timeout, Command: o.Timeout}})
	if err != nil {
		var re *smtpclient.ReplyError
		switch {
		case errors.As(err, &re):
			add("connect, EHLO, STARTTLS", re.Error(), false, "the peer refused the session: see its reply")
		case errors.Is(err, smtpclient.ErrTLSHandshake):
			add("STARTTLS", err.Error(), false, "the TLS handshake failed: certificates or TLS versions")
		default:
			add("connect", err.Error(), false, "connection refused or dropped: the service is down, or a firewall blocks port or verbs")
		}
		return steps
	}
	defer c.Quit()
	add("connect and greeting", c.Greeting().String(), true, "")
	if t, ok := ParseGreetingTime(c.Greeting().String()); ok {
		skew := time.Since(t)
		if skew < 0 {
			skew = -skew
		}
		if skew > MaxClockSkew {
			add("clock", fmt.Sprintf("peer clock differs by %s", skew.Round(time.Second)), false,
				"clock skew over 5 minutes: Kerberos rejects the ticket (KRB_AP_ERR_SKEW); synchronise the clocks (NTP)")
			return steps
		}
	}
	tlsNote := "no STARTTLS offered"
	if c.TLS() {
		tlsNote = "STARTTLS done, EHLO sent again"
	}
	add("EHLO as "+o.HeloName, tlsNote, true, "")
	mechs, ok := c.Extensions()["X-EXPS"]
	if !add("X-EXPS offered", "X-EXPS "+mechs, ok,
		"the peer did not offer X-EXPS: our EHLO name "+o.HeloName+" is not a server of the organization in its directory (a wrong or spoofed FQDN, or replication not done), or org_auth is off on its virtual server; where the peer requires TLS, X-EXPS comes only after STARTTLS and a new EHLO") {
		return steps
	}
	auth := o.Authenticate
	if auth == nil {
		auth = loginAs(o.Self, o.Secret)
	}
	mech, r, err := auth(ctx, c)
	step := "X-EXPS " + mech
	if err != nil {
		add(step, err.Error(), false, authAdvice(err))
		return steps
	}
	add(step, r.String(), true, "")
	xexch50Steps(ctx, c, o, add)
	return steps
}

// loginAs is X-EXPS LOGIN as delivery runs it (deliver.Remote), for a
// peer known only by address: with our name and secret.
func loginAs(self, secret string) func(context.Context, *smtpclient.Conn) (string, reply.Reply, error) {
	r := &deliver.Remote{Self: self, Secret: secret}
	return func(ctx context.Context, c *smtpclient.Conn) (string, reply.Reply, error) {
		return r.AuthenticateOrg(ctx, c, &directory.OrgServer{Name: c.RemoteName(), Auth: "login"})
	}
}

// authAdvice names the likely cause of a failed X-EXPS (KB843106,
// KB979174), from what the failure is, never from its wording.
func authAdvice(err error) string {
	var ae *orgauth.AuthError
	var refused *deliver.OrgAuthRefused
	switch {
	case errors.Is(err, deliver.ErrOrgAuthNotOffered):
		return "the peer did not offer X-EXPS with the mechanism its directory entry names: our EHLO name is not a server of the organization there, or org_auth is off"
	case errors.Is(err, deliver.ErrEHLONotTrusted):
		return "the peer knows our account, but our EHLO name is not our fqdn in its directory: a wrong or spoofed FQDN (KB843106); set the virtual server's fqdn to the server's name in the organization"
	case errors.Is(err, deliver.ErrNoOrgCredentials):
		return "set organization.self and organization.password_file"
	case errors.As(err, &ae):
		switch ae.Kind {
		case orgauth.KDCUnreachable:
			return "the KDC cannot be reached (Kerberos port 88 blocked, or the KDC down): check krb5_conf and the firewall"
		case orgauth.ClockSkew, orgauth.TicketExpired:
			return "clock skew over 5 minutes (KRB_AP_ERR_SKEW): synchronise the clocks (NTP)"
		case orgauth.NoSuchService:
			return "the peer's service principal SMTP/<fqdn> is not registered (KB979174: run 'mailward diag spn' and register it exactly once)"
		case orgauth.WrongPrincipal, orgauth.Integrity:
			return "the peer's service principal is registered twice, or its key does not match (KB979174: run 'mailward diag spn --duplicates')"
		case orgauth.NoKey, orgauth.StaleKeytab, orgauth.UnknownClient:
			return "a keytab does not hold the current key: export it again (kadmin ktadd -norandkey) or reset the machine account"
		case orgauth.Misconfigured:
			return "the local Kerberos set-up is unusable: check organization.krb5_conf, keytab and realm"
		}
	case errors.As(err, &refused) && refused.Reply.Temporary():
		return "temporary authentication failure on the peer (KB979174): our account not yet in its directory (replication), clock skew, a missing or duplicate SPN, or its KDC unreachable; see event 1035 on the peer"
	case errors.As(err, &refused):
	default:
		// Neither a reply nor a Kerberos failure: the transport broke.
		return "the connection dropped during authentication: firewall or packet loss"
	}
	return "credentials refused: reset this server's account (password_file / keytab here, the directory entry there); see event 1704 on the peer"
}

// xexch50Steps are the steps after authentication: a transaction and XEXCH50.
func xexch50Steps(ctx context.Context, c *smtpclient.Conn, o AuthOptions, add func(string, string, bool, string) bool) {
	var r reply.Reply
	var err error
	if r, err = c.Cmd(ctx, o.Timeout, "MAIL FROM:<>"); err != nil || r.Code != 250 {
		add("MAIL FROM:<>", replyOr(r, err), false, "the peer refused the null sender")
		return
	}
	if r, err = c.Cmd(ctx, o.Timeout, "RCPT TO:<%s>", o.Rcpt); err != nil || r.Code/100 != 2 {
		add("RCPT TO:<"+o.Rcpt+">", replyOr(r, err), false, "pick a recipient the peer accepts with --rcpt")
		return
	}
	blob, _ := (&orgauth.Props{Envelope: orgauth.EnvelopeProp{OriginServer: o.Self}}).Encode()
	r, err = c.Cmd(ctx, o.Timeout, "XEXCH50 %d 2", len(blob))
	if err == nil && r.Code == 354 {
		if err = c.WriteRaw(blob); err == nil {
			r, err = c.ReadReply(ctx, o.Timeout)
		}
	}
	switch {
	case err != nil && (errors.Is(err, io.EOF) || strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "timeout")):
		add("XEXCH50", err.Error(), false, "the verb was blocked or the connection dropped (a firewall inspecting SMTP, or packet loss) — not a refusal by the peer")
	case err != nil:
		add("XEXCH50", err.Error(), false, "the connection failed during XEXCH50")
	case r.Code == 504 || r.Code == 505:
		add("XEXCH50", r.String(), false, "not authenticated for XEXCH50: authentication did not happen in this session (after STARTTLS it must be repeated)")
	case r.Code == 550:
		add("XEXCH50", r.String(), false, "a DENY send-as entry applies to this server (directly or through a group); see event 1711 on the peer")
	case r.Code == 500 || r.Code == 502:
		add("XEXCH50", r.String(), false, "the peer does not know XEXCH50: it is not an organization server")
	case r.Code != 250:
		add("XEXCH50", r.String(), false, "unexpected reply")
	default:
		add("XEXCH50", r.String(), true, "")
	}
	c.Cmd(ctx, o.Timeout, "RSET")
}

func replyOr(r reply.Reply, err error) string {
	if err != nil {
		return err.Error()
	}
	return r.String()
}

// XEXCH50Consequence is what a refused XEXCH50 costs: the message goes
// on without its organization properties (docs/journaling.md), except a
// shared folder's replication, which waits for them
// (docs/shared-folders.md).
const XEXCH50Consequence = "mail is delivered without its organization properties: journal reports will be duplicated, restricted groups will refuse; shared-folder replication is held (KB843106)"

// WriteAuthReport prints the steps and a verdict; ok is false when a step failed.
func WriteAuthReport(w io.Writer, steps []AuthStep) (ok bool) {
	ok = true
	for _, s := range steps {
		mark := "ok  "
		if !s.OK {
			mark, ok = "FAIL", false
		}
		fmt.Fprintf(w, "%s %-28s %s\n", mark, s.Name, s.Reply)
		if !s.OK {
			fmt.Fprintf(w, "     likely cause: %s\n", s.Advice)
		}
		if !s.OK && (s.Name == "XEXCH50" || s.Name == "X-EXPS offered") {
			// Delivery goes on without the properties (KB843106): say
			// what that costs, not only why. (A refused X-EXPS holds the
			// mail instead: KB979174.)
			fmt.Fprintf(w, "     consequence: %s\n", XEXCH50Consequence)
		}
	}
	if ok {
		fmt.Fprintln(w, "the organization path works: authenticated, and XEXCH50 accepted")
	}
	return ok
}
