package smtp_test

import (
	"mailward/smtp"
	"strings"
	"testing"

	"mailward/events"
)

// org_auth_offer = "everyone" (the default with a replicated LDAP
// directory): X-EXPS is offered to a client whose EHLO name this
// directory does not know, because it may be a new server that has not
// reached this replica yet. Its account decides: an unknown account is
// KB979174's replication lag (454 4.7.0, event 1035, the sender keeps the
// message); a known account under an EHLO name that is not its FQDN is
// still KB843106's wrong FQDN (504 5.7.4, then 504 for XEXCH50).
func TestTranscriptXEXPSOfferedToEveryone(t *testing.T) {
	const everyone = orgListener + "\norg_auth_offer = \"everyone\""
	t.Run("unknown server: 454 temporary, event 1035 names it", func(t *testing.T) {
		evs, evPath := withEvents(t, events.Medium)
		ts := startServerWith(t, orgBase, everyone, withOrg(t, orgBase), evs)
		play(t, ts.addr, greeting+ehloOrg("mx3.org.test", true)+`
C: X-EXPS LOGIN `+b64("mx3")+`
S: 334 UGFzc3dvcmQ6
C: `+b64("mx3-secret")+`
S: 454 4.7.0 Temporary authentication failure
C: MAIL FROM:<carol@example.test>
S: 250 2.1.0 carol@example.test....Sender OK
C: RCPT TO:<bob@example.test>
S: 250 2.1.5 bob@example.test
C: XEXCH50 100 2
S: 504 Need to authenticate first`)
		recs := readEvents(t, evPath, events.OrgAuthTemporary)
		if len(recs) != 1 || recs[0].Fields["error"] != "UnknownServer: mx3" || recs[0].Fields["helo"] != "mx3.org.test" {
			t.Errorf("event 1035: %+v", recs)
		}
		if recs := readEvents(t, evPath, events.XEXCH50Refused); len(recs) != 1 ||
			!strings.Contains(recs[0].Message, "did not authenticate as one") {
			t.Errorf("event 1713: %+v", recs)
		}
	})
	t.Run("known server under a wrong EHLO name: 504, trust not given", func(t *testing.T) {
		evs, evPath := withEvents(t, events.Medium)
		ts := startServerWith(t, orgBase, everyone, withOrg(t, orgBase), evs)
		play(t, ts.addr, greeting+ehloOrg("wrong.org.test", true)+`
C: X-EXPS LOGIN `+b64("mx1")+`
S: 334 UGFzc3dvcmQ6
C: `+b64("mx1-secret")+`
S: 504 5.7.4 X-EXPS is only for servers of the organization; EHLO name wrong.org.test is not the FQDN of mx1
C: MAIL FROM:<alice@example.test>
S: 250 2.1.0 alice@example.test....Sender OK
C: RCPT TO:<bob@example.test>
S: 250 2.1.5 bob@example.test
C: XEXCH50 100 2
S: 504 Need to authenticate first`)
		if recs := readEvents(t, evPath, events.OrgAuthRefused); len(recs) != 1 || recs[0].Fields["server"] != "mx1" {
			t.Errorf("event 1711: %+v", recs)
		}
	})
	t.Run("known server under its own name: trusted as with servers", func(t *testing.T) {
		ts := startServerWith(t, orgBase, everyone, withOrg(t, orgBase))
		play(t, ts.addr, greeting+ehloOrg("mx1.org.test", true)+xexpsMX1)
	})
	t.Run("servers (the default with a file): not offered, 504 at once", func(t *testing.T) {
		ts := startServerWith(t, orgBase, orgListener, withOrg(t, orgBase))
		play(t, ts.addr, greeting+ehloOrg("mx3.org.test", false)+`
C: X-EXPS LOGIN `+b64("mx3")+`
S: 504 5.7.4 X-EXPS is only for servers of the organization; EHLO name mx3.org.test is not one`)
	})
}

// With a replicated directory, an address an authenticated server of the
// organization sends to but this replica does not know yet is 451 4.1.1
// (event 1028): the sender's directory is ahead, and the message must
// wait for replication, not bounce. A stranger still gets 550 5.1.1, and
// with a directory file (no replication) so does the peer.
func TestTranscriptRecipientNotReplicatedYet(t *testing.T) {
	replicated := func(o *smtp.Options) { o.Settings.DirectoryReplicated = true }
	login := xexpsMX1 + `C: MAIL FROM:<alice@example.test>
S: 250 2.1.0 alice@example.test....Sender OK
`
	t.Run("organization server, replicated directory: 451", func(t *testing.T) {
		evs, evPath := withEvents(t, events.Medium)
		ts := startServerWith(t, orgBase, orgListener, withOrg(t, orgBase), replicated, evs)
		play(t, ts.addr, greeting+ehloOrg("mx1.org.test", true)+login+`C: RCPT TO:<new@example.test>
S: 451 4.1.1 new@example.test... not in this server's directory yet (replication?), try again later
C: RCPT TO:<bob@example.test>
S: 250 2.1.5 bob@example.test`)
		if recs := readEvents(t, evPath, events.RecipientNotHereYet); len(recs) != 1 || recs[0].Fields["server"] != "mx1" {
			t.Errorf("event 1028: %+v", recs)
		}
	})
	t.Run("stranger, replicated directory: 550", func(t *testing.T) {
		ts := startServerWith(t, orgBase, orgListener, withOrg(t, orgBase), replicated)
		play(t, ts.addr, greeting+ehloOrg("mail.stranger.test", false)+`
C: MAIL FROM:<x@stranger.test>
S: 250 2.1.0 x@stranger.test....Sender OK
C: RCPT TO:<new@example.test>
S~ 550 5\.1\.1 new@example\.test\.\.\. User unknown`)
	})
	t.Run("organization server, directory file: 550", func(t *testing.T) {
		ts := startServerWith(t, orgBase, orgListener, withOrg(t, orgBase))
		play(t, ts.addr, greeting+ehloOrg("mx1.org.test", true)+login+`C: RCPT TO:<new@example.test>
S~ 550 5\.1\.1 new@example\.test\.\.\. User unknown`)
	})
}
