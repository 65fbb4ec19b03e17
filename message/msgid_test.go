package message

import (
	"strings"
	"testing"
)

func TestReadMessageID(t *testing.T) {
	for _, c := range []struct{ name, msg, want string }{
		{"plain", "From: a@b\r\nMessage-ID: <x1@example.test>\r\n\r\nbody\r\nMessage-ID: <no@body>\r\n", "<x1@example.test>"},
		{"case and LF", "message-id:   <x2@example.test> \nSubject: s\n\n", "<x2@example.test>"},
		{"folded", "Message-Id:\r\n <x3@example.test>\r\nSubject: s\r\n\r\n", "<x3@example.test>"},
		{"none", "From: a@b\r\nSubject: Message-ID: <not@it>\r\n\r\nMessage-ID: <body@x>\r\n", NoMessageID},
		{"empty", "Message-ID: \r\n\r\n", NoMessageID},
		{"first wins", "Message-ID: <a@x>\r\nMessage-ID: <b@x>\r\n\r\n", "<a@x>"},
		{"header only, no end", "Message-ID: <x4@example.test>", "<x4@example.test>"},
		{"control characters", "Message-ID: <x5\x1b[31m@example.test>\r\n\r\n", "<x5[31m@example.test>"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ReadMessageID(strings.NewReader(c.msg))
			if err != nil || got != c.want {
				t.Errorf("ReadMessageID = %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

// Pieces of lines, as BDAT's chunks split them, give the same value.
func TestIDScannerPieces(t *testing.T) {
	var s IDScanner
	for _, p := range []string{"Mess", "age-I", "D: <split", "@example.test>"} {
		s.Feed([]byte(p))
	}
	s.EndLine()
	if got := s.Value(); got != "<split@example.test>" {
		t.Errorf("Value = %q", got)
	}
}
