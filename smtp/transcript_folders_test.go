package smtp_test

import (
	"strings"
	"testing"

	"mailward/orgauth"
)

// folderBase is orgBase with the organization domain org.test and the
// shared folder support@org.test, replicas on mx1 and mx2 (this server):
// mx2's store address is mx2-store@org.test.
const folderBase = orgBase + `
[[organization.domain]]
name = "org.test"
[[organization.shared_folder]]
address = "support@org.test"
replicas = ["mx1", "mx2"]
`

func replicationBlob(t *testing.T, replication bool) string {
	b, err := (&orgauth.Props{Envelope: orgauth.EnvelopeProp{OriginServer: "mx1"}, Message: orgauth.MessageProp{Replication: replication},
		Recipients: []orgauth.RcptProp{{Address: "mx2-store@org.test", Replica: "support@org.test",
			ReplicationID: "1764567000.M19A2B3C4D5E6F70812R0.mx1"}}}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The store address takes replication only from an authenticated
// server of the organization holding send-as: a stranger, and a server
// of the organization that did not authenticate, get 550 5.7.1 at RCPT
// (and 504 at XEXCH50 as before); a post to the folder itself is
// ordinary mail. Nothing is queued for the store.
func TestTranscriptStoreRefusesStrangers(t *testing.T) {
	for _, helo := range []string{"mail.stranger.test", "mx1.org.test"} {
		t.Run(helo, func(t *testing.T) {
			ts := startServerWith(t, folderBase, orgListener, withOrg(t, folderBase))
			play(t, ts.addr, greeting+ehloOrg(helo, helo == "mx1.org.test")+`C: MAIL FROM:<x@stranger.test>
S: 250 2.1.0 x@stranger.test....Sender OK
C: RCPT TO:<mx2-store@org.test>
S: 550 5.7.1 mx2-store@org.test takes only replication from authenticated servers of the organization
C: XEXCH50 100 2
S: 503 5.5.1 Need RCPT before XEXCH50
C: RCPT TO:<support@org.test>
S: 250 2.1.5 support@org.test
C: XEXCH50 100 2
S: 504 Need to authenticate first
C: QUIT
S: 221 2.0.0 mx1.example.test closing connection`)
			if q := ts.queued(t); len(q) != 0 {
				t.Fatalf("queued: %+v", q)
			}
		})
	}
}

// An authenticated server of the organization may address the store,
// but a replication whose DATA comes without valid replication
// properties (XEXCH50 skipped, or properties that do not mark it a
// replication) is refused at the end of DATA: nothing is stored. With
// them, it is queued.
func TestTranscriptReplicationNeedsProperties(t *testing.T) {
	cases := []struct {
		name, props, end string
	}{
		{"XEXCH50 skipped", "", `S: 550 5.7.1 Replication to mx2-store@org.test refused: the message came without its replication properties (XEXCH50); nothing was stored`},
		{"not marked a replication", xexch50(replicationBlob(t, false)), `S: 550 5.7.1 Replication to mx2-store@org.test refused: its properties do not mark it a replication of a shared folder; nothing was stored`},
		{"a replication", xexch50(replicationBlob(t, true)), `S~ 250 2\.6\.0 [0-9A-F]{19} Queued mail for delivery`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := startServerWith(t, folderBase, orgListener, withOrg(t, folderBase))
			play(t, ts.addr, greeting+ehloOrg("mx1.org.test", true)+xexpsMX1+`C: MAIL FROM:<alice@example.test>
S: 250 2.1.0 alice@example.test....Sender OK
C: RCPT TO:<mx2-store@org.test>
S: 250 2.1.5 mx2-store@org.test
`+c.props+`C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
W: Subject: replica\r\n\r\nx\r\n.\r\n
`+c.end)
			want := 0
			if strings.HasPrefix(c.end, "S~ 250") {
				want = 1
			}
			if q := ts.queued(t); len(q) != want {
				t.Fatalf("queued %d messages, want %d", len(q), want)
			}
		})
	}
}
