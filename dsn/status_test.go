package dsn

import "testing"

func TestStatusFromReply(t *testing.T) {
	tests := []struct{ reply, want string }{
		{"550 5.1.1 user unknown", "5.1.1"},
		{"550 5.1.1", "5.1.1"},
		{"550-5.7.26 first line\r\n550 5.7.26 second", "5.7.26"},
		{"451 4.7.1 greylisted, try later", "4.7.1"},
		{"250 2.0.0 Ok: queued", "2.0.0"},
		{"  554 5.7.1 leading space", "5.7.1"},
		{"5.2.2 mailbox full", "5.2.2"}, // local diagnostic without basic code
		{"550 user unknown", "5.0.0"},
		{"552 Requested mail action aborted", "5.0.0"},
		{"421 Service not available", "4.0.0"},
		{"450", "4.0.0"},
		{"550 4.2.2 class mismatch", "5.0.0"},
		{"450 5.1.1 class mismatch", "4.0.0"},
		{"550 5.1.1000 too long", "5.0.0"},
		{"550 5.1.1.1 four parts", "5.0.0"},
		{"550 3.1.1 bad class", "5.0.0"},
		{"550 5.1.1user", "5.0.0"},
		{"250 Ok", "5.0.0"},
		{"354 go ahead", "5.0.0"},
		{"", "5.0.0"},
		{"garbage", "5.0.0"},
		{"55", "5.0.0"},
		{"5500 5.1.1 four-digit code", "5.0.0"},
		{"\r\n550 5.1.1 after empty line", "5.0.0"},
	}
	for _, tt := range tests {
		if got := StatusFromReply(tt.reply); got != tt.want {
			t.Errorf("StatusFromReply(%q) = %q, want %q", tt.reply, got, tt.want)
		}
	}
}
