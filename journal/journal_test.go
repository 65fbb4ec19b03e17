package journal

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// dir is a small directory: alice has a proxy address, team holds alice
// and the nested group inner, inner holds dave.
type dir struct{}

func (dir) Identity(a string) string {
	a = strings.ToLower(a)
	if a == "a.smith@example.test" {
		return "alice@example.test"
	}
	return a
}

func (dir) InGroup(g, id string) bool {
	members := map[string][]string{
		"team@example.test":  {"alice@example.test", "inner@example.test"},
		"inner@example.test": {"dave@example.test"},
	}
	var walk func(g string, depth int) bool
	walk = func(g string, depth int) bool {
		for _, m := range members[g] {
			if m == id || (depth < 10 && walk(m, depth+1)) {
				return true
			}
		}
		return false
	}
	return walk(g, 0)
}

func names(rs []Rule) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

func TestMatch(t *testing.T) {
	rules := []Rule{
		{Name: "partner", Domain: "partner.test", Recipient: "j1@example.test"},
		{Name: "alice", Mailboxes: []string{"a.smith@example.test"}, Recipient: "j2@example.test"},
		{Name: "team", Group: "team@example.test", Recipient: "j2@example.test"},
	}
	cases := []struct {
		name   string
		sender string
		rcpts  []string
		want   []string
	}{
		{"domain by recipient", "bob@example.test", []string{"x@PARTNER.test"}, []string{"partner"}},
		{"domain by sender", "x@partner.test", []string{"bob@example.test"}, []string{"partner"}},
		{"mailbox by its primary, rule by proxy", "bob@example.test", []string{"alice@example.test"}, []string{"alice", "team"}},
		{"mailbox as sender", "a.smith@example.test", nil, []string{"alice", "team"}},
		{"nested group member", "bob@example.test", []string{"dave@example.test"}, []string{"team"}},
		{"no match", "bob@example.test", []string{"carol@example.test"}, nil},
		{"null sender, no match", "", []string{"bob@example.test"}, nil},
	}
	for _, c := range cases {
		if got := names(Match(rules, dir{}, c.sender, c.rcpts)); !slices.Equal(got, c.want) {
			t.Errorf("%s: matched %v, want %v", c.name, got, c.want)
		}
	}
	addrs, by := ByRecipient(Match(rules, dir{}, "a.smith@example.test", []string{"x@partner.test"}))
	if !slices.Equal(addrs, []string{"j1@example.test", "j2@example.test"}) || !slices.Equal(by["j2@example.test"], []string{"alice", "team"}) {
		t.Errorf("by recipient: %v %v, want one report each for j1 (partner) and j2 (alice, team)", addrs, by)
	}
}

const original = "Received: from client\r\nFrom: Alice <alice@example.test>\r\n" +
	"To: Bob <bob@example.test>,\r\n team@example.test\r\nCc: carol@example.test\r\n" +
	"Subject: Quarterly\r\n numbers\r\nMessage-Id: <q1@example.test>\r\n\r\nThe numbers.\r\n"

func sample() Report {
	return Report{From: "journaling@example.test", To: "journal@example.test", QueueID: "Q1",
		Date: time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC), Sender: "alice@example.test",
		Recipients: []Recipient{
			{Addr: "bob@example.test"},
			{Addr: "carol@example.test"},
			{Addr: "dave@example.test", Expanded: []string{"team@example.test", "inner@example.test"}},
			{Addr: "erin@example.test"},
			{Addr: "frank@partner.test", Forwarded: []string{"carol@example.test"}},
		},
		Original: []byte(original)}
}

func TestBuildParse(t *testing.T) {
	b := Build(sample())
	if !bytes.Equal(b, Build(sample())) {
		t.Fatal("two builds of the same report differ: a retry would send another report")
	}
	p, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.From != "journaling@example.test" || p.To != "journal@example.test" || p.Subject != "Quarterly numbers" {
		t.Errorf("header: from %q to %q subject %q", p.From, p.To, p.Subject)
	}
	if p.Sender != "alice@example.test" || p.MessageID != "<q1@example.test>" || p.EnvelopeSubject != "Quarterly numbers" {
		t.Errorf("envelope: sender %q message-id %q subject %q", p.Sender, p.MessageID, p.EnvelopeSubject)
	}
	want := []Line{
		{Field: "To", Addr: "bob@example.test"},
		{Field: "Cc", Addr: "carol@example.test"},
		{Field: "To", Addr: "dave@example.test", Expanded: []string{"team@example.test", "inner@example.test"}},
		{Field: "Bcc", Addr: "erin@example.test"},
		{Field: "Cc", Addr: "frank@partner.test", Forwarded: []string{"carol@example.test"}},
	}
	if len(p.Recipients) != len(want) {
		t.Fatalf("recipients %+v, want %+v", p.Recipients, want)
	}
	for i, l := range p.Recipients {
		w := want[i]
		if l.Field != w.Field || l.Addr != w.Addr || !slices.Equal(l.Expanded, w.Expanded) || !slices.Equal(l.Forwarded, w.Forwarded) {
			t.Errorf("recipient %d: %+v, want %+v", i, l, w)
		}
	}
	if !bytes.Equal(p.Original, []byte(original)) {
		t.Errorf("original changed:\n%q\nwant\n%q", p.Original, original)
	}
}

// An original that contains the report's boundary does not break the
// report, and a null sender is shown as <>.
func TestBuildBoundaryInOriginal(t *testing.T) {
	r := sample()
	r.Sender = ""
	r.Original = []byte("Subject: x\r\n\r\n--=_journal_Q1\r\n--=_journal_Q1_1--\r\n")
	p, err := Parse(Build(r))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Original, r.Original) || p.Sender != "<>" {
		t.Errorf("original %q sender %q", p.Original, p.Sender)
	}
}

func TestParseRefusesOtherMail(t *testing.T) {
	if _, err := Parse([]byte(original)); err != ErrNotReport {
		t.Errorf("a plain message parsed as a report: %v", err)
	}
}

// The report docs/journaling.md shows, as examples/org's journal mailbox
// received it (less the Return-Path and Delivered-To the Maildir adds).
func TestParseFixture(t *testing.T) {
	b, err := os.ReadFile("testdata/report.eml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range p.Recipients {
		s := l.Field + ": " + l.Addr
		for _, g := range l.Expanded {
			s += ", Expanded: " + g
		}
		lines = append(lines, s)
	}
	want := []string{"To: bob@example.test", "Bcc: carol@example.test", "To: alice@example.test, Expanded: team@example.test"}
	if !slices.Equal(lines, want) || p.Sender != "dave@partner.test" || p.MessageID != "<draft-7@partner.test>" || !bytes.HasPrefix(p.Original, []byte("Received: ")) {
		t.Errorf("fixture: sender %q, recipients %q (want %q), original starts %q", p.Sender, lines, want, p.Original[:min(20, len(p.Original))])
	}
}
