package reply

import (
	"bufio"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		in     string
		code   int
		status string
		lines  []string
		str    string
	}{
		{"250 2.1.5 ok\r\n", 250, "2.1.5", []string{"ok"}, "250 2.1.5 ok"},
		{"250-mx.test hi\r\n250-PIPELINING\r\n250 SIZE 100\r\n", 250, "", []string{"mx.test hi", "PIPELINING", "SIZE 100"},
			"250 mx.test hi; PIPELINING; SIZE 100"},
		{"550-5.7.1 first\r\n550 5.7.1 second\r\n", 550, "5.7.1", []string{"first", "second"}, "550 5.7.1 first; second"},
		{"550-5.7.26 first\r\n550 second without status\r\n", 550, "5.7.26", []string{"first", "second without status"}, "550 5.7.26 first; second without status"},
		{"250\r\n", 250, "", []string{""}, "250"},
		{"250 \r\n", 250, "", []string{""}, "250"},
		{"220 bare lf\n", 220, "", []string{"bare lf"}, "220 bare lf"},
		{"250 5.1.1 class differs\r\n", 250, "", []string{"5.1.1 class differs"}, "250 5.1.1 class differs"},
		{"354 3.0.0 no class 3\r\n", 354, "", []string{"3.0.0 no class 3"}, "354 3.0.0 no class 3"},
		{"451 4.4.1234 too long\r\n", 451, "", []string{"4.4.1234 too long"}, "451 4.4.1234 too long"},
		{"550 5.1.1.1 four parts\r\n", 550, "", []string{"5.1.1.1 four parts"}, "550 5.1.1.1 four parts"},
		{"550 5.1.1user\r\n", 550, "", []string{"5.1.1user"}, "550 5.1.1user"},
		{"421 4.4.2\r\n", 421, "4.4.2", []string{""}, "421 4.4.2"},
		{"250 2.0.0\tnot a space\r\n", 250, "", []string{"2.0.0\tnot a space"}, "250 2.0.0\tnot a space"},
	} {
		r, err := Read(bufio.NewReader(strings.NewReader(tc.in)))
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if r.Code != tc.code || r.Status != tc.status || !slices.Equal(r.Lines, tc.lines) || r.String() != tc.str {
			t.Errorf("%q: got %d %q %q %q", tc.in, r.Code, r.Status, r.Lines, r.String())
		}
	}
}

func TestReadMalformed(t *testing.T) {
	many := strings.Repeat("250-x\r\n", MaxLines) + "250 x\r\n"
	for _, in := range []string{
		"",                      // EOF
		"250-unfinished\r\n",    // EOF inside a multi-line reply
		"25\r\n",                // short
		"250x\r\n",              // bad separator
		"2a0 x\r\n",             // not digits
		"150 x\r\n",             // 1xx is not an SMTP reply
		"260 x\r\n",             // second digit > 5
		"600 x\r\n",             // first digit > 5
		"5500 x\r\n",            // four digits
		"250-a\r\n251 b\r\n",    // code changes
		"250-a\r\nnonsense\r\n", // a line without a code
		"250 " + strings.Repeat("y", MaxLineLength) + "\r\n", // too long
		many,
	} {
		if _, err := Read(bufio.NewReader(strings.NewReader(in))); err == nil {
			t.Errorf("%.40q: no error", in)
		}
	}
	// A line of exactly the limit is fine, whatever the buffer size.
	ok := "250 " + strings.Repeat("y", MaxLineLength-4) + "\r\n"
	if _, err := Read(bufio.NewReaderSize(strings.NewReader(ok), 16)); err != nil {
		t.Errorf("line of %d octets: %v", MaxLineLength, err)
	}
	if _, err := Read(bufio.NewReader(strings.NewReader("hello\r\n"))); !errors.Is(err, ErrProtocol) {
		t.Errorf("err = %v, want ErrProtocol", err)
	}
}

func TestClasses(t *testing.T) {
	for code, want := range map[int][4]bool{
		250: {true, false, false, false}, 354: {false, true, false, false},
		421: {false, false, true, false}, 554: {false, false, false, true},
	} {
		r := Reply{Code: code}
		if got := [4]bool{r.Positive(), r.Intermediate(), r.Temporary(), r.Permanent()}; got != want {
			t.Errorf("%d: got %v, want %v", code, got, want)
		}
	}
	if (Reply{}).String() != "" || !(Reply{}).IsZero() {
		t.Error("the zero Reply is not empty")
	}
}

