package diag

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailward/internal/certs"
	"mailward/internal/peers"
	"mailward/internal/testkit"
)

// startFake starts a fake SMTP server on 127.0.0.1 whose handle decides
// every reply (the connection number is s.N): the text, a delay, a
// hang-up instead of an answer, STARTTLS.
func startFake(t *testing.T, greeting func(conn int) testkit.Reply, handle testkit.SMTPHandler) *testkit.SMTPServer {
	t.Helper()
	return testkit.StartSMTP(t, testkit.SMTP{Greeting: greeting, Handle: handle})
}

func port(f *testkit.SMTPServer) string { return strconv.Itoa(f.Port()) }

// politeRefuser answers like a correct non-relaying server would.
func politeRefuser(_ *testkit.SMTPSession, verb, _ string) testkit.Reply {
	switch verb {
	case "EHLO":
		return testkit.Reply{Text: "250-mx.fake.test\n250-PIPELINING\n250 8BITMIME"}
	case "RCPT":
		return testkit.Reply{Text: "550 5.7.1 Unable to relay"}
	case "QUIT":
		return testkit.Reply{Text: "221 2.0.0 Bye"}
	}
	return testkit.Reply{Text: "250 2.0.0 OK"}
}

func run(t *testing.T, port string, o RelayOptions) ([]RelayResult, string) {
	t.Helper()
	o.Host = "127.0.0.1"
	o.Port = port
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rs, err := RunRelayTests(ctx, o)
	var buf bytes.Buffer
	WriteRelayReport(&buf, rs)
	if err != nil {
		t.Fatalf("RunRelayTests: %v\n%s", err, buf.String())
	}
	if len(rs) != len(relayTests()) {
		t.Fatalf("got %d results, want %d\n%s", len(rs), len(relayTests()), buf.String())
	}
	return rs, buf.String()
}

