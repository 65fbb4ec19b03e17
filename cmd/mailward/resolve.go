package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"

	"mailward/address"
	"mailward/categorize"
	"mailward/config"
	"mailward/directory"
	"mailward/internal/setup"
	"mailward/policy"
)

// cmdDirectory runs the directory tools: `mailward directory resolve`
// shows how an address resolves (docs/categorizer.md); import and export
// move the organization between a file and LDAP (docs/directory.md).
func cmdDirectory(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("directory: want resolve, import or export")
	}
	switch args[0] {
	case "resolve":
		return resolve(os.Stdout, args[1:])
	case "import": // directory_ldap.go
		return directoryImport(os.Stdout, args[1:])
	case "export":
		return directoryExport(os.Stdout, args[1:])
	}
	return fmt.Errorf("directory: unknown subcommand %q: want resolve, import or export", args[0])
}

// resolve explains an address as the categorizer of the configured
// server resolves it: the categorizer's own decisions
// (categorize.Explain), followed to the groups' expansion servers. A
// group's hidden membership is masked unless --show-hidden is given: the
// output is an administrator's, but it is what gets pasted into a ticket
// or an answer to a user, and hidden membership is exactly what must not
// travel that way.
func resolve(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("directory resolve", flag.ContinueOnError)
	path := fs.String("config", "mailward.toml", "configuration file")
	sender := fs.String("sender", "", "apply the groups' restrictions to this sender (<> for the null sender)")
	authd := fs.Bool("authenticated", false, "the sender authenticated (AUTH, or an organization server's XEXCH50 says so)")
	showHidden := fs.Bool("show-hidden", false, "list the members of groups with hidden membership")
	asJSON := fs.Bool("json", false, "print JSON")
	// The address may come before or after the flags.
	var addr string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		addr, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if addr == "" && len(rest) > 0 {
		addr, rest = rest[0], rest[1:]
	}
	if addr == "" || len(rest) > 0 {
		return fmt.Errorf("directory resolve: name one address: mailward directory resolve ADDRESS --config FILE")
	}
	senderGiven := false
	fs.Visit(func(f *flag.Flag) { senderGiven = senderGiven || f.Name == "sender" })
	if *authd && !senderGiven {
		return fmt.Errorf("directory resolve: --authenticated goes with --sender")
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	st, err := setup.Build(cfg)
	if err != nil {
		return err
	}
	// As the receive side takes them: an address without a domain is in
	// the default domain (KB304897).
	rcpt, err := address.Parse(strings.Trim(addr, "<>"))
	if err != nil {
		return fmt.Errorf("directory resolve: %q is not an address", addr)
	}
	rcpt = st.Policy.Qualify(rcpt)
	from := ""
	if *sender != "" && *sender != "<>" {
		s, err := address.Parse(strings.Trim(*sender, "<>"))
		if err != nil {
			return fmt.Errorf("directory resolve: --sender %q is not an address", *sender)
		}
		from = st.Policy.Qualify(s).String()
	}
	self := cfg.Organization.Self
	x := st.NewCategorizer().Explain(categorize.Query{Rcpt: rcpt.String(), Sender: from, Authenticated: *authd,
		Restrictions: senderGiven, ShowHidden: *showHidden, Server: self,
		As: func(server string) categorize.Directory {
			r := *st.Recipients
			r.Self = server
			return &r
		}})
	out := resolution{Address: rcpt.String(), Server: self, Resolution: x.Root}
	if senderGiven {
		out.Sender, out.Authenticated = &from, authd
		if st.Recipients.IsLocalDomain(rcpt.Domain) {
			// What a client (not an organization server) is told at RCPT
			// on this server: where a group's restriction is decidable
			// then, it is refused there.
			d := st.Policy.Recipient(policy.Client{Authenticated: *authd, Sender: from}, policy.Rules{}, rcpt, 0)
			out.RCPT = d.Reply.String()
		}
	}
	out.Copies, out.HiddenMembers = count(x.Root)
	if st.Recipients.Org != nil {
		out.Journal = journaled(st.Recipients.Org(), from, x.Root) // resolve_journal.go
	}
	p := printer{w: w, self: self, target: func(name string) string { return serverTarget(st.Recipients, cfg, name) }}
	if *asJSON {
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s\n", b)
	} else {
		p.print(out)
		printJournal(w, out.Journal)
	}
	if x.Copies == 0 {
		return exitError{1, rcpt.String() + " resolves to no one"}
	}
	return nil
}

// resolution is what `directory resolve` prints (--json as it is).
type resolution struct {
	Address       string  `json:"address"`
	Server        string  `json:"server,omitempty"`
	Sender        *string `json:"sender,omitempty"`
	Authenticated *bool   `json:"authenticated,omitempty"`
	// RCPT is this server's reply to RCPT TO from a client.
	RCPT string `json:"rcpt,omitempty"`
	// Copies counts the copies shown, by where they go: a server's name
	// ("" this standalone server) or "relayed".
	Copies        map[string]int   `json:"copies"`
	HiddenMembers bool             `json:"hidden_members,omitempty"`
	Resolution    *categorize.Node `json:"resolution"`
	// Journal lists the journal rules that select the message.
	Journal []journalMatch `json:"journal,omitempty"`
}

// eachNode calls f for every node of the tree shown: n, its expansion,
// its alternate recipient and its members, and theirs.
func eachNode(n *categorize.Node, f func(*categorize.Node)) {
	if n == nil {
		return
	}
	f(n)
	eachNode(n.Expansion, f)
	if n.Alternate != nil {
		eachNode(n.Alternate.Recipient, f)
	}
	for _, m := range n.Members {
		eachNode(m, f)
	}
}

// count sums the copies of the tree shown, by where they go.
func count(root *categorize.Node) (map[string]int, bool) {
	out, hidden := map[string]int{}, false
	eachNode(root, func(n *categorize.Node) {
		hidden = hidden || n.HiddenMembers
		switch n.Outcome {
		case categorize.OutDelivered:
			out[n.At]++
		case categorize.OutSent:
			out[n.To]++
		case categorize.OutRelayed:
			out["relayed"]++
		case categorize.OutPassed:
			if n.Expansion == nil {
				out[n.To]++
			}
		}
	})
	return out, hidden
}

// serverTarget is where the organization's mail for a server goes: its
// delivery_address, or its FQDN on the SMTP port (deliver.Remote).
func serverTarget(r *directory.Recipients, cfg *config.Config, name string) string {
	s, ok := r.Server(name)
	switch {
	case !ok:
		return "(not in the directory)"
	case s.DeliveryAddress != "":
		return s.DeliveryAddress
	}
	return net.JoinHostPort(s.FQDN, strconv.Itoa(cfg.Delivery.RemotePort))
}

type printer struct {
	w      io.Writer
	self   string
	sender string
	target func(server string) string
}

func (p printer) print(r resolution) {
	if r.RCPT != "" {
		fmt.Fprintf(p.w, "RCPT TO:<%s> from %s, %s, on %s: %s\n", r.Address, path(*r.Sender), authWord(*r.Authenticated),
			p.serverName(p.self), r.RCPT)
	}
	if r.Sender != nil {
		p.sender = *r.Sender
	}
	p.node(r.Resolution, 0)
	total, places := 0, []string{}
	for where, n := range r.Copies {
		total += n
		places = append(places, where)
	}
	sort.Slice(places, func(i, j int) bool { return p.order(places[i]) < p.order(places[j]) })
	var parts []string
	for _, where := range places {
		parts = append(parts, fmt.Sprintf("%d %s", r.Copies[where], p.place(where)))
	}
	hidden := ""
	if r.HiddenMembers {
		hidden = " besides the hidden members'"
	}
	switch total {
	case 0:
		fmt.Fprintf(p.w, "no copy%s\n", hidden)
	case 1:
		fmt.Fprintf(p.w, "1 copy%s: %s\n", hidden, strings.Join(parts, ", "))
	default:
		fmt.Fprintf(p.w, "%d copies%s: %s\n", total, hidden, strings.Join(parts, ", "))
	}
}

// order puts this server first, the others by name, relayed last.
func (p printer) order(where string) string {
	switch where {
	case p.self:
		return "0"
	case "relayed":
		return "2"
	}
	return "1" + where
}

func (p printer) place(where string) string {
	switch where {
	case p.self:
		if p.self == "" {
			return "here"
		}
		return "here (" + p.self + ")"
	case "relayed":
		return "relayed"
	}
	return "on " + where
}

func (p printer) serverName(s string) string {
	if s == "" {
		return "this server"
	}
	return s
}

// path is an address as a reverse-path: <a>, or <> for the null sender.
func path(a string) string { return "<" + a + ">" }

func authWord(a bool) string {
	if a {
		return "authenticated"
	}
	return "not authenticated"
}

// node prints n and what it leads to, indented by depth.
func (p printer) node(n *categorize.Node, depth int) {
	ind := strings.Repeat("  ", depth)
	fmt.Fprintf(p.w, "%s%s: %s: %s\n", ind, n.Address, p.what(n), p.outcome(n))
	sub := ind + "  "
	if a := n.Alternate; a != nil {
		p.alternate(a, sub, depth+1)
	}
	switch {
	case n.Kind == categorize.KindFolder:
		for _, m := range n.Members {
			p.node(m, depth+1)
		}
	case n.Kind != categorize.KindGroup || n.Outcome == categorize.OutOnce || n.Outcome == categorize.OutCycle:
	case n.Outcome == categorize.OutPassed && n.Expansion != nil:
		e := n.Expansion
		fmt.Fprintf(p.w, "%s- then: %s\n", sub, p.outcome(e))
		p.group(e, depth)
	default:
		p.group(n, depth)
	}
}

// group prints a group's settings, the sender's verdict and its members.
func (p printer) group(n *categorize.Node, depth int) {
	sub := strings.Repeat("  ", depth+1)
	g := n.Group
	if g.HideMembership {
		fmt.Fprintf(p.w, "%s- membership hidden\n", sub)
	}
	switch g.DeliveryReports {
	case directory.ReportsToOwner:
		fmt.Fprintf(p.w, "%s- delivery reports: to the owner %s\n", sub, g.Owner)
	case directory.ReportsNone:
		fmt.Fprintf(p.w, "%s- delivery reports: none\n", sub)
	default:
		fmt.Fprintf(p.w, "%s- delivery reports: to the sender\n", sub)
	}
	if g.Restricted() {
		var rules []string
		if len(g.RejectFrom) > 0 {
			rules = append(rules, "refuse from "+strings.Join(g.RejectFrom, ", "))
		}
		if g.AcceptOnlyAuthenticated {
			rules = append(rules, "accept only from authenticated senders")
		}
		if len(g.AcceptFrom) > 0 {
			rules = append(rules, "accept only from "+strings.Join(g.AcceptFrom, ", "))
		}
		fmt.Fprintf(p.w, "%s- restrictions: %s\n", sub, strings.Join(rules, "; "))
		switch v := n.Restriction; {
		case v == nil && n.Outcome != categorize.OutExpanded && n.Outcome != categorize.OutFailed:
		case v == nil:
			fmt.Fprintf(p.w, "%s- restrictions not applied: give --sender\n", sub)
		case v.Allowed:
			fmt.Fprintf(p.w, "%s- sender %s, %s as %s sees it: allowed\n", sub, path(p.sender), authWord(v.Authenticated), p.serverName(n.At))
		default:
			fmt.Fprintf(p.w, "%s- sender %s, %s as %s sees it: refused (%s)\n", sub, path(p.sender), authWord(v.Authenticated),
				p.serverName(n.At), v.Why)
		}
		if v := n.Restriction; v != nil && v.Authenticated && g.AcceptOnlyAuthenticated && n.At != p.self {
			// KB843106's symptom, where it would show.
			fmt.Fprintf(p.w, "%s- %s knows the sender authenticated from the XEXCH50 properties only: where XEXCH50 fails, it refuses the sender as unauthenticated (KB843106)\n",
				sub, n.At)
		}
	}
	for _, m := range n.Members {
		p.node(m, depth+1)
	}
	if n.HiddenMembers {
		fmt.Fprintf(p.w, "%s- members hidden (--show-hidden lists them)\n", sub)
	}
}

func (p printer) alternate(a *categorize.Alternate, ind string, depth int) {
	both := ""
	if a.DeliverToBoth {
		both = ", deliver to both"
	}
	switch {
	case !a.Applied:
		fmt.Fprintf(p.w, "%s- alternate recipient %s%s: already applied by the server before\n", ind, a.Address, both)
	case a.Loop != "":
		fmt.Fprintf(p.w, "%s- alternate recipient %s%s: forwarding loop %s, not forwarded again\n", ind, a.Address, both, a.Loop)
	case a.Recipient == nil && a.CopyOf != "":
		fmt.Fprintf(p.w, "%s- alternate recipient %s%s: one copy only, as %s\n", ind, a.Address, both, a.CopyOf)
	case a.Recipient == nil:
		fmt.Fprintf(p.w, "%s- alternate recipient %s%s: one copy only, reached another way\n", ind, a.Address, both)
	default:
		fmt.Fprintf(p.w, "%s- alternate recipient %s%s:\n", ind, a.Address, both)
		p.node(a.Recipient, depth)
	}
}

// what says what an address is.
func (p printer) what(n *categorize.Node) string {
	switch n.Kind {
	case categorize.KindMailbox:
		s := "mailbox"
		if n.Mailbox != "" {
			s = "proxy address of mailbox " + n.Mailbox
		}
		switch {
		case n.HomeServer == "":
			return s + " of this server"
		case n.HomeServer == p.self:
			return s + ", home server " + n.HomeServer + " (this server)"
		}
		return s + ", home server " + n.HomeServer
	case categorize.KindGroup:
		if s := n.Group.ExpansionServer; s != "" {
			return "distribution group, expansion server " + s
		}
		return "distribution group"
	case categorize.KindUnknown:
		return "no mailbox or group has this address"
	case categorize.KindFolder:
		return "shared folder, replicas " + strings.Join(n.Replicas, ", ")
	case categorize.KindStore:
		return "replication to the replicas on " + n.HomeServer
	}
	return "external address"
}

// outcome says what becomes of it.
func (p printer) outcome(n *categorize.Node) string {
	switch n.Outcome {
	case categorize.OutDelivered:
		return p.on("delivered", n.At)
	case categorize.OutExpanded:
		return p.on("expanded", n.At)
	case categorize.OutSent:
		return "sent to " + n.To + " at " + p.target(n.To) + " (X-EXPS, XEXCH50)"
	case categorize.OutPassed:
		return "passed unexpanded to " + n.To + " at " + p.target(n.To) + " (X-EXPS, XEXCH50)"
	case categorize.OutRelayed:
		if n.To != "" {
			return "relayed to " + n.To + " (delivery.unresolved_host)"
		}
		return "relayed"
	case categorize.OutForwarded:
		return "forwarded to its alternate recipient only"
	case categorize.OutOnce:
		switch {
		case n.CopyOf != "":
			return "one copy only, as " + n.CopyOf
		case n.Reply != "":
			return n.Reply
		}
		return "one copy only, reached another way"
	case categorize.OutCycle:
		return "cycle " + n.Cycle + ", expanded once"
	case categorize.OutFailed:
		return "not delivered, non-delivery report: " + n.Reply
	case categorize.OutDeferred:
		return "deferred: " + n.Reply
	}
	return string(n.Outcome)
}

func (p printer) on(what, server string) string {
	if server == p.self {
		return what + " here"
	}
	return what + " on " + server
}
