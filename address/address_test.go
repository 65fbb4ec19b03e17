package address

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	cases := []struct {
		in, want, rest string
		err            error
	}{
		{"<alice@Example.TEST>", "alice@example.test", "", nil},
		{"alice@example.test SIZE=10", "alice@example.test", "SIZE=10", nil},
		{"<alice@example.test> SIZE=10 BODY=8BITMIME", "alice@example.test", "SIZE=10 BODY=8BITMIME", nil},
		{" <alice@example.test>", "alice@example.test", "", nil},
		{"LocalUser", "LocalUser", "", nil},
		{"User%Domain.tld", "User%Domain.tld", "", nil},
		{`"User@Domain.tld"`, `"User@Domain.tld"`, "", nil},
		{`<"User@Domain.tld"@example.test>`, `"User@Domain.tld"@example.test`, "", nil},
		{`<"a b>c"@example.test>`, `"a b>c"@example.test`, "", nil},
		{`<"alice"@example.test>`, "alice@example.test", "", nil},
		{`<"a\"b"@example.test>`, `"a\"b"@example.test`, "", nil},
		{"<@a.test,@b.test:user@remote.test>", "user@remote.test", "", nil},
		{"<user@[10.10.10.10]>", "user@[10.10.10.10]", "", nil},
		{"<user@[IPv6:2001:db8::1]>", "user@[ipv6:2001:db8::1]", "", nil},
		{"<remote.test!user@example.test>", "remote.test!user@example.test", "", nil},
		{"<alice@example.test.>", "alice@example.test", "", nil},
		{"<>", "", "", nil},
		{"<a@b@c.test>", "", "", ErrSyntax},
		{"<@a.test:>", "", "", ErrSyntax},
		{"<@bad_domain:user@x.test>", "", "", ErrSyntax},
		{"<user@[300.1.1.1]>", "", "", ErrSyntax},
		{"<user@[IPv6:10.1.1.1]>", "", "", ErrSyntax},
		{"<.user@x.test>", "", "", ErrSyntax},
		{"<user.@x.test>", "", "", ErrSyntax},
		{"<us..er@x.test>", "", "", ErrSyntax},
		{"<user@-x.test>", "", "", ErrSyntax},
		{"<user@x..test>", "", "", ErrSyntax},
		{"<user@x.test", "", "", ErrSyntax},
		{"<user@x.test>junk", "", "", ErrSyntax},
		{`<"unterminated@x.test>`, "", "", ErrSyntax},
		{"<" + strings.Repeat("a", 65) + "@x.test>", "", "", ErrTooLong},
		{"<a@" + strings.Repeat("b.", 130) + "test>", "", "", ErrTooLong},
		{"<jörg@x.test>", "", "", ErrNonASCII},
		{"", "", "", ErrSyntax},
	}
	for _, c := range cases {
		a, rest, err := ParsePath(c.in, true, false)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("ParsePath(%q) error %v, want %v", c.in, err, c.err)
			}
			continue
		}
		if err != nil || a.String() != c.want || rest != c.rest {
			t.Errorf("ParsePath(%q) = %q, %q, %v; want %q, %q", c.in, a.String(), rest, err, c.want, c.rest)
		}
	}
}

func TestNullPathOnlyWhereAllowed(t *testing.T) {
	if _, _, err := ParsePath("<>", false, false); !errors.Is(err, ErrNullNotHere) {
		t.Fatalf("RCPT TO:<> accepted: %v", err)
	}
	a, _, err := ParsePath("<>", true, false)
	if err != nil || !a.Null() {
		t.Fatalf("MAIL FROM:<> refused: %v", err)
	}
}

func TestUTF8OnlyWithSMTPUTF8(t *testing.T) {
	a, _, err := ParsePath("<jörg@bücher.test>", false, true)
	if err != nil || a.String() != "jörg@bücher.test" {
		t.Fatalf("got %q %v", a, err)
	}
	if _, _, err := ParsePath("<j\xffrg@x.test>", false, true); err == nil {
		t.Fatal("invalid UTF-8 accepted")
	}
}

func TestKeyAndLiteral(t *testing.T) {
	a, _ := Parse("Alice@Example.Test")
	if a.Key() != "alice@example.test" {
		t.Fatalf("Key = %q", a.Key())
	}
	if a.IsLiteral() {
		t.Fatal("domain is not a literal")
	}
	b, _ := Parse("x@[127.0.0.1]")
	if !b.IsLiteral() {
		t.Fatal("literal not recognised")
	}
}

// FuzzParsePath: no input panics; whatever parses renders to a path that
// parses back to the same address and carries no line breaks or NULs.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"<alice@example.test>", "LocalUser", `"User@Domain.tld"`, "<@a,@b:c@d>",
		"<user@[IPv6:::1]> SIZE=1", `<"a\"b"@x>`, "<>", "<a@b.c.>", "jörg@x"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, in string, utf8 bool) {
		a, _, err := ParsePath(in, true, utf8)
		if err != nil {
			return
		}
		s := a.String()
		if strings.ContainsAny(s, "\r\n\x00") {
			t.Fatalf("parsed %q contains a line break or NUL", s)
		}
		if len(a.Local) > MaxLocalPart || len(a.Domain) > MaxDomain {
			t.Fatalf("limits exceeded: %q", s)
		}
		b, _, err := ParsePath("<"+s+">", true, utf8)
		if err != nil || b != a {
			t.Fatalf("round trip of %q: %q %v", s, b, err)
		}
	})
}
