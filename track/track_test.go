package track

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailward/events"
	"mailward/message"
)

var t0 = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

// rec is a record as the event log writes it, at t0 plus ms milliseconds.
func rec(ms int, id int, kv ...string) events.Record {
	f := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		f[kv[i]] = kv[i+1]
	}
	d := events.Catalogue[id]
	return events.Record{Time: t0.Add(time.Duration(ms) * time.Millisecond), ID: id, Severity: d.Severity,
		Category: d.Category, Message: d.Format(f), Fields: f}
}

// writeLog writes records as JSON lines, plus raw text after them.
func writeLog(t *testing.T, path string, raw string, recs ...events.Record) {
	t.Helper()
	var b bytes.Buffer
	for _, r := range recs {
		j, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(j, '\n'))
	}
	b.WriteString(raw)
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

const (
	mid = "<m1@client.test>"
	q1  = "0005AAAAAAAAA000001"
	q2  = "0005BBBBBBBBB000002"
)

// The two servers' logs of one message to a group: mx1 expands it,
// delivers one member here and the other, after a deferral, to mx2.
func orgLogs(t *testing.T) (mx1, mx2 string) {
	dir := t.TempDir()
	mx1, mx2 = filepath.Join(dir, "mx1.log"), filepath.Join(dir, "mx2.log")
	writeLog(t, mx1, "",
		rec(0, events.ServiceStarted, "fqdn", "mx1.example.test"),
		rec(10, events.MessageQueued, "queue_id", q1, "message_id", mid, "from", "alice@example.test", "rcpts", "all@example.test",
			"recipients", "1", "size", "300", "virtual_server", "default", "ip", "127.0.0.1", "helo", "client.test"),
		// The categorizer may write before the receive side's 2000.
		rec(9, events.GroupExpanded, "queue_id", q1, "message_id", mid, "group", "all@example.test", "rcpts", "a1@example.test,a2@example.test"),
		rec(12, events.MessageRouted, "queue_id", q1, "message_id", mid, "rcpt", "a1@example.test", "hop", "local"),
		rec(12, events.Delivered, "queue_id", q1, "message_id", mid, "rcpt", "a1@example.test", "hop", "local", "attempt", "1",
			"where", "delivered to maildir /m/a1"),
		rec(13, events.MessageRouted, "queue_id", q1, "message_id", mid, "rcpt", "a2@example.test", "hop", "mx2"),
		rec(13, events.DeliveryDeferred, "queue_id", q1, "message_id", mid, "rcpt", "a2@example.test", "hop", "mx2", "attempt", "1",
			"error", "451 4.4.1 connection refused"),
		rec(1020, events.Delivered, "queue_id", q1, "message_id", mid, "rcpt", "a2@example.test", "hop", "mx2", "host", "mx2.example.test",
			"attempt", "2", "where", "relayed to mx2.example.test [127.0.0.1:2525]: 250 2.6.0 "+q2+" Queued mail for delivery"),
		rec(1030, events.MessageQueued, "queue_id", "0005CCCCCCCCC000003", "message_id", "<other@x>", "from", "bob@example.test",
			"rcpts", "a1@example.test", "recipients", "1", "size", "10", "virtual_server", "default", "ip", "127.0.0.1"),
	)
	writeLog(t, mx2, "",
		rec(0, events.ServiceStarted, "fqdn", "mx2.example.test"),
		rec(1015, events.MessageQueued, "queue_id", q2, "message_id", mid, "from", "alice@example.test", "rcpts", "a2@example.test",
			"recipients", "1", "size", "420", "virtual_server", "default", "ip", "127.0.0.1", "helo", "mx1.example.test"),
		rec(1016, events.MessageRouted, "queue_id", q2, "message_id", mid, "rcpt", "a2@example.test", "hop", "local"),
		rec(1016, events.Delivered, "queue_id", q2, "message_id", mid, "rcpt", "a2@example.test", "hop", "local", "attempt", "1",
			"where", "delivered to maildir /m/a2"),
	)
	return mx1, mx2
}

