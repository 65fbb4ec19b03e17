// Package diag holds the diagnostics that the support articles (KB843106, KB979174, KB304897) teach
// administrators to run by hand, as programs.
//
// relay.go is the relay tester (mailward diag relay): the seven manual
// relay tests of KB304897 plus the classic address tricks (source route,
// UUCP bang path, percent hack, IP-literal recipient), run against any SMTP
// server. It never sends DATA, so nothing is ever actually relayed: a 2xx
// to RCPT is the evidence.
package diag

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// RelayOptions says which server to test and how.
type RelayOptions struct {
	Host, Port string
	// Helo is the EHLO/HELO name; default "relaytest.invalid".
	Helo string
	// LocalDomain is a domain the server is final destination for.
	// Default: the 220 greeting's host name minus its first label (or the
	// whole name when that would leave only a top-level domain).
	LocalDomain string
	// RemoteDomain is certainly not local; default "relay-test.invalid"
	// (RFC 2606: can never be delivered, so a relay could not deliver).
	RemoteDomain string
	// Timeout bounds each reply; default 30s, because servers may tarpit.
	Timeout time.Duration
	// StartTLS issues STARTTLS before the tests when the server offers it.
	// The certificate is not verified: this is a probe, not a delivery.
	StartTLS bool
}

// Step is one command and the server's full (possibly multi-line) reply.
type Step struct{ Command, Reply string }

// Verdicts.
const (
	VerdictRefused       = "refused"
	VerdictAcceptedLocal = "accepted-local"
	VerdictRelayed       = "RELAYED"
	VerdictError         = "error"
)

// RelayResult is the outcome of one test.
type RelayResult struct {
	Name    string // e.g. "1 remote sender, remote recipient"
	Steps   []Step
	Verdict string // refused, accepted-local, RELAYED or error
	Detail  string // human explanation
}

// Defaults.
const (
	DefaultRelayHelo         = "relaytest.invalid"
	DefaultRelayRemoteDomain = "relay-test.invalid"
	DefaultRelayTimeout      = 30 * time.Second

	// foreignIPLiteral is TEST-NET-1 (RFC 5737): an address that is never
	// the server's own, unlike 127.0.0.1 when we test over loopback.
	foreignIPLiteral = "192.0.2.1"
)

// env is what a test's commands are built from; parts of it are only known
// after the first greeting.
type env struct {
	local, remote string
	localDerived  bool   // local came from the greeting
	greetName     string // host name in the 220 greeting
	serverIP      string // address we are connected to
}

// relayTest is one test: a sender, a recipient and what a 2xx means.
type relayTest struct {
	name string
	// mail and rcpt return the article's form first; when that form is
	// refused, the angle-bracketed RFC 5321 form is tried too, so that a
	// strict parser cannot hide a relay behind a syntax error.
	mail func(e env) []string
	rcpt func(e env) []string
	// remote reports whether the recipient's effective domain is not the
	// server's: a 2xx is then RELAYED, otherwise accepted-local.
	remote func(e env) bool
	// note explains an accepted-local outcome.
	note string
	// echoedLocal, when set, is the address a server that treats the
	// recipient as local would echo in its 2xx reply (domain appended, as
	// KB304897 shows for test 6). Seeing it turns a 2xx on a "remote"
	// test into accepted-local.
	echoedLocal func(e env) string
}

func forms(article, bracketed string) []string {
	if article == bracketed {
		return []string{article}
	}
	return []string{article, bracketed}
}

func always(v bool) func(env) bool { return func(env) bool { return v } }

