package e2e

// Message tracking (docs/tracking.md) through two organization servers:
// a message to a group whose members are homed on both, one member's
// next hop down at first. "mailward track" on mx1, given mx2's event
// log, tells the whole story; the protocol logs of both servers hold
// none of the AUTH or X-EXPS secrets on the way.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"mailward/internal/testkit"
	"mailward/track"
)

func TestTrackGroupAcrossServersWithDeferral(t *testing.T) {
	const bobSecret = "bob-track-secret"
	d := orgRecipients(t, "mx1", "mx2")
	homed(d, "mx1", "a1@example.test")
	homed(d, "mx2", "a2@example.test")
	d.Mailboxes = append(d.Mailboxes, testkit.OrgMailbox{Address: "bob@example.test", HomeServer: "mx1",
		PasswordHash: bcryptHash(t, bobSecret)})
	d.DistGroups = []testkit.DistributionGroup{{Address: "team@example.test",
		Members: []string{"a1@example.test", "a2@example.test"}}}
	c1, c2 := withSubmission(orgMember("mx1")), orgMember("mx2")
	for _, c := range []*testkit.Config{c1, c2} {
		for i := range c.VirtualServers {
			c.VirtualServers[i].ProtocolLog = true
		}
		if c.Delivery == nil {
			c.Delivery = &testkit.Delivery{}
		}
		c.Delivery.ProtocolLog = true
		// Tracking needs only the default levels (minimum).
		c.Diagnostics = nil
	}
	net := startOrgNet(t, d, c1, c2)
	mx1, mx2 := net["mx1"], net["mx2"]

	// a2's next hop, mx2, is down when the message arrives.
	if !mx2.signal(syscall.SIGTERM, stopTimeout) {
		t.Fatal("mx2 did not stop")
	}
	id := sendAuth(t, mx1.SubmissionAddr, "bob@example.test", bobSecret, "<bob@example.test>",
		[]string{"<team@example.test>"}, "track-group")
	delivered(t, mx1, "a1@example.test", 1)
	deferred := waitEvents(t, mx1, 3001, id, 1, 15*time.Second)
	if r := deferred[0].Fields; r["rcpt"] != "a2@example.test" || !strings.HasPrefix(r["error"], "4") {
		t.Fatalf("the first deferral is %v, want a2@example.test's with a 4xx reply", r)
	}
	mx2.start()
	delivered(t, mx2, "a2@example.test", 1)
	settleOrg(t, mx1, mx2)
	copies(t, map[string]int{"a1@example.test": 1, "a2@example.test": 1},
		map[string]*server{"a1@example.test": mx1, "a2@example.test": mx2})

	mx2Log := filepath.Join(mx2.DataDir, "events.log")
	stories := trackJSON(t, mx1, "--to", "a2@example.test", "--log", mx2Log)
	if len(stories) != 1 {
		t.Fatalf("track --to a2@example.test found %d messages, want 1", len(stories))
	}
	s := stories[0]
	if s.MessageID != "<track-group@e2e.test>" || s.From != "bob@example.test" {
		t.Errorf("the story is of %q from %q", s.MessageID, s.From)
	}
	if len(s.QueueIDs) != 2 || s.QueueIDs[0] != (track.ServerQueueID{Server: "mx1.example.test", QueueID: id}) ||
		s.QueueIDs[1].Server != "mx2.example.test" {
		t.Fatalf("queue IDs %v, want %s on mx1.example.test, then one on mx2.example.test", s.QueueIDs, id)
	}
	id2 := s.QueueIDs[1].QueueID

	// The exact steps on each server: every deferral of a2 (mx1 retries
	// every second until mx2 is back), each with its attempt number and
	// reply; mx2's receipt between mx1's last deferral and its delivery
	// (the two servers' steps after it interleave by time).
	hop := "mx2.example.test" // the delivery queue of an organization server is its fqdn
	var retries int
	for _, st := range s.Steps {
		if st.Kind == "deferred" {
			retries++
			if st.Rcpt != "a2@example.test" || st.Hop != hop || st.Attempt != fmt.Sprint(retries) ||
				!strings.HasPrefix(st.Fields["error"], "451 4.4.0 ") || !strings.Contains(st.Fields["error"], "connection refused") {
				t.Errorf("deferral %d: %+v", retries, st)
			}
		}
	}
	wantMX1 := []string{
		"mx1.example.test " + id + " received",
		"mx1.example.test " + id + " expanded team@example.test",
		"mx1.example.test " + id + " resolved team@example.test",
		"mx1.example.test " + id + " queued a1@example.test local",
		"mx1.example.test " + id + " delivered a1@example.test local 1",
		"mx1.example.test " + id + " queued a2@example.test " + hop,
	}
	for k := 1; k <= retries; k++ {
		wantMX1 = append(wantMX1, fmt.Sprintf("mx1.example.test %s deferred a2@example.test %s %d", id, hop, k))
	}
	wantMX1 = append(wantMX1, fmt.Sprintf("mx1.example.test %s delivered a2@example.test %s %d", id, hop, retries+1))
	wantMX2 := []string{
		"mx2.example.test " + id2 + " received",
		"mx2.example.test " + id2 + " queued a2@example.test local",
		"mx2.example.test " + id2 + " delivered a2@example.test local 1",
	}
	all := stepLines(s)
	var got1, got2 []string
	for _, l := range all {
		if strings.HasPrefix(l, "mx1.") {
			got1 = append(got1, l)
		} else {
			got2 = append(got2, l)
		}
	}
	if strings.Join(got1, "\n") != strings.Join(wantMX1, "\n") || strings.Join(got2, "\n") != strings.Join(wantMX2, "\n") {
		t.Errorf("track --to a2@example.test:\n  %s\nwant on mx1:\n  %s\nand on mx2:\n  %s", strings.Join(all, "\n  "),
			strings.Join(wantMX1, "\n  "), strings.Join(wantMX2, "\n  "))
	}
	if i := slices.Index(all, wantMX2[0]); retries == 0 || i < 0 || all[i-1] != wantMX1[len(wantMX1)-2] ||
		slices.Index(all, wantMX1[len(wantMX1)-1]) < i {
		t.Errorf("mx2's receipt is not between mx1's last deferral and its delivery:\n  %s", strings.Join(all, "\n  "))
	}
	checkStep := func(kind, server, rcpt string, check func(track.Step) string) {
		t.Helper()
		for _, st := range s.Steps {
			if st.Kind == kind && st.Server == server && st.Rcpt == rcpt {
				if why := check(st); why != "" {
					t.Errorf("%s on %s for %q: %s: %+v", kind, server, rcpt, why, st)
				}
				return
			}
		}
		t.Errorf("no step %s on %s for %q", kind, server, rcpt)
	}
	checkStep("received", "mx1.example.test", "", func(st track.Step) string {
		f := st.Fields
		if f["virtual_server"] != "submission" || f["auth"] != "bob@example.test" || f["rcpts"] != "team@example.test" ||
			f["from"] != "bob@example.test" || f["message_id"] != "<track-group@e2e.test>" {
			return "not bob's authenticated submission to team@ on the virtual server submission"
		}
		return ""
	})
	checkStep("expanded", "mx1.example.test", "", func(st track.Step) string {
		if st.Fields["rcpts"] != "a1@example.test,a2@example.test" {
			return "members " + st.Fields["rcpts"]
		}
		return ""
	})
	checkStep("delivered", "mx1.example.test", "a2@example.test", func(st track.Step) string {
		if st.NextQueueID != id2 || st.Host != "127.0.0.1" { // mx2's delivery_address
			return "not handed to mx2 as " + id2
		}
		return ""
	})
	checkStep("received", "mx2.example.test", "", func(st track.Step) string {
		if st.Fields["helo"] != "mx1.example.test" || st.Fields["message_id"] != "<track-group@e2e.test>" {
			return "not from mx1 with the same Message-ID"
		}
		return ""
	})
	checkStep("delivered", "mx2.example.test", "a2@example.test", func(st track.Step) string {
		if !strings.HasPrefix(st.Fields["where"], "delivered to maildir ") {
			return "not into the mailbox"
		}
		return ""
	})

	// The same story by either queue ID, and as text.
	for _, q := range []string{id, id2} {
		if got := trackJSON(t, mx1, "--id", q, "--log", mx2Log); len(got) != 1 || len(got[0].Steps) != len(s.Steps) {
			t.Errorf("track --id %s: %d stories", q, len(got))
		}
	}
	text, err := mx1.Run("track", "--to", "a2@example.test", "--log", mx2Log)
	if err != nil {
		t.Fatalf("track --to: %v\n%s", err, text)
	}
	t.Logf("mailward track --to a2@example.test --log %s:\n%s", mx2Log, text)
	for _, line := range []string{"Message <track-group@e2e.test> from <bob@example.test>\n",
		"  queue IDs: " + id + " on mx1.example.test, " + id2 + " on mx2.example.test\n"} {
		if !strings.Contains(text, line) {
			t.Errorf("track's text lacks %q:\n%s", line, text)
		}
	}
	if out, err := mx1.Run("track", "--to", "nobody@example.test"); err == nil || !strings.Contains(out, "no message matches") {
		t.Errorf("track for nobody: %v\n%s", err, out)
	}

	// The protocol logs: the submission's AUTH PLAIN and the servers'
	// X-EXPS LOGIN were logged, their secrets were not.
	plain := base64.StdEncoding.EncodeToString([]byte("\x00bob@example.test\x00" + bobSecret))
	logs := map[string]string{}
	for name, srv := range net {
		for _, f := range []string{"smtp-in.log", "smtp-out.log"} {
			logs[name+" "+f] = readLog(filepath.Join(srv.DataDir, "protocol-log", f))
		}
	}
	if !strings.Contains(logs["mx1 smtp-in.log"], " < AUTH PLAIN ***\n") || !strings.Contains(logs["mx1 smtp-out.log"], " > X-EXPS LOGIN") ||
		!strings.Contains(logs["mx2 smtp-in.log"], " < X-EXPS LOGIN") {
		t.Errorf("the protocol logs lack the logins:\n%v", logs)
	}
	for name, text := range logs {
		for _, secret := range []string{bobSecret, plain, base64.StdEncoding.EncodeToString([]byte(bobSecret)),
			orgSecret, base64.StdEncoding.EncodeToString([]byte(orgSecret))} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contains the secret %q", name, secret)
			}
		}
	}
}

// trackJSON runs "mailward track --json" with args on s's configuration.
func trackJSON(t *testing.T, s *server, args ...string) []track.Story {
	t.Helper()
	out, err := s.Run(append([]string{"track", "--json"}, args...)...)
	if err != nil {
		t.Fatalf("mailward track %v: %v\n%s", args, err, out)
	}
	var stories []track.Story
	if err := json.Unmarshal([]byte(out), &stories); err != nil {
		t.Fatalf("mailward track --json: %v\n%s", err, out)
	}
	return stories
}

// stepLines is "server queue-ID kind [what] [hop] [attempt]" for each step.
func stepLines(s track.Story) []string {
	var out []string
	for _, st := range s.Steps {
		f := []string{st.Server, st.QueueID, st.Kind}
		switch st.Kind {
		case "expanded":
			f = append(f, st.Fields["group"])
		case "resolved":
			f = append(f, st.Rcpt)
		case "queued":
			f = append(f, st.Rcpt, st.Hop)
		case "deferred", "delivered":
			f = append(f, st.Rcpt, st.Hop, st.Attempt)
		}
		out = append(out, strings.Join(f, " "))
	}
	return out
}