func load(t *testing.T, paths ...string) []Log {
	t.Helper()
	var out []Log
	for _, p := range paths {
		l, err := Load("", p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

// steps renders a story's steps as "ms server queue-ID kind [rcpt]".
func steps(s Story) []string {
	var out []string
	for _, st := range s.Steps {
		qid := st.QueueID
		if len(qid) == 19 {
			qid = qid[:5] + qid[13:]
		}
		line := strings.Join([]string{st.Time.Sub(t0).String(), st.Server, qid, st.Kind}, " ")
		if st.Rcpt != "" {
			line += " " + st.Rcpt
		}
		out = append(out, line)
	}
	return out
}

func equal(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("steps:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// The steps of the two files interleave by time into one story; the
// labels come from each log's start event.
func TestFindAcrossServers(t *testing.T) {
	mx1, mx2 := orgLogs(t)
	for _, order := range [][]string{{mx1, mx2}, {mx2, mx1}} {
		got := Find(load(t, order...), Query{To: "a2@example.test"})
		if len(got) != 1 {
			t.Fatalf("found %d stories, want 1", len(got))
		}
		s := got[0]
		equal(t, steps(s), []string{
			"10ms mx1.example.test 0005A000001 received",
			"9ms mx1.example.test 0005A000001 expanded",
			"12ms mx1.example.test 0005A000001 queued a1@example.test",
			"12ms mx1.example.test 0005A000001 delivered a1@example.test",
			"13ms mx1.example.test 0005A000001 queued a2@example.test",
			"13ms mx1.example.test 0005A000001 deferred a2@example.test",
			"1.015s mx2.example.test 0005B000002 received",
			"1.016s mx2.example.test 0005B000002 queued a2@example.test",
			"1.016s mx2.example.test 0005B000002 delivered a2@example.test",
			"1.02s mx1.example.test 0005A000001 delivered a2@example.test",
		})
		if s.MessageID != mid || s.From != "alice@example.test" {
			t.Errorf("story of %q from %q", s.MessageID, s.From)
		}
		want := []ServerQueueID{{"mx1.example.test", q1}, {"mx2.example.test", q2}}
		if len(s.QueueIDs) != 2 || s.QueueIDs[0] != want[0] || s.QueueIDs[1] != want[1] {
			t.Errorf("queue IDs %v, want %v", s.QueueIDs, want)
		}
		if s.Steps[9].NextQueueID != q2 || s.Steps[5].Detail != "a2@example.test attempt 1 via mx2: 451 4.4.1 connection refused" {
			t.Errorf("delivered step's next queue ID %q, deferral %q", s.Steps[9].NextQueueID, s.Steps[5].Detail)
		}
	}
}

// Without a Message-ID the next server's queue ID in the reply still
// joins the two servers' steps; two messages without one stay apart.
func TestFollowByQueuedAs(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	none := message.NoMessageID
	writeLog(t, a, "",
		rec(1, events.MessageQueued, "queue_id", q1, "message_id", none, "from", "x@example.test", "rcpts", "y@example.test"),
		rec(3, events.Delivered, "queue_id", q1, "message_id", none, "rcpt", "y@example.test", "hop", "relay.test",
			"where", "relayed to relay.test [127.0.0.1:25]: 250 2.0.0 Ok: queued as 4Xy7Zq1"),
		rec(4, events.MessageQueued, "queue_id", "0005DDDDDDDDD000004", "message_id", none, "from", "z@example.test", "rcpts", "y@example.test"),
	)
	writeLog(t, b, "",
		rec(2, events.MessageQueued, "queue_id", "4Xy7Zq1", "message_id", none, "from", "x@example.test", "rcpts", "y@example.test"))
	got := Find(load(t, a, b), Query{To: "y@example.test"})
	if len(got) != 2 {
		t.Fatalf("found %d stories, want 2 (messages without Message-ID must not merge)", len(got))
	}
	if len(got[0].Steps) != 3 || got[0].Steps[1].QueueID != "4Xy7Zq1" || got[0].MessageID != none {
		t.Errorf("first story: %v (%q)", steps(got[0]), got[0].MessageID)
	}
	var out bytes.Buffer
	WriteText(&out, got[:1])
	if !strings.HasPrefix(out.String(), "Message (no Message-ID) from <x@example.test>\n") {
		t.Errorf("text output:\n%s", out.String())
	}
}

func TestFilters(t *testing.T) {
	mx1, mx2 := orgLogs(t)
	logs := load(t, mx1, mx2)
	for _, c := range []struct {
		name string
		q    Query
		want []string // the stories' Message-IDs
	}{
		{"everything", Query{}, []string{mid, "<other@x>"}},
		{"queue ID on mx1", Query{QueueID: q1}, []string{mid}},
		{"queue ID on mx2", Query{QueueID: q2}, []string{mid}},
		{"message-id without brackets", Query{MessageID: "m1@client.test"}, []string{mid}},
		{"from", Query{From: "<BOB@example.test>"}, []string{"<other@x>"}},
		{"to a member of the group", Query{To: "a1@example.test"}, []string{mid, "<other@x>"}},
		{"to the group", Query{To: "all@example.test"}, []string{mid}},
		{"to nobody", Query{To: "nobody@example.test"}, nil},
		{"since", Query{Since: t0.Add(1025 * time.Millisecond)}, []string{"<other@x>"}},
		{"until", Query{Until: t0.Add(500 * time.Millisecond)}, []string{mid}},
		{"both", Query{From: "alice@example.test", To: "a1@example.test"}, []string{mid}},
		{"contradiction", Query{QueueID: q2, From: "bob@example.test"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, s := range Find(logs, c.q) {
				got = append(got, s.MessageID)
			}
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Errorf("found %v, want %v", got, c.want)
			}
		})
	}
}

// A log rotated twice is read oldest file first (events.log.2, .1, then
// events.log), and a torn last line (a crash mid-write) is skipped
// without losing the records before it.
func TestRotatedLogAndTornLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.log")
	writeLog(t, path+".2", "",
		rec(0, events.ServiceStarted, "fqdn", "mx1.example.test"),
		rec(1, events.MessageQueued, "queue_id", q1, "message_id", mid, "from", "a@example.test", "rcpts", "b@example.test"))
	writeLog(t, path+".1", "",
		rec(2, events.MessageRouted, "queue_id", q1, "message_id", mid, "rcpt", "b@example.test", "hop", "example.net"),
		rec(3, events.DeliveryDeferred, "queue_id", q1, "message_id", mid, "rcpt", "b@example.test", "hop", "example.net",
			"attempt", "1", "error", "421 4.3.2 try later"))
	torn := `{"time":"2026-12-01T08:00:00.009Z","id":3000,"severity":"information","category":"delivery","message":"Message 0005AAA`
	writeLog(t, path, torn,
		rec(4, events.Delivered, "queue_id", q1, "message_id", mid, "rcpt", "b@example.test", "hop", "example.net",
			"attempt", "2", "where", "relayed"))
	got := Find(load(t, path), Query{QueueID: q1})
	if len(got) != 1 {
		t.Fatalf("found %d stories, want 1", len(got))
	}
	equal(t, steps(got[0]), []string{
		"1ms mx1.example.test 0005A000001 received",
		"2ms mx1.example.test 0005A000001 queued b@example.test",
		"3ms mx1.example.test 0005A000001 deferred b@example.test",
		"4ms mx1.example.test 0005A000001 delivered b@example.test",
	})
}

// A log is labelled with what the caller gave, else its last start's
// fqdn, else its path.
func TestLoadLabels(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "events.log")
	writeLog(t, p, "", rec(0, events.ServiceStarted, "fqdn", "old.example.test"), rec(1, events.ServiceStarted, "fqdn", "new.example.test"))
	for name, want := range map[string]string{"": "new.example.test", "mx9": "mx9"} {
		if l, _ := Load(name, p); l.Server != want {
			t.Errorf("Load(%q) labelled %q, want %q", name, l.Server, want)
		}
	}
	writeLog(t, p, "", rec(0, events.MessageQueued, "queue_id", q1))
	if l, _ := Load("", p); l.Server != p {
		t.Errorf("a log without a start event is labelled %q", l.Server)
	}
	if _, err := Load("", filepath.Join(dir, "missing.log")); err == nil {
		t.Error("a missing log loads")
	}
}

func TestJSON(t *testing.T) {
	mx1, mx2 := orgLogs(t)
	var b bytes.Buffer
	if err := WriteJSON(&b, Find(load(t, mx1, mx2), Query{QueueID: q2})); err != nil {
		t.Fatal(err)
	}
	var back []Story
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back) != 1 || len(back[0].Steps) != 10 || back[0].Steps[6].Kind != "received" || back[0].Steps[6].Server != "mx2.example.test" {
		t.Errorf("JSON round trip: %+v", back)
	}
	b.Reset()
	WriteJSON(&b, nil)
	if strings.TrimSpace(b.String()) != "[]" {
		t.Errorf("no stories as JSON: %q", b.String())
	}
}

func TestUnwritten(t *testing.T) {
	got := Unwritten(map[string]events.Level{"queue": events.None, "delivery": events.Minimum, "smtp_receive": events.None})
	if strings.Join(got, ",") != "queue" {
		t.Errorf("Unwritten = %v", got)
	}
}

// A message an administrator froze and deleted with an NDR: both actions
// (2010, by queue ID) and the notice with its own queue ID are steps of
// its story; the NDR's own story is found by that queue ID.
func TestAdminActionsAndNDR(t *testing.T) {
	p := filepath.Join(t.TempDir(), "events.log")
	ndr := "0005EEEEEEEEE000005"
	writeLog(t, p, "",
		rec(1, events.MessageQueued, "queue_id", q1, "message_id", mid, "from", "a@example.test", "rcpts", "b@example.net"),
		rec(2, events.DeliveryDeferred, "queue_id", q1, "message_id", mid, "rcpt", "b@example.net", "hop", "example.net",
			"attempt", "1", "error", "421 4.3.2 busy"),
		rec(3, events.QueueAction, "action", "asked to freeze", "target", "message "+q1, "queue_id", q1, "result", "frozen", "uid", "0"),
		rec(4, events.QueueAction, "action", "asked to delete", "target", "message "+q1, "queue_id", q1, "result", "deleted", "uid", "0"),
		rec(5, events.NDRSent, "ndr_id", ndr, "queue_id", q1, "message_id", mid, "to", "a@example.test", "recipients", "1"),
		rec(5, events.MessageRouted, "queue_id", ndr, "message_id", "<ndr1@mx1.example.test>", "rcpt", "a@example.test", "hop", "local"),
		rec(6, events.QueueAction, "action", "asked to retry", "target", "queue example.net", "result", "1 message(s)", "uid", "0"),
	)
	got := Find(load(t, p), Query{QueueID: q1})
	if len(got) != 1 {
		t.Fatalf("found %d stories", len(got))
	}
	var kinds, details []string
	for _, st := range got[0].Steps {
		kinds = append(kinds, st.Kind)
		details = append(details, st.Detail)
	}
	equal(t, kinds, []string{"received", "deferred", "admin", "admin", "ndr"})
	if details[3] != "asked to delete message "+q1+" (uid 0): deleted" || details[4] != "notice "+ndr+" to a@example.test for 1 recipient(s)" {
		t.Errorf("details: %q", details)
	}
	if s := Find(load(t, p), Query{QueueID: ndr}); len(s) != 1 || s[0].MessageID != "<ndr1@mx1.example.test>" {
		t.Errorf("the NDR's own story: %+v", s)
	}
}

// A copy delivered into a Junk folder (event 3030) is a step of its own,
// so "where is my message?" has the answer "in Junk, SCL 7".
func TestJunkStep(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.log")
	writeLog(t, a, "",
		rec(1, events.MessageQueued, "queue_id", q1, "message_id", mid, "from", "x@partner.test", "rcpts", "y@example.test"),
		rec(2, events.Delivered, "queue_id", q1, "message_id", mid, "rcpt", "y@example.test", "hop", "local", "attempt", "1",
			"where", "delivered to maildir y/Maildir/.Junk/new/1"),
		rec(2, events.DeliveredToJunk, "queue_id", q1, "message_id", mid, "rcpt", "y@example.test", "scl", "7", "threshold", "6"))
	got := Find(load(t, a), Query{To: "y@example.test"})
	if len(got) != 1 || len(got[0].Steps) != 3 {
		t.Fatalf("stories: %+v", got)
	}
	if st := got[0].Steps[2]; st.Kind != "junk" || st.Detail != "y@example.test into its Junk folder: SCL 7, store threshold 6" {
		t.Errorf("junk step: %q %q", st.Kind, st.Detail)
	}
}
