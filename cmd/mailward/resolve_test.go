package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"mailward/directory"
	"mailward/internal/testkit"
)

// resolveDirectory is the organization of the `directory resolve`
// examples (docs/categorizer.md shows it and the outputs below): the
// issue's examples/org (everyone@ with team@ nested, staff@ for
// authenticated senders), and a proxy address, an alternate recipient
// delivered to both, a forwarding loop, a hidden group with its reports
// to its owner, a group that accepts only some senders and refuses one,
// and a restricted group that mx2 expands (KB843106).
func resolveDirectory() directory.OrgFile {
	return directory.OrgFile{
		Servers: []directory.OrgServer{
			{Name: "mx1", FQDN: "mx1.example.test", DeliveryAddress: "127.0.0.1:2725"},
			{Name: "mx2", FQDN: "mx2.example.test", DeliveryAddress: "127.0.0.1:2726"},
		},
		Domains: []directory.OrgDomain{{Name: "example.test"}},
		Mailboxes: []directory.OrgMailbox{
			{Address: "alice@example.test", ProxyAddresses: []string{"a.smith@example.test"}, HomeServer: "mx2"},
			{Address: "bob@example.test", HomeServer: "mx1"},
			{Address: "carol@example.test", HomeServer: "mx2", AlternateRecipient: "carol@partner.test", DeliverToBoth: true},
			{Address: "dave@example.test", HomeServer: "mx1", AlternateRecipient: "erin@example.test"},
			{Address: "erin@example.test", HomeServer: "mx2", AlternateRecipient: "dave@example.test"},
			{Address: "postmaster@example.test", HomeServer: "mx1"},
		},
		DistGroups: []directory.DistributionGroup{
			{Address: "everyone@example.test", Members: []string{"alice@example.test", "bob@example.test", "team@example.test"}},
			{Address: "team@example.test", Members: []string{"a.smith@example.test", "carol@example.test"}},
			{Address: "staff@example.test", AcceptOnlyAuthenticated: true, Members: []string{"bob@example.test", "carol@example.test"}},
			{Address: "managers@example.test", ExpansionServer: "mx2", AcceptOnlyAuthenticated: true,
				Members: []string{"alice@example.test", "bob@example.test"}},
			{Address: "board@example.test", ExpansionServer: "mx2", HideMembership: true, DeliveryReports: "owner",
				Owner: "postmaster@example.test", Members: []string{"carol@example.test", "dave@example.test", "friends@partner.test"}},
			{Address: "sales@example.test", AcceptFrom: []string{"team@example.test"}, RejectFrom: []string{"carol@example.test"},
				DeliveryReports: "none", Members: []string{"bob@example.test", "orders@partner.test"}},
		},
	}
}