// relayTests lists KB304897's seven tests and the probes, in order.
func relayTests() []relayTest {
	remoteSender := func(e env) []string {
		return forms("MAIL FROM:User@"+e.remote, "MAIL FROM:<User@"+e.remote+">")
	}
	remoteRcpt := func(e env) []string {
		return forms("RCPT TO:Recipient@"+e.remote, "RCPT TO:<Recipient@"+e.remote+">")
	}
	const ndr = "the server treats it as a local address; it must resolve it to no one and send a non-delivery report (or hand it to the unresolved-recipient smart host), never forward it to %s"
	return []relayTest{
		{name: "1 remote sender, remote recipient", mail: remoteSender, rcpt: remoteRcpt, remote: always(true)},
		{name: "2 local user without domain, remote recipient",
			mail:   func(e env) []string { return forms("MAIL FROM:LocalUser", "MAIL FROM:<LocalUser>") },
			rcpt:   remoteRcpt,
			remote: always(true)},
		{name: "3 null sender, remote recipient",
			mail:   func(e env) []string { return []string{"MAIL FROM:<>"} },
			rcpt:   remoteRcpt,
			remote: always(true)},
		{name: "4 local-domain sender, remote recipient",
			mail: func(e env) []string {
				return forms("MAIL FROM:User@"+e.local, "MAIL FROM:<User@"+e.local+">")
			},
			rcpt: remoteRcpt, remote: always(true)},
		{name: "5a IP-literal sender, remote recipient",
			mail: func(e env) []string {
				return forms("MAIL FROM:User@[10.10.10.10]", "MAIL FROM:<User@[10.10.10.10]>")
			},
			rcpt: remoteRcpt, remote: always(true)},
		{name: "5b localhost sender, remote recipient",
			mail: func(e env) []string {
				return forms("MAIL FROM:User@localhost", "MAIL FROM:<User@localhost>")
			},
			rcpt: remoteRcpt, remote: always(true)},
		{name: "5c server's own name as sender, remote recipient",
			mail: func(e env) []string {
				return forms("MAIL FROM:User@"+e.greetName, "MAIL FROM:<User@"+e.greetName+">")
			},
			rcpt: remoteRcpt, remote: always(true)},
		{name: "6 percent sign, no domain (User%remote)",
			mail: remoteSender,
			rcpt: func(e env) []string {
				return forms("RCPT TO:User%"+e.remote, "RCPT TO:<User%"+e.remote+">")
			},
			remote: always(false), note: ndr},
		{name: "7 quoted local part (\"User@remote\")",
			mail: remoteSender,
			rcpt: func(e env) []string {
				return forms(`RCPT TO:"User@`+e.remote+`"`, `RCPT TO:<"User@`+e.remote+`">`)
			},
			remote: always(false), note: ndr},
		{name: "probe: source route (@local:user@remote)",
			mail: remoteSender,
			rcpt: func(e env) []string {
				return []string{"RCPT TO:<@" + e.local + ":user@" + e.remote + ">"}
			},
			// RFC 5321 §3.6.1 / appendix C: the route is ignored and the
			// mailbox (a remote one) is the destination.
			remote: always(true)},
		{name: "probe: bang path (remote!user)",
			mail: remoteSender,
			rcpt: func(e env) []string { return []string{"RCPT TO:<" + e.remote + "!user>"} },
			// A UUCP-aware server routes this to the remote host; a server
			// that appends its default domain to a domain-less address
			// (KB304897) has made it local, and says so in its reply.
			remote:      always(true),
			echoedLocal: func(e env) string { return e.remote + "!user@" + e.local },
			note:        ndr},
		{name: "probe: bang path at local domain (remote!user@local)",
			mail: remoteSender,
			rcpt: func(e env) []string {
				return []string{"RCPT TO:<" + e.remote + "!user@" + e.local + ">"}
			},
			remote: always(false), note: ndr},
		{name: "probe: percent hack (user%remote@local)",
			mail: remoteSender,
			rcpt: func(e env) []string {
				return []string{"RCPT TO:<user%" + e.remote + "@" + e.local + ">"}
			},
			remote: always(false), note: ndr},
		{name: "probe: IP-literal recipient [" + foreignIPLiteral + "]",
			mail:   remoteSender,
			rcpt:   func(e env) []string { return []string{"RCPT TO:<user@[" + foreignIPLiteral + "]>"} },
			remote: always(true)},
		{name: "probe: IP-literal recipient [127.0.0.1]",
			mail: remoteSender,
			rcpt: func(e env) []string { return []string{"RCPT TO:<user@[127.0.0.1]>"} },
			// When we reached the server at 127.0.0.1, [127.0.0.1] is the
			// server itself and may legitimately be local (RFC 5321 §4.1.3).
			remote: func(e env) bool { return e.serverIP != "127.0.0.1" },
			note:   "[127.0.0.1] is the address this server was reached at, so it may count it as itself; it must not forward the mail anywhere"},
	}
}

// RunRelayTests runs every relay test, each on its own connection (EHLO,
// RSET, MAIL, RCPT, QUIT). It returns an error without results for bad
// options, and with the results so far when the server cannot be reached
// at all or ctx ends.
func RunRelayTests(ctx context.Context, o RelayOptions) ([]RelayResult, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	r := &relayRunner{o: o, e: env{local: o.LocalDomain, remote: o.RemoteDomain}}
	var results []RelayResult
	for i, t := range relayTests() {
		if err := ctx.Err(); err != nil {
			return results, fmt.Errorf("relay test: %w", err)
		}
		res, reached := r.run(ctx, t)
		if !reached {
			// The session broke before MAIL: try once more on a new
			// connection (servers under load drop connections), then move
			// on to the next test.
			res2, reached2 := r.run(ctx, t)
			res2.Steps = append(append(res.Steps, Step{Command: "(reconnect)"}), res2.Steps...)
			res, reached = res2, reached2
		}
		results = append(results, res)
		if i == 0 && !reached && !r.everConnected {
			return results, fmt.Errorf("relay test: cannot reach %s: %s", net.JoinHostPort(o.Host, o.Port), res.Detail)
		}
	}
	if err := ctx.Err(); err != nil {
		return results, fmt.Errorf("relay test: %w", err)
	}
	return results, nil
}

