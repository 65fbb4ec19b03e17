package smtp_test

import "testing"

const greeting = "S~ 220 mx1\\.example\\.test ESMTP mailward ready at [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} \\+0000\n"

// ehloPlain is the EHLO answer of a virtual server without TLS or AUTH.
var ehloPlain = ehlo("client.test")

// The seven relay tests of KB304897, from a client that may not relay,
// each after EHLO/RSET, with the replies MISSION.md lists.
func TestTranscriptSevenRelayTests(t *testing.T) {
	ts := startServer(t, `name = "default"
tls = "none"`)
	cases := []struct{ name, script string }{
		{"1 remote sender, remote recipient", `
C: RSET
S: 250 2.0.0 Resetting
C: MAIL FROM:User@Domain.tld
S: 250 2.1.0 User@domain.tld....Sender OK
C: RCPT TO:Recipient@Domain.tld
S: 550 5.7.1 Unable to relay for Recipient@domain.tld`},
		{"2 local user without domain", `
C: RSET
S: 250 2.0.0 Resetting
C: MAIL FROM:LocalUser
S: 250 2.1.0 LocalUser@example.test....Sender OK
C: RCPT TO:Recipient@Domain.tld
S: 550 5.7.1 Unable to relay for Recipient@domain.tld`},
		{"3 null sender", `
C: RSET
S: 250 2.0.0 Resetting
C: MAIL FROM:<>
S: 250 2.1.0 <>....Sender OK
C: RCPT TO:Recipient@Domain.tld
S: 550 5.7.1 Unable to relay for Recipient@domain.tld`},
		{"4 sender in our own domain", `
C: RSET
S: 250 2.0.0 Resetting
C: MAIL FROM:User@example.test
S: 250 2.1.0 User@example.test....Sender OK
C: RCPT TO:Recipient@Domain.tld
S: 550 5.7.1 Unable to relay for Recipient@domain.tld`},
		{"5 IP literal, localhost and our own name as sender", `
C: RSET
S: 250 2.0.0 Resetting
C: MAIL FROM:User@[10.10.10.10]
S: 250 2.1.0 User@[10.10.10.10]....Sender OK
C: RCPT TO:Recipient@Domain.tld
S: 550 5.7.1 Unable to relay for Recipient@domain.tld
C: RSET
S: 250 2.0.0 Resetting
C: MAIL FROM:<User@localhost>
S: 250 2.1.0 User@localhost....Sender OK
C: RCPT TO:<Recipient@Domain.tld>
S: 550 5.7.1 Unable to relay for Recipient@domain.tld
C: RSET
S: 250 2.0.0 Resetting
C: MAIL FROM:<User@mx1.example.test>
S: 250 2.1.0 User@mx1.example.test....Sender OK
C: RCPT TO:<Recipient@Domain.tld>
S: 550 5.7.1 Unable to relay for Recipient@domain.tld`},
		{"6 percent hack without domain is local, unknown", `
C: RSET
S: 250 2.0.0 Resetting
C: MAIL FROM:User@Domain.tld
S: 250 2.1.0 User@domain.tld....Sender OK
C: RCPT TO:User%Domain.tld
S: 550 5.1.1 User%Domain.tld@example.test... User unknown`},
		{"7 quoted local part is local, unknown", `
C: RSET
S: 250 2.0.0 Resetting
C: MAIL FROM:User@Domain.tld
S: 250 2.1.0 User@domain.tld....Sender OK
C: RCPT TO:"User@Domain.tld"
S: 550 5.1.1 "User@Domain.tld"@example.test... User unknown`},
		{"source route is stripped, never followed", `
C: MAIL FROM:<>
S: 250 2.1.0 <>....Sender OK
C: RCPT TO:<@mx1.example.test,@example.test:user@remote.test>
S: 550 5.7.1 Unable to relay for user@remote.test
C: RCPT TO:<@example.test:alice@example.test>
S: 250 2.1.5 alice@example.test`},
		{"bang path and percent hack at our domain stay local", `
C: MAIL FROM:<>
S: 250 2.1.0 <>....Sender OK
C: RCPT TO:<remote.test!user@example.test>
S: 550 5.1.1 remote.test!user@example.test... User unknown
C: RCPT TO:<user%remote.test@example.test>
S: 550 5.1.1 user%remote.test@example.test... User unknown
C: RCPT TO:<remote.test!user>
S: 550 5.1.1 remote.test!user@example.test... User unknown`},
		{"IP literal, localhost and our name as recipient domains", `
C: MAIL FROM:<>
S: 250 2.1.0 <>....Sender OK
C: RCPT TO:<user@[127.0.0.1]>
S: 550 5.7.1 Unable to relay for user@[127.0.0.1]
C: RCPT TO:<postmaster@[IPv6:::1]>
S: 550 5.7.1 Unable to relay for postmaster@[ipv6:::1]
C: RCPT TO:<user@localhost>
S: 550 5.7.1 Unable to relay for user@localhost
C: RCPT TO:<user@mx1.example.test>
S: 550 5.7.1 Unable to relay for user@mx1.example.test
C: RCPT TO:<alice@example.test.>
S: 250 2.1.5 alice@example.test`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			play(t, ts.addr, greeting+ehloPlain+c.script+"\nC: QUIT\nS: 221 2.0.0 mx1.example.test closing connection\nCLOSED")
		})
	}
}

