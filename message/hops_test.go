package message

import (
	"strings"
	"testing"
)

func TestCountHops(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want int
	}{
		{"Received: from a\r\n\tby b; date\r\nRECEIVED: x\r\nDelivered-To: u@x\r\nSubject: s\r\n\r\nReceived: in the body\r\n", 3},
		{"Subject: none\r\n\r\n", 0},
		{"", 0},
		{"Received: only a header, no body", 1},
		{"X-Received: not a trace field\r\nReceived-SPF: pass\r\n\r\n", 0},
		{strings.Repeat("Received: from x by y\r\n", 4431) + "\r\nbody\r\n", 4431},
		{"Received: " + strings.Repeat("x", 100<<10) + "\r\nReceived: y\r\n\r\n", 2},
	} {
		got, err := CountHops(strings.NewReader(tc.msg))
		if err != nil || got != tc.want {
			t.Errorf("%.40q: %d, %v; want %d", tc.msg, got, err, tc.want)
		}
	}
}