// Relayed reports whether any test found the server relaying.
func Relayed(results []RelayResult) bool {
	for _, r := range results {
		if r.Verdict == VerdictRelayed {
			return true
		}
	}
	return false
}

// WriteRelayReport writes each test's commands and replies, its verdict,
// and a final summary line.
func WriteRelayReport(w io.Writer, rs []RelayResult) {
	counts := map[string]int{}
	for _, r := range rs {
		counts[r.Verdict]++
		fmt.Fprintf(w, "== Test %s\n", r.Name)
		for _, s := range r.Steps {
			if s.Command != "" {
				fmt.Fprintf(w, "  > %s\n", s.Command)
			}
			if s.Reply != "" {
				for _, l := range strings.Split(s.Reply, "\n") {
					fmt.Fprintf(w, "  < %s\n", l)
				}
			}
		}
		fmt.Fprintf(w, "  verdict: %s", r.Verdict)
		if r.Detail != "" {
			fmt.Fprintf(w, " (%s)", r.Detail)
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w)
	}
	n := len(rs)
	tally := fmt.Sprintf("%d refused, %d accepted-local, %d RELAYED, %d error",
		counts[VerdictRefused], counts[VerdictAcceptedLocal], counts[VerdictRelayed], counts[VerdictError])
	switch {
	case n == 0:
		fmt.Fprintln(w, "SUMMARY: no tests ran")
	case counts[VerdictRelayed] > 0:
		fmt.Fprintf(w, "SUMMARY: OPEN RELAY: %d of %d tests relayed (%s)\n", counts[VerdictRelayed], n, tally)
	case counts[VerdictError] > 0:
		fmt.Fprintf(w, "SUMMARY: no relaying seen, but %d of %d tests were inconclusive (%s)\n", counts[VerdictError], n, tally)
	default:
		fmt.Fprintf(w, "SUMMARY: not an open relay (%d tests: %s)\n", n, tally)
	}
}

func (o *RelayOptions) normalize() error {
	if o.Host == "" {
		return errors.New("relay test: no host")
	}
	if o.Port == "" {
		o.Port = "25"
	}
	if o.Helo == "" {
		o.Helo = DefaultRelayHelo
	}
	if o.RemoteDomain == "" {
		o.RemoteDomain = DefaultRelayRemoteDomain
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultRelayTimeout
	}
	o.LocalDomain = strings.ToLower(strings.TrimSuffix(o.LocalDomain, "."))
	o.RemoteDomain = strings.ToLower(strings.TrimSuffix(o.RemoteDomain, "."))
	for name, v := range map[string]string{"helo": o.Helo, "local domain": o.LocalDomain, "remote domain": o.RemoteDomain, "host": o.Host, "port": o.Port} {
		// These strings go into SMTP commands: a CR, LF or space would
		// smuggle a second command or break the address.
		if strings.ContainsAny(v, " \t\r\n<>\"") {
			return fmt.Errorf("relay test: %s %q contains whitespace, quotes or angle brackets", name, v)
		}
	}
	if o.LocalDomain != "" && o.LocalDomain == o.RemoteDomain {
		return fmt.Errorf("relay test: local and remote domain are both %q", o.LocalDomain)
	}
	return nil
}

type relayRunner struct {
	o             RelayOptions
	e             env
	haveGreeting  bool
	everConnected bool
}

// greetingName returns the host name a 220 greeting announces.
func greetingName(reply string) string {
	first, _, _ := strings.Cut(reply, "\n")
	if len(first) < 4 {
		return ""
	}
	f := strings.Fields(first[4:])
	if len(f) == 0 {
		return ""
	}
	name := strings.ToLower(strings.TrimSuffix(f[0], "."))
	if strings.ContainsAny(name, "<>\"\\()@") {
		// Not a host name (some servers greet with prose).
		return ""
	}
	return name
}

