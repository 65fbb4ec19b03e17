package smtpclient

import (
	"testing"

	"mailward/reply"
)

func TestReplyError(t *testing.T) {
	e := &ReplyError{Stage: "STARTTLS", Reply: reply.Reply{Code: 454, Status: "4.7.0", Lines: []string{"TLS not available"}}}
	if e.Error() != "STARTTLS: 454 4.7.0 TLS not available" {
		t.Errorf("Error() = %q", e.Error())
	}
}

func TestParseEHLO(t *testing.T) {
	ext := parseEHLO(reply.Reply{Code: 250, Lines: []string{"mx.test Hello", "PIPELINING", "size 100", " ", "AUTH PLAIN  LOGIN"}})
	if len(ext) != 3 || ext["SIZE"] != "100" || ext["AUTH"] != "PLAIN  LOGIN" {
		t.Errorf("parseEHLO = %q", ext)
	}
	if _, ok := ext["PIPELINING"]; !ok {
		t.Errorf("PIPELINING missing from %q", ext)
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