// writeResolveConfig writes mx1.toml (the server mx1) and the
// organization file beside it, and returns the directory.
func writeResolveConfig(t *testing.T, org directory.OrgFile) string {
	t.Helper()
	dir := t.TempDir()
	cfg := testkit.NewConfig()
	cfg.VirtualServers[0].Address = "127.0.0.1:2725"
	cfg.Organization = &testkit.Organization{Name: "Example", Self: "mx1", File: "organization.toml"}
	b, err := toml.Marshal(org)
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string][]byte{"mx1.toml": []byte(cfg.TOML()), "organization.toml": b} {
		if err := os.WriteFile(filepath.Join(dir, name), text, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runResolve runs `mailward directory resolve` with args (the --config
// FILE named relative to dir) and returns what it prints.
func runResolve(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	args = append([]string(nil), args...)
	for i := range args {
		if i > 0 && args[i-1] == "--config" {
			args[i] = filepath.Join(dir, args[i])
		}
	}
	var out bytes.Buffer
	err := resolve(&out, args)
	return out.String(), err
}

// The exact outputs, one case per feature. docs/categorizer.md shows
// some of them (TestResolveDocumented keeps it in step).
func TestResolveOutput(t *testing.T) {
	dir := writeResolveConfig(t, resolveDirectory())
	for _, tc := range []struct {
		args  string
		want  string
		noOne bool // exit status 1: resolves to no one
	}{
		// nesting; a proxy reached twice gets one copy; an alternate delivered to both
		{"everyone@example.test", `everyone@example.test: distribution group: expanded here
  - delivery reports: to the sender
  alice@example.test: mailbox, home server mx2: sent to mx2 at 127.0.0.1:2726 (X-EXPS, XEXCH50)
  bob@example.test: mailbox, home server mx1 (this server): delivered here
  team@example.test: distribution group: expanded here
    - delivery reports: to the sender
    a.smith@example.test: proxy address of mailbox alice@example.test, home server mx2: one copy only, as alice@example.test
    carol@example.test: mailbox, home server mx2: sent to mx2 at 127.0.0.1:2726 (X-EXPS, XEXCH50)
      - alternate recipient carol@partner.test, deliver to both:
      carol@partner.test: external address: relayed
4 copies: 1 here (mx1), 2 on mx2, 1 relayed
`, false},
		// a proxy address, qualified with the default domain
		{"a.smith", `a.smith@example.test: proxy address of mailbox alice@example.test, home server mx2: sent to mx2 at 127.0.0.1:2726 (X-EXPS, XEXCH50)
1 copy: 1 on mx2
`, false},
		// a forwarding loop: one copy
		{"dave@example.test", `dave@example.test: mailbox, home server mx1 (this server): forwarded to its alternate recipient only
  - alternate recipient erin@example.test:
  erin@example.test: mailbox, home server mx2: sent to mx2 at 127.0.0.1:2726 (X-EXPS, XEXCH50)
    - alternate recipient dave@example.test: forwarding loop dave@example.test → erin@example.test → dave@example.test, not forwarded again
1 copy: 1 on mx2
`, false},
		// hidden membership masked
		{"board@example.test", `board@example.test: distribution group, expansion server mx2: passed unexpanded to mx2 at 127.0.0.1:2726 (X-EXPS, XEXCH50)
  - then: expanded on mx2
  - membership hidden
  - delivery reports: to the owner postmaster@example.test
  - members hidden (--show-hidden lists them)
no copy besides the hidden members'
`, false},
		// hidden membership shown
		{"board@example.test --show-hidden", `board@example.test: distribution group, expansion server mx2: passed unexpanded to mx2 at 127.0.0.1:2726 (X-EXPS, XEXCH50)
  - then: expanded on mx2
  - membership hidden
  - delivery reports: to the owner postmaster@example.test
  carol@example.test: mailbox, home server mx2: delivered on mx2
    - alternate recipient carol@partner.test, deliver to both:
    carol@partner.test: external address: relayed
  dave@example.test: mailbox, home server mx1 (this server): forwarded to its alternate recipient only
    - alternate recipient erin@example.test:
    erin@example.test: mailbox, home server mx2: delivered on mx2
      - alternate recipient dave@example.test: forwarding loop dave@example.test → erin@example.test → dave@example.test, not forwarded again
  friends@partner.test: external address: relayed
4 copies: 2 on mx2, 2 relayed
`, false},
		// accept only from authenticated senders: refused at RCPT
		{"staff@example.test --sender bob", `RCPT TO:<staff@example.test> from <bob@example.test>, not authenticated, on mx1: 550 5.7.1 staff@example.test accepts mail only from authenticated senders
staff@example.test: distribution group: not delivered, non-delivery report: 550 5.7.1 staff@example.test accepts mail only from authenticated senders
  - delivery reports: to the sender
  - restrictions: accept only from authenticated senders
  - sender <bob@example.test>, not authenticated as mx1 sees it: refused (staff@example.test accepts mail only from authenticated senders)
no copy
`, true},
		// authenticated
		{"staff@example.test --sender bob --authenticated", `RCPT TO:<staff@example.test> from <bob@example.test>, authenticated, on mx1: 250 2.1.5 staff@example.test
staff@example.test: distribution group: expanded here
  - delivery reports: to the sender
  - restrictions: accept only from authenticated senders
  - sender <bob@example.test>, authenticated as mx1 sees it: allowed
  bob@example.test: mailbox, home server mx1 (this server): delivered here
  carol@example.test: mailbox, home server mx2: sent to mx2 at 127.0.0.1:2726 (X-EXPS, XEXCH50)
    - alternate recipient carol@partner.test, deliver to both:
    carol@partner.test: external address: relayed
3 copies: 1 here (mx1), 1 on mx2, 1 relayed
`, false},
		// decided on the expansion server, from the XEXCH50 properties (KB843106)
		{"managers@example.test --sender bob@example.test --authenticated", `RCPT TO:<managers@example.test> from <bob@example.test>, authenticated, on mx1: 250 2.1.5 managers@example.test
managers@example.test: distribution group, expansion server mx2: passed unexpanded to mx2 at 127.0.0.1:2726 (X-EXPS, XEXCH50)
  - then: expanded on mx2
  - delivery reports: to the sender
  - restrictions: accept only from authenticated senders
  - sender <bob@example.test>, authenticated as mx2 sees it: allowed
  - mx2 knows the sender authenticated from the XEXCH50 properties only: where XEXCH50 fails, it refuses the sender as unauthenticated (KB843106)
  alice@example.test: mailbox, home server mx2: delivered on mx2
  bob@example.test: mailbox, home server mx1 (this server): sent to mx1 at 127.0.0.1:2725 (X-EXPS, XEXCH50)
2 copies: 1 here (mx1), 1 on mx2
`, false},
		// refused by reject_from
		{"sales@example.test --sender carol@example.test", `RCPT TO:<sales@example.test> from <carol@example.test>, not authenticated, on mx1: 550 5.7.1 sales@example.test does not accept mail from carol@example.test
sales@example.test: distribution group: not delivered, non-delivery report: 550 5.7.1 sales@example.test does not accept mail from carol@example.test
  - delivery reports: none
  - restrictions: refuse from carol@example.test; accept only from team@example.test
  - sender <carol@example.test>, not authenticated as mx1 sees it: refused (sales@example.test does not accept mail from carol@example.test)
no copy
`, true},
		// accepted as a member of team@, by a proxy address
		{"sales@example.test --sender a.smith@example.test", `RCPT TO:<sales@example.test> from <a.smith@example.test>, not authenticated, on mx1: 250 2.1.5 sales@example.test
sales@example.test: distribution group: expanded here
  - delivery reports: none
  - restrictions: refuse from carol@example.test; accept only from team@example.test
  - sender <a.smith@example.test>, not authenticated as mx1 sees it: allowed
  bob@example.test: mailbox, home server mx1 (this server): delivered here
  orders@partner.test: external address: relayed
2 copies: 1 here (mx1), 1 relayed
`, false},
		// nobody
		{"nobody@example.test", `nobody@example.test: no mailbox or group has this address: not delivered, non-delivery report: 550 5.1.1 nobody@example.test... User unknown
no copy
`, true},
	} {
		args := strings.Fields(tc.args)
		out, err := runResolve(t, dir, append([]string{args[0], "--config", "mx1.toml"}, args[1:]...)...)
		if out != tc.want {
			t.Errorf("directory resolve %s:\n%s\nwant:\n%s", tc.args, out, tc.want)
		}
		switch {
		case tc.noOne:
			wantExit(t, err, 1, "resolves to no one")
		case err != nil:
			t.Errorf("directory resolve %s: %v", tc.args, err)
		}
	}
}

// --json prints the same resolution as the text, hidden membership
// masked the same way: no member of board@ in it unless --show-hidden.
func TestResolveJSON(t *testing.T) {
	dir := writeResolveConfig(t, resolveDirectory())
	for _, show := range []bool{false, true} {
		args := []string{"board@example.test", "--config", "mx1.toml", "--json", "--sender", "bob@example.test"}
		if show {
			args = append(args, "--show-hidden")
		}
		out, err := runResolve(t, dir, args...)
		if err != nil {
			t.Fatalf("--show-hidden %v: %v", show, err)
		}
		var got struct {
			Address, Server, Sender, RCPT string
			Copies                        map[string]int
			HiddenMembers                 bool `json:"hidden_members"`
			Resolution                    struct {
				Outcome, To string
				Expansion   struct {
					Outcome, At   string
					HiddenMembers bool `json:"hidden_members"`
					Members       []struct{ Address string }
				}
			}
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("--show-hidden %v: %v\n%s", show, err, out)
		}
		r, e := got.Resolution, got.Resolution.Expansion
		if got.Address != "board@example.test" || got.Server != "mx1" || got.Sender != "bob@example.test" ||
			got.RCPT != "250 2.1.5 board@example.test" || r.Outcome != "passed" || r.To != "mx2" || e.Outcome != "expanded" || e.At != "mx2" {
			t.Errorf("--show-hidden %v: %s", show, out)
		}
		leaks := strings.Contains(out, "carol@") || strings.Contains(out, "dave@") || strings.Contains(out, "friends@")
		switch {
		case !show && (leaks || len(e.Members) > 0 || !e.HiddenMembers || !got.HiddenMembers || len(got.Copies) > 0):
			t.Errorf("masked, the JSON shows board@'s members or counts their copies:\n%s", out)
		case show && (len(e.Members) != 3 || e.HiddenMembers || got.Copies["mx2"] != 2 || got.Copies["relayed"] != 2):
			t.Errorf("--show-hidden: want board@'s three members and their four copies:\n%s", out)
		}
	}
}

// A standalone server (no organization) resolves its own [[mailbox]]es.
func TestResolveStandalone(t *testing.T) {
	dir := t.TempDir()
	cfg := testkit.NewConfig()
	cfg.VirtualServers[0].Address = "127.0.0.1:2525"
	cfg.Mailboxes = testkit.Mailboxes("bob@example.test")
	if err := os.WriteFile(filepath.Join(dir, "mailward.toml"), []byte(cfg.TOML()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runResolve(t, dir, "bob", "--config", "mailward.toml", "--sender", "<>")
	want := "RCPT TO:<bob@example.test> from <>, not authenticated, on this server: 250 2.1.5 bob@example.test\n" +
		"bob@example.test: mailbox of this server: delivered here\n1 copy: 1 here\n"
	if err != nil || out != want {
		t.Errorf("got (err %v):\n%s\nwant:\n%s", err, out, want)
	}
	out, err = runResolve(t, dir, "alice@example.test", "--config", "mailward.toml")
	wantExit(t, err, 1, "resolves to no one")
	if want := "alice@example.test: no mailbox or group has this address: not delivered, non-delivery report: 550 5.1.1 alice@example.test... User unknown\nno copy\n"; out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}

// The tool resolves what serve runs (setup.Build): a directory that
// config check refuses, a nesting cycle among them, is refused with the
// same error, which names the cycle.
func TestResolveRefusesWhatServeRefuses(t *testing.T) {
	org := resolveDirectory()
	org.DistGroups[1].Members = append(org.DistGroups[1].Members, "everyone@example.test")
	dir := writeResolveConfig(t, org)
	_, err := runResolve(t, dir, "everyone@example.test", "--config", "mx1.toml")
	if err == nil || !strings.Contains(err.Error(), "nesting cycle everyone@example.test → team@example.test → everyone@example.test") {
		t.Errorf("err = %v, want the nesting cycle named", err)
	}
	for _, args := range [][]string{
		{"--config", "mx1.toml"},
		{"a@example.test", "b@example.test", "--config", "mx1.toml"},
		{"a@example.test", "--config", "mx1.toml", "--authenticated"},
	} {
		if _, err := runResolve(t, writeResolveConfig(t, resolveDirectory()), args...); err == nil {
			t.Errorf("directory resolve %v: no usage error", args)
		}
	}
}

// docs/categorizer.md shows the directory above as TOML and the tool's
// output on it: the TOML is this directory, and every
// `$ mailward directory resolve` of the page prints what the page shows
// (and `$ echo $?` after one, its exit status).
func TestResolveDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/categorizer.md")
	if err != nil {
		t.Fatal(err)
	}
	const marker = "# organization.toml of the directory resolve examples\n"
	doc := string(b)
	i := strings.Index(doc, "```toml\n"+marker)
	if i < 0 {
		t.Fatalf("docs/categorizer.md has no toml block starting %q", marker)
	}
	block := doc[i+len("```toml\n"):]
	block = block[:strings.Index(block, "```")]
	var shown directory.OrgFile
	dec := toml.NewDecoder(strings.NewReader(block))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&shown); err != nil {
		t.Fatalf("the documented directory: %v", err)
	}
	if !reflect.DeepEqual(shown, resolveDirectory()) {
		t.Errorf("the documented directory is not the one the examples run on:\n%+v\nwant\n%+v", shown, resolveDirectory())
	}

	dir := writeResolveConfig(t, resolveDirectory())
	type run struct {
		line       int
		args, want string
		exit       string // "$ echo $?" after it
	}
	var runs []*run
	var cur *run
	open, plain, inExit := false, false, false // in a fence; in one without a language
	for n, l := range strings.Split(doc, "\n") {
		switch {
		case strings.HasPrefix(l, "```"):
			open = !open
			plain, cur, inExit = open && l == "```", nil, false
		case !plain:
		case strings.HasPrefix(l, "$ mailward directory resolve "):
			cur, inExit = &run{line: n + 1, args: strings.TrimPrefix(l, "$ mailward directory resolve ")}, false
			runs = append(runs, cur)
		case l == "$ echo $?" && cur != nil:
			inExit = true
		case inExit:
			cur.exit += l
		case cur != nil:
			cur.want += l + "\n"
		}
	}
	if len(runs) < 9 {
		t.Fatalf("only %d documented runs of directory resolve found", len(runs))
	}
	for _, r := range runs {
		out, err := runResolve(t, dir, strings.Fields(r.args)...)
		if out != r.want {
			t.Errorf("docs/categorizer.md line %d: directory resolve %s\nthe page shows:\n%s\nthe tool prints:\n%s", r.line, r.args, r.want, out)
		}
		switch r.exit {
		case "":
		case "1":
			wantExit(t, err, 1, "resolves to no one")
		default:
			if r.exit != "0" || err != nil {
				t.Errorf("docs/categorizer.md line %d: exit status %s shown, err %v", r.line, r.exit, err)
			}
		}
	}
}