func TestWire(t *testing.T) {
	for _, tc := range []struct {
		r    Reply
		want string
	}{
		{New(550, "5.7.1", "Unable to relay for %s", "x@y.test"), "550 5.7.1 Unable to relay for x@y.test\r\n"},
		{New(504, "", "Need to authenticate first"), "504 Need to authenticate first\r\n"},
		{New(250, "2.0.0", "100%% sure"), "250 2.0.0 100% sure\r\n"},
		{Reply{Code: 250, Lines: []string{"mx.test Hello", "PIPELINING", "HELP"}}, "250-mx.test Hello\r\n250-PIPELINING\r\n250 HELP\r\n"},
		{Reply{Code: 550, Status: "5.7.1", Lines: []string{"one", "two"}}, "550-5.7.1 one\r\n550 5.7.1 two\r\n"},
		{Reply{Code: 334}, "334 \r\n"},
		{Reply{Code: 421, Status: "4.4.2"}, "421 4.4.2\r\n"},
		// Echoed client text can never split a reply in two.
		{New(501, "5.5.4", "bad %s", "a\r\n250 injected"), "501 5.5.4 bad a??250 injected\r\n"},
	} {
		if got := string(tc.r.Wire()); got != tc.want {
			t.Errorf("%v: wire %q, want %q", tc.r, got, tc.want)
		}
		// What goes on the wire reads back as the same reply.
		back, err := Read(bufio.NewReader(strings.NewReader(tc.want)))
		if err != nil || back.Code != tc.r.Code || back.Status != tc.r.Status {
			t.Errorf("%q reads back as %v, %v", tc.want, back, err)
		}
	}
}

func TestParseAndStatus(t *testing.T) {
	for _, tc := range []struct {
		in       string
		ok       bool
		status   string // Status
		enhanced string // EnhancedStatus
		text     string
	}{
		{"550 5.1.1 user unknown", true, "5.1.1", "5.1.1", "user unknown"},
		{"550 5.1.1", true, "5.1.1", "5.1.1", ""},
		{"451 4.7.1 greylisted, try later", true, "4.7.1", "4.7.1", "greylisted, try later"},
		{"250 2.0.0 Ok: queued", true, "2.0.0", "2.0.0", "Ok: queued"},
		{"550 user unknown", true, "", "5.0.0", "user unknown"},
		{"421 Service not available", true, "", "4.0.0", "Service not available"},
		{"450", true, "", "4.0.0", ""},
		{"550 4.2.2 class mismatch", true, "", "5.0.0", "4.2.2 class mismatch"},
		{"450 5.1.1 class mismatch", true, "", "4.0.0", "5.1.1 class mismatch"},
		{"550 5.1.1000 too long", true, "", "5.0.0", "5.1.1000 too long"},
		{"550 3.1.1 bad class", true, "", "5.0.0", "3.1.1 bad class"},
		{"250 Ok", true, "", "2.0.0", "Ok"},
		{"", false, "", "", ""},
		{"garbage", false, "", "", ""},
		{"55", false, "", "", ""},
		{"5500 5.1.1 four-digit code", false, "", "", ""},
		{"  554 5.7.1 leading space", false, "", "", ""},
		{"delivered to maildir /x", false, "", "", ""},
	} {
		r, ok := Parse(tc.in)
		if ok != tc.ok {
			t.Errorf("Parse(%q) ok = %v", tc.in, ok)
			continue
		}
		if !ok {
			continue
		}
		if r.Status != tc.status || r.EnhancedStatus() != tc.enhanced || r.Text() != tc.text {
			t.Errorf("Parse(%q) = %q %q %q", tc.in, r.Status, r.EnhancedStatus(), r.Text())
		}
		if r.String() != tc.in {
			t.Errorf("Parse(%q).String() = %q", tc.in, r.String())
		}
	}
}

func TestFromStatus(t *testing.T) {
	for status, code := range map[string]int{"2.0.0": 250, "4.3.1": 451, "5.4.6": 550, "": 550} {
		if r := FromStatus(status, "x"); r.Code != code || r.Status != status {
			t.Errorf("FromStatus(%q) = %v", status, r)
		}
	}
	for s, ok := range map[string]bool{"5.7.1": true, "4.4.0": true, "2.0.0": true, "3.0.0": false, "5.1": false, "5.1.1000": false, "": false, "x.1.1": false} {
		if ValidStatus(s) != ok {
			t.Errorf("ValidStatus(%q) = %v", s, !ok)
		}
	}
}
