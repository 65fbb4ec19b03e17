package smtp

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"mailward/message"
)

// Both receive paths read the header's Message-ID for the events
// (docs/tracking.md), whatever splits the lines: DATA's lines, a
// folded field, BDAT chunks cut inside the field.
func TestReceiveReadsMessageID(t *testing.T) {
	for _, c := range []struct{ name, msg, want string }{
		{"plain", "From: a@b\r\nMessage-ID: <r1@client.test>\r\n\r\nMessage-ID: <body@x>\r\n", "<r1@client.test>"},
		{"folded", "Message-Id:\r\n  <r2@client.test>\r\n\r\nbody\r\n", "<r2@client.test>"},
		{"none", "Subject: no id\r\n\r\nMessage-ID: <body@x>\r\n", message.NoMessageID},
		{"dot-stuffed body line", "Subject: s\r\n\r\n.Message-ID: <body@x>\r\n", message.NoMessageID},
	} {
		t.Run(c.name, func(t *testing.T) {
			wire := append(stuff([]byte(c.msg)), ".\r\n"...)
			res, err := ReadData(bufio.NewReader(bytes.NewReader(wire)), &bytes.Buffer{}, 1<<20, false)
			if err != nil || res.MessageID != c.want {
				t.Errorf("DATA: MessageID %q (%v), want %q", res.MessageID, err, c.want)
			}
			for cut := 1; cut < len(c.msg); cut += 7 {
				b := newBodyScanner(&bytes.Buffer{}, 1<<20, false)
				for rest := c.msg; rest != ""; {
					n := min(cut, len(rest))
					b.Write([]byte(rest[:n]))
					rest = rest[n:]
				}
				if got := b.finish().MessageID; got != c.want {
					t.Fatalf("BDAT in chunks of %d: MessageID %q, want %q", cut, got, c.want)
				}
			}
		})
	}
	// A line longer than bufio's buffer reaches ReadData in pieces.
	long := "X-Long: " + strings.Repeat("x", 5000) + "\r\nMessage-ID: <r3@client.test>\r\n\r\n"
	res, err := ReadData(bufio.NewReaderSize(strings.NewReader(long+".\r\n"), 16), &bytes.Buffer{}, 1<<20, false)
	if err != nil || res.MessageID != "<r3@client.test>" {
		t.Errorf("after a long line: MessageID %q (%v)", res.MessageID, err)
	}
}