// (a) Debian's Postfix with 127.0.0.1 outside mynetworks must pass every
// test: this checks the tester against a known-good implementation.
func TestRelayAgainstPostfix(t *testing.T) {
	peers.Require(t)
	p, err := peers.StartPostfix(peers.PostfixOptions{Mailboxes: []string{"user"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	_, port, _ := net.SplitHostPort(p.Addr)
	rs, report := run(t, port, RelayOptions{LocalDomain: "example.test", Timeout: 30 * time.Second})
	t.Log("\n" + report)
	if Relayed(rs) {
		t.Fatalf("Postfix reported as open relay\n%s", report)
	}
	for _, r := range rs {
		if r.Verdict == VerdictError {
			t.Errorf("%s: error: %s", r.Name, r.Detail)
		}
	}
	if !strings.Contains(report, "Relay access denied") {
		t.Errorf("expected Postfix's 'Relay access denied' in the report")
	}
	if !strings.Contains(report, "SUMMARY: not an open relay") {
		t.Errorf("summary line missing or wrong")
	}
}

// (b) A server that says 250 to everything is an open relay.
func TestRelayAgainstOpenRelay(t *testing.T) {
	f := startFake(t, testkit.Greet("220-mx1.example.test ESMTP open\n220 welcome"), func(_ *testkit.SMTPSession, verb, cmd string) testkit.Reply {
		switch verb {
		case "EHLO":
			return testkit.Reply{Text: "250-mx1.example.test\n250-SIZE 1000\n250 HELP"}
		case "RCPT":
			// Multi-line 2xx: still an acceptance.
			return testkit.Reply{Text: "250-2.1.5 Recipient\n250 2.1.5 OK"}
		case "QUIT":
			return testkit.Reply{Text: "221 bye"}
		}
		return testkit.Reply{Text: "250 OK"}
	})
	rs, report := run(t, port(f), RelayOptions{})
	if !Relayed(rs) {
		t.Fatalf("open relay not detected\n%s", report)
	}
	if rs[0].Verdict != VerdictRelayed {
		t.Errorf("test 1: verdict %q, want RELAYED", rs[0].Verdict)
	}
	want := map[string]string{
		"6 ":                  VerdictAcceptedLocal,
		"7 ":                  VerdictAcceptedLocal,
		"probe: percent hack": VerdictAcceptedLocal,
		"probe: source route": VerdictRelayed,
		"probe: bang path (":  VerdictRelayed,
		"probe: IP-literal recipient [192.0.2.1]": VerdictRelayed,
		// Reached at 127.0.0.1, [127.0.0.1] is the server itself.
		"probe: IP-literal recipient [127.0.0.1]": VerdictAcceptedLocal,
	}
	for prefix, v := range want {
		found := false
		for _, r := range rs {
			if strings.HasPrefix(r.Name, prefix) {
				found = true
				if r.Verdict != v {
					t.Errorf("%s: verdict %q, want %q", r.Name, r.Verdict, v)
				}
			}
		}
		if !found {
			t.Errorf("no test named %q...", prefix)
		}
	}
	// The local domain was derived from the greeting name.
	cmds := strings.Join(f.Commands(), "\n")
	if !strings.Contains(cmds, "MAIL FROM:User@example.test") {
		t.Errorf("test 4 did not use the derived local domain example.test:\n%s", cmds)
	}
	if !strings.Contains(cmds, "MAIL FROM:User@mx1.example.test") {
		t.Errorf("test 5c did not use the greeting name")
	}
	for _, c := range f.Commands() {
		if testkit.SMTPVerb(c) == "DATA" {
			t.Fatal("the relay tester sent DATA")
		}
	}
	if !strings.Contains(report, "SUMMARY: OPEN RELAY") {
		t.Errorf("summary does not say OPEN RELAY:\n%s", report)
	}
	// Every test ends with QUIT.
	if q := strings.Count(cmds, "QUIT"); q != len(rs) {
		t.Errorf("%d QUITs for %d tests", q, len(rs))
	}
}

// (c) A server that refuses everything: every test is refused.
func TestRelayAgainstRefuseAll(t *testing.T) {
	f := startFake(t, testkit.Greet("220 mx.fake.test ESMTP"), func(_ *testkit.SMTPSession, verb, cmd string) testkit.Reply {
		return testkit.Reply{Text: "550 5.7.1 No"}
	})
	rs, report := run(t, port(f), RelayOptions{})
	for _, r := range rs {
		if r.Verdict != VerdictRefused {
			t.Errorf("%s: verdict %q, want refused (%s)", r.Name, r.Verdict, r.Detail)
		}
	}
	if Relayed(rs) {
		t.Fatalf("refuse-all server reported as relay\n%s", report)
	}
}

// A strict server that rejects the article's bracket-less forms with 501
// but relays with the RFC 5321 forms: the fallback must find the relay.
func TestRelayStrictSyntaxStillDetected(t *testing.T) {
	f := startFake(t, testkit.Greet("220 mx.fake.test ESMTP"), func(_ *testkit.SMTPSession, verb, cmd string) testkit.Reply {
		switch verb {
		case "MAIL", "RCPT":
			if !strings.Contains(cmd, ":<") {
				return testkit.Reply{Text: "501 5.5.4 Syntax: angle brackets required"}
			}
		case "QUIT":
			return testkit.Reply{Text: "221 bye"}
		}
		return testkit.Reply{Text: "250 OK"}
	})
	rs, report := run(t, port(f), RelayOptions{})
	if rs[0].Verdict != VerdictRelayed {
		t.Fatalf("test 1: %q, want RELAYED\n%s", rs[0].Verdict, report)
	}
}

// A server that drops the connection at the first RCPT of the first
// session: test 1 is an error, the run goes on and the others complete.
func TestRelayServerDropsConnection(t *testing.T) {
	f := startFake(t, testkit.Greet("220 mx.fake.test ESMTP"), func(s *testkit.SMTPSession, verb, cmd string) testkit.Reply {
		if s.N == 1 && verb == "RCPT" {
			return testkit.Reply{Hangup: true}
		}
		return politeRefuser(s, verb, cmd)
	})
	rs, report := run(t, port(f), RelayOptions{})
	if rs[0].Verdict != VerdictError {
		t.Errorf("test 1: %q, want error", rs[0].Verdict)
	}
	for _, r := range rs[1:] {
		if r.Verdict != VerdictRefused {
			t.Errorf("%s: %q, want refused", r.Name, r.Verdict)
		}
	}
	if !strings.Contains(report, "connection closed by server") {
		t.Errorf("report does not say the connection was closed:\n%s", report)
	}
}

// A connection that fails before MAIL is retried once on a new connection.
func TestRelayReconnectsOnce(t *testing.T) {
	f := startFake(t, func(n int) testkit.Reply {
		if n == 1 {
			return testkit.Reply{Hangup: true}
		}
		return testkit.Reply{Text: "220 mx.fake.test ESMTP"}
	}, politeRefuser)
	rs, report := run(t, port(f), RelayOptions{})
	if rs[0].Verdict != VerdictRefused {
		t.Fatalf("test 1 after reconnect: %q, want refused\n%s", rs[0].Verdict, report)
	}
	if !strings.Contains(report, "(reconnect)") {
		t.Errorf("reconnect not shown in the report")
	}
}

// A tarpit longer than Timeout gives an error, not a hang.
func TestRelayTarpitTimesOut(t *testing.T) {
	f := startFake(t, testkit.Greet("220 mx.fake.test ESMTP"), func(s *testkit.SMTPSession, verb, cmd string) testkit.Reply {
		if verb == "RCPT" {
			return testkit.Reply{Text: "550 5.7.1 slow no", Delay: 600 * time.Millisecond}
		}
		return politeRefuser(s, verb, cmd)
	})
	start := time.Now()
	rs, _ := run(t, port(f), RelayOptions{Timeout: 200 * time.Millisecond})
	if rs[0].Verdict != VerdictError || !strings.Contains(rs[0].Detail, "no reply within") {
		t.Errorf("test 1: %q %q, want error 'no reply within'", rs[0].Verdict, rs[0].Detail)
	}
	if Relayed(rs) {
		t.Error("tarpit reported as relay")
	}
	if el := time.Since(start); el > 60*time.Second {
		t.Errorf("took %v", el)
	}
}

func TestRelayUnreachable(t *testing.T) {
	port := strconv.Itoa(testkit.FreePort(t))
	rs, err := RunRelayTests(context.Background(), RelayOptions{Host: "127.0.0.1", Port: port, Timeout: time.Second})
	if err == nil {
		t.Fatal("no error for a closed port")
	}
	if len(rs) != 1 || rs[0].Verdict != VerdictError {
		t.Errorf("results %+v, want one error result", rs)
	}
}

func TestRelayRejectsInjection(t *testing.T) {
	for _, o := range []RelayOptions{
		{Host: "127.0.0.1", Helo: "x\r\nRCPT TO:<a@b>"},
		{Host: "127.0.0.1", LocalDomain: "a b"},
		{Host: ""},
		{Host: "127.0.0.1", LocalDomain: "same.test", RemoteDomain: "same.test"},
	} {
		if _, err := RunRelayTests(context.Background(), o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}

func TestDeriveLocalDomain(t *testing.T) {
	for in, want := range map[string]string{
		"mx1.example.test": "example.test",
		"postfix.test":     "postfix.test",
		"a.b.c.d":          "b.c.d",
		"[10.0.0.1]":       "",
		"":                 "",
	} {
		if got := deriveLocalDomain(in); got != want {
			t.Errorf("deriveLocalDomain(%q) = %q, want %q", in, got, want)
		}
	}
	if got := greetingName("220 MX1.Example.Test. ESMTP ready"); got != "mx1.example.test" {
		t.Errorf("greetingName = %q", got)
	}
}

// With StartTLS, the tests run inside TLS after a second EHLO; a server
// that only relays for TLS sessions is still caught.
func TestRelayStartTLS(t *testing.T) {
	// A throwaway certificate: the tester must accept it.
	cert, _, err := certs.NewSelfSigned("mx.fake.test")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	f := startFake(t, testkit.Greet("220 mx.fake.test ESMTP"), func(s *testkit.SMTPSession, verb, cmd string) testkit.Reply {
		switch verb {
		case "EHLO":
			if s.TLS() {
				return testkit.Reply{Text: "250-mx.fake.test\n250 8BITMIME"}
			}
			return testkit.Reply{Text: "250-mx.fake.test\n250-STARTTLS\n250 8BITMIME"}
		case "STARTTLS":
			return testkit.Reply{Text: "220 2.0.0 go ahead", StartTLS: cfg}
		case "RCPT":
			if s.TLS() {
				return testkit.Reply{Text: "250 2.1.5 OK"}
			}
			return testkit.Reply{Text: "550 5.7.1 Unable to relay"}
		case "QUIT":
			return testkit.Reply{Text: "221 bye"}
		}
		return testkit.Reply{Text: "250 OK"}
	})
	rs, report := run(t, port(f), RelayOptions{StartTLS: true})
	if rs[0].Verdict != VerdictRelayed {
		t.Fatalf("test 1 over TLS: %q, want RELAYED\n%s", rs[0].Verdict, report)
	}
	if !strings.Contains(report, "(TLS handshake)") {
		t.Errorf("TLS not shown in report")
	}
	// Without StartTLS the same server refuses.
	rs, report = run(t, port(f), RelayOptions{})
	if Relayed(rs) {
		t.Fatalf("relayed without TLS\n%s", report)
	}
}

// A server that appends its domain to the domain-less bang path and says
// so has made it a local address (KB304897's rule), not relayed it.
func TestRelayBangPathMadeLocal(t *testing.T) {
	f := startFake(t, testkit.Greet("220 mx1.example.test ESMTP"), func(s *testkit.SMTPSession, verb, cmd string) testkit.Reply {
		if verb == "RCPT" && strings.Contains(cmd, "!user>") {
			return testkit.Reply{Text: "250 2.1.5 relay-test.invalid!user@example.test... Recipient OK"}
		}
		return politeRefuser(s, verb, cmd)
	})
	rs, report := run(t, port(f), RelayOptions{})
	if Relayed(rs) {
		t.Fatalf("bang path completed with the local domain reported as relay\n%s", report)
	}
	found := false
	for _, r := range rs {
		if strings.HasPrefix(r.Name, "probe: bang path (") {
			found = true
			if r.Verdict != VerdictAcceptedLocal {
				t.Errorf("%s: %q, want accepted-local", r.Name, r.Verdict)
			}
		}
	}
	if !found {
		t.Error("no bang path probe")
	}
}
