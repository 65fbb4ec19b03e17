package deliver

import (
	"bufio"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestReadReply(t *testing.T) {
	for _, tc := range []struct {
		in       string
		code     int
		enhanced string
		lines    []string
		str      string
	}{
		{"250 2.1.5 ok\r\n", 250, "2.1.5", []string{"ok"}, "250 2.1.5 ok"},
		{"250-mx.test hi\r\n250-PIPELINING\r\n250 SIZE 100\r\n", 250, "", []string{"mx.test hi", "PIPELINING", "SIZE 100"},
			"250 mx.test hi; PIPELINING; SIZE 100"},
		{"550-5.7.1 first\r\n550 5.7.1 second\r\n", 550, "5.7.1", []string{"first", "second"}, "550 5.7.1 first; second"},
		{"250\r\n", 250, "", []string{""}, "250"},
		{"250 \r\n", 250, "", []string{""}, "250"},
		{"220 bare lf\n", 220, "", []string{"bare lf"}, "220 bare lf"},
		{"250 5.1.1 class differs\r\n", 250, "", []string{"5.1.1 class differs"}, "250 5.1.1 class differs"},
		{"354 3.0.0 no class 3\r\n", 354, "", []string{"3.0.0 no class 3"}, "354 3.0.0 no class 3"},
		{"451 4.4.1234 too long\r\n", 451, "", []string{"4.4.1234 too long"}, "451 4.4.1234 too long"},
		{"421 4.4.2\r\n", 421, "4.4.2", []string{""}, "421 4.4.2"},
		{"250 2.0.0\tnot a space\r\n", 250, "", []string{"2.0.0\tnot a space"}, "250 2.0.0\tnot a space"},
	} {
		r, err := readReply(bufio.NewReader(strings.NewReader(tc.in)))
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if r.Code != tc.code || r.Enhanced != tc.enhanced || !slices.Equal(r.Lines, tc.lines) || r.String() != tc.str {
			t.Errorf("%q: got %d %q %q %q", tc.in, r.Code, r.Enhanced, r.Lines, r.String())
		}
	}
}

func TestReadReplyMalformed(t *testing.T) {
	many := strings.Repeat("250-x\r\n", maxReplyLines) + "250 x\r\n"
	for _, in := range []string{
		"",                      // EOF
		"250-unfinished\r\n",    // EOF inside a multi-line reply
		"25\r\n",                // short
		"250x\r\n",              // bad separator
		"2a0 x\r\n",             // not digits
		"150 x\r\n",             // 1xx is not an SMTP reply
		"260 x\r\n",             // second digit > 5
		"600 x\r\n",             // first digit > 5
		"250-a\r\n251 b\r\n",    // code changes
		"250-a\r\nnonsense\r\n", // a line without a code
		"250 " + strings.Repeat("y", maxReplyLine) + "\r\n", // too long
		many,
	} {
		_, err := readReply(bufio.NewReader(strings.NewReader(in)))
		if err == nil {
			t.Errorf("%.40q: no error", in)
		}
	}
	// A line of exactly the limit is fine.
	ok := "250 " + strings.Repeat("y", maxReplyLine-4) + "\r\n"
	if _, err := readReply(bufio.NewReaderSize(strings.NewReader(ok), 16)); err != nil {
		t.Errorf("line of %d octets: %v", maxReplyLine, err)
	}
	_, err := readReply(bufio.NewReader(strings.NewReader("hello\r\n")))
	if !errors.Is(err, errProtocol) {
		t.Errorf("err = %v, want errProtocol", err)
	}
}

func TestReplyClasses(t *testing.T) {
	for code, want := range map[int][2]bool{250: {false, false}, 354: {false, false}, 421: {true, false}, 554: {false, true}} {
		r := Reply{Code: code}
		if r.Temporary() != want[0] || r.Permanent() != want[1] {
			t.Errorf("%d: Temporary %v Permanent %v", code, r.Temporary(), r.Permanent())
		}
	}
	if (Reply{}).String() != "" {
		t.Error("zero Reply renders non-empty")
	}
	e := &ReplyError{Stage: "STARTTLS", Reply: Reply{Code: 454, Enhanced: "4.7.0", Lines: []string{"TLS not available"}}}
	if e.Error() != "STARTTLS: 454 4.7.0 TLS not available" {
		t.Errorf("Error() = %q", e.Error())
	}
}

func TestXtextEncode(t *testing.T) {
	for in, want := range map[string]string{
		"plain@x.test": "plain@x.test",
		"a+b=c":        "a+2Bb+3Dc",
		"sp ace\x7f":   "sp+20ace+7F",
		"ü":            "+C3+BC",
	} {
		if got := xtextEncode(in); got != want {
			t.Errorf("xtext(%q) = %q, want %q", in, got, want)
		}
	}
}