// KB304897 with recipient filtering off: tests 6 and 7 are accepted as
// local addresses (an NDR follows), never relayed.
func TestTranscriptRelayTestsWithoutFiltering(t *testing.T) {
	base := `
[server]
fqdn = "mx1.example.test"
default_domain = "example.test"
[[domain]]
name = "example.test"
recipient_filtering = false
`
	ts := startServerWith(t, base, `name = "default"
tls = "none"`)
	play(t, ts.addr, greeting+ehloPlain+`
C: MAIL FROM:User@Domain.tld
S: 250 2.1.0 User@domain.tld....Sender OK
C: RCPT TO:User%Domain.tld
S: 250 2.1.5 User%Domain.tld@example.test
C: RCPT TO:"User@Domain.tld"
S: 250 2.1.5 "User@Domain.tld"@example.test
C: RCPT TO:Recipient@Domain.tld
S: 550 5.7.1 Unable to relay for Recipient@domain.tld
C: RCPT TO:<"quoted"@example.test>
S: 250 2.1.5 quoted@example.test
`)
}

func TestTranscriptRelayNetworks(t *testing.T) {
	t.Run("client inside relay_networks may relay", func(t *testing.T) {
		ts := startServer(t, `name = "internal"
tls = "none"
relay_networks = ["127.0.0.0/8"]`)
		play(t, ts.addr, greeting+ehloPlain+`
C: MAIL FROM:<app@example.test>
S: 250 2.1.0 app@example.test....Sender OK
C: RCPT TO:<Someone@Remote.test>
S: 250 2.1.5 Someone@remote.test`)
	})
	t.Run("client outside relay_networks may not", func(t *testing.T) {
		ts := startServer(t, `name = "internal"
tls = "none"
relay_networks = ["10.0.0.0/8", "192.0.2.7"]`)
		play(t, ts.addr, greeting+ehloPlain+`
C: MAIL FROM:<app@example.test>
S: 250 2.1.0 app@example.test....Sender OK
C: RCPT TO:<someone@remote.test>
S: 550 5.7.1 Unable to relay for someone@remote.test`)
	})
}

func TestTranscriptAuthenticatedRelay(t *testing.T) {
	ts := startServer(t, `name = "submission"
tls = "none"
auth = ["PLAIN"]
auth_plaintext = true
relay_authenticated = true`)
	// AHN1c2VyAHBhc3M= is "\0user\0pass"; the other is "\0alice@example.test\0alice-secret".
	play(t, ts.addr, greeting+ehlo("client.test", "AUTH PLAIN")+`C: MAIL FROM:<alice@example.test>
S: 250 2.1.0 alice@example.test....Sender OK
C: RCPT TO:<someone@remote.test>
S: 550 5.7.1 Unable to relay for someone@remote.test
C: RSET
S: 250 2.0.0 Resetting
C: AUTH PLAIN AHN1c2VyAHBhc3M=
S: 535 5.7.8 Authentication credentials invalid
C: AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1zZWNyZXQ=
S: 235 2.7.0 Authentication successful
C: MAIL FROM:<alice@example.test>
S: 250 2.1.0 alice@example.test....Sender OK
C: RCPT TO:<someone@remote.test>
S: 250 2.1.5 someone@remote.test
`)
}