// deriveLocalDomain drops the first label of the greeting name:
// mx1.example.test -> example.test. A two-label name (postfix.test) is
// kept whole, since its parent would be a top-level domain.
func deriveLocalDomain(name string) string {
	if name == "" || strings.HasPrefix(name, "[") {
		return ""
	}
	labels := strings.Split(name, ".")
	if len(labels) >= 3 {
		return strings.Join(labels[1:], ".")
	}
	return name
}

// learn fills in what only the first greeting can tell.
func (r *relayRunner) learn(greeting, serverIP string) {
	if r.haveGreeting {
		return
	}
	r.haveGreeting = true
	r.e.serverIP = serverIP
	r.e.greetName = greetingName(greeting)
	if r.e.greetName == "" {
		// No usable name: the host we connected to is the next best
		// guess for "the server's own name".
		r.e.greetName = strings.ToLower(r.o.Host)
		if net.ParseIP(r.o.Host) != nil {
			r.e.greetName = "[" + r.o.Host + "]"
		}
	}
	if r.e.local == "" {
		r.e.local = deriveLocalDomain(r.e.greetName)
		r.e.localDerived = true
		if r.e.local == "" || r.e.local == r.e.remote {
			r.e.local = "localhost"
		}
	}
}

// run performs one test on a fresh connection. reached is false when the
// session failed before MAIL could be sent (worth one reconnect).
func (r *relayRunner) run(ctx context.Context, t relayTest) (res RelayResult, reached bool) {
	res.Name = t.name
	addr := net.JoinHostPort(r.o.Host, r.o.Port)
	res.Steps = append(res.Steps, Step{Command: "(connect " + addr + ")"})
	fail := func(format string, a ...any) (RelayResult, bool) {
		res.Verdict = VerdictError
		res.Detail = fmt.Sprintf(format, a...)
		return res, reached
	}

	d := net.Dialer{Timeout: r.o.Timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		res.Steps[0].Reply = "(" + err.Error() + ")"
		return fail("cannot connect: %v", err)
	}
	r.everConnected = true
	// Cancelling ctx must interrupt a read that a tarpit holds open.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	defer func() { conn.Close() }()

	s := &session{conn: conn, br: bufio.NewReaderSize(conn, 1024), timeout: r.o.Timeout, steps: &res.Steps}
	code, greet, err := s.read("")
	if err != nil {
		return fail("%v", err)
	}
	serverIP := ""
	if ta, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		serverIP = ta.IP.String()
	}
	r.learn(greet, serverIP)
	switch {
	case code == 554 || code/100 == 5:
		// RFC 5321 §3.1: 554 instead of 220 means "no service here".
		s.quit()
		reached = true
		res.Verdict = VerdictRefused
		res.Detail = fmt.Sprintf("the server refused the session in its greeting (%d)", code)
		return res, reached
	case code/100 != 2:
		s.quit()
		return fail("greeting %d, not 220", code)
	}

	code, ehlo, err := s.cmd("EHLO " + r.o.Helo)
	if err != nil {
		return fail("%v", err)
	}
	if code/100 != 2 {
		// Pre-ESMTP servers: fall back to HELO (RFC 5321 §3.2).
		if _, _, err := s.cmd("HELO " + r.o.Helo); err != nil {
			return fail("%v", err)
		}
	} else if r.o.StartTLS && offers(ehlo, "STARTTLS") {
		code, _, err := s.cmd("STARTTLS")
		if err != nil {
			return fail("%v", err)
		}
		if code == 220 {
			sn := r.o.Host
			if net.ParseIP(sn) != nil {
				sn = ""
			}
			// InsecureSkipVerify: the probe must reach the relay check
			// even on servers with self-signed certificates; nothing
			// confidential is sent.
			tc := tls.Client(conn, &tls.Config{ServerName: sn, InsecureSkipVerify: true})
			_ = tc.SetDeadline(time.Now().Add(r.o.Timeout))
			if err := tc.HandshakeContext(ctx); err != nil {
				res.Steps = append(res.Steps, Step{Command: "(TLS handshake)", Reply: "(" + err.Error() + ")"})
				return fail("TLS handshake failed: %v", err)
			}
			_ = tc.SetDeadline(time.Time{})
			st := tc.ConnectionState()
			res.Steps = append(res.Steps, Step{Command: "(TLS handshake)", Reply: "(" + tls.VersionName(st.Version) + ", " + tls.CipherSuiteName(st.CipherSuite) + ")"})
			conn = tc
			s.conn = tc
			s.br = bufio.NewReaderSize(tc, 1024)
			// RFC 3207 §4.2: forget everything, EHLO again.
			code, _, err = s.cmd("EHLO " + r.o.Helo)
			if err != nil {
				return fail("%v", err)
			}
			if code/100 != 2 {
				if _, _, err := s.cmd("HELO " + r.o.Helo); err != nil {
					return fail("%v", err)
				}
			}
		}
	}
	if _, _, err := s.cmd("RSET"); err != nil {
		return fail("%v", err)
	}
	reached = true

	// MAIL: try each form until one is accepted.
	mailCode, mailErr := 0, error(nil)
	for _, c := range t.mail(r.e) {
		var text string
		mailCode, text, mailErr = s.cmd(c)
		if mailErr != nil || !syntaxRefusal(mailCode, text) {
			break
		}
	}
	if mailErr != nil {
		return fail("%v", mailErr)
	}
	switch mailCode / 100 {
	case 2:
	case 4:
		s.quit()
		return fail("MAIL FROM was refused temporarily (%d); the recipient could not be tested", mailCode)
	case 5:
		s.quit()
		res.Verdict = VerdictRefused
		res.Detail = fmt.Sprintf("the sender was refused (%d), so nothing can be relayed in this transaction", mailCode)
		return res, reached
	default:
		s.quit()
		return fail("unexpected reply %d to MAIL FROM", mailCode)
	}

	// RCPT: the most permissive reply over all forms decides.
	best, bestText := 0, ""
	var rcptErr error
	for _, c := range t.rcpt(r.e) {
		code, text, err := s.cmd(c)
		if err != nil {
			rcptErr = err
			break
		}
		if best == 0 || code/100 == 2 || (code/100 == 4 && best/100 == 5) {
			best, bestText = code, text
		}
		if !syntaxRefusal(code, text) {
			break
		}
	}
	s.quit()

	remote := t.remote(r.e)
	echoed := false
	if remote && best/100 == 2 && t.echoedLocal != nil {
		echoed = strings.Contains(strings.ToLower(bestText), strings.ToLower(t.echoedLocal(r.e)))
		remote = !echoed
	}
	where := r.e.remote
	switch {
	case best/100 == 2 && remote:
		res.Verdict = VerdictRelayed
		res.Detail = fmt.Sprintf("the server accepted (%d) a recipient outside its domains from a client that may not relay: it would relay to %s", best, where)
	case best/100 == 2:
		res.Verdict = VerdictAcceptedLocal
		note := t.note
		if strings.Contains(note, "%s") {
			note = fmt.Sprintf(note, where)
		}
		res.Detail = fmt.Sprintf("accepted (%d): %s", best, note)
		if echoed {
			res.Detail += fmt.Sprintf(" (the reply shows the address completed as %s)", t.echoedLocal(r.e))
		}
	case best/100 == 5:
		res.Verdict = VerdictRefused
		res.Detail = fmt.Sprintf("recipient refused (%d)", best)
	case best/100 == 4:
		res.Verdict = VerdictRefused
		res.Detail = fmt.Sprintf("recipient refused temporarily (%d)", best)
	case rcptErr != nil:
		return fail("%v", rcptErr)
	default:
		return fail("unexpected reply %d to RCPT TO", best)
	}
	if rcptErr != nil && best != 0 {
		res.Detail += "; the connection then failed: " + rcptErr.Error()
	}
	if r.e.localDerived && usesLocal(t, r.e) {
		res.Detail += fmt.Sprintf("; local domain %q was derived from the greeting (set it to be sure)", r.e.local)
	}
	return res, reached
}

// syntaxRefusal reports whether a reply rejects the form of an address
// rather than the relay attempt: then the bracketed RFC 5321 form is worth
// a try (a strict parser must not hide a relay). A policy refusal such as
// "550 5.7.1 Unable to relay" is final.
func syntaxRefusal(code int, text string) bool {
	switch code {
	case 500, 501, 553, 555:
		return true
	}
	if code/100 != 5 {
		return false
	}
	// Enhanced status codes (RFC 3463): 5.5.x syntax, 5.1.3 bad address
	// syntax, 5.1.7 bad sender address syntax.
	first, _, _ := strings.Cut(text, "\n")
	f := strings.Fields(first)
	if len(f) < 2 {
		return false
	}
	esc := f[1]
	return strings.HasPrefix(esc, "5.5.") || esc == "5.1.3" || esc == "5.1.7"
}

// usesLocal reports whether a test's commands mention the local domain.
func usesLocal(t relayTest, e env) bool {
	for _, c := range append(t.mail(e), t.rcpt(e)...) {
		if strings.Contains(c, "@"+e.local) || strings.Contains(c, "@"+e.local+":") {
			return true
		}
	}
	return false
}
