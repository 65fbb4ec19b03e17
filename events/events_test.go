package events

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"mailward/config"
)

// newFileLog returns an event log writing to a file in a temporary
// directory, with its clock fixed at *now.
func newFileLog(t *testing.T, levels map[string]Level, now *time.Time) (*Log, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.log")
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	l := New(nil, levels, f)
	l.now = func() time.Time { return *now }
	return l, path
}

func readAll(t *testing.T, path string, f Filter) []Record {
	t.Helper()
	recs, err := Read(path, f)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestLevelFiltering(t *testing.T) {
	if Catalogue[IdleTimeout].Level != Medium || Catalogue[IdleTimeout].Category != "smtp_receive" {
		t.Fatalf("test assumes event %d is a medium smtp_receive event", IdleTimeout)
	}
	if Catalogue[ServiceStarted].Level != None {
		t.Fatalf("test assumes event %d has level none", ServiceStarted)
	}
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	cases := []struct {
		name    string
		levels  map[string]Level
		id      int
		written bool
	}{
		{"medium event at minimum", map[string]Level{"smtp_receive": Minimum}, IdleTimeout, false},
		{"medium event at medium", map[string]Level{"smtp_receive": Medium}, IdleTimeout, true},
		{"medium event at maximum", map[string]Level{"smtp_receive": Maximum}, IdleTimeout, true},
		{"medium event, category unset (minimum)", map[string]Level{}, IdleTimeout, false},
		{"minimum event at none", map[string]Level{"smtp_receive": None}, RelayDenied, false},
		{"minimum event at minimum", map[string]Level{"smtp_receive": Minimum}, RelayDenied, true},
		{"level-0 event at none", map[string]Level{"service": None}, ServiceStarted, true},
		{"level-0 error at none", map[string]Level{"queue": None}, SpoolCorrupt, true},
		{"maximum event at medium", map[string]Level{"auth": Medium}, AuthSucceeded, false},
		{"maximum event at maximum", map[string]Level{"auth": Maximum}, AuthSucceeded, true},
		{"other category's level does not count", map[string]Level{"smtp_receive": None, "auth": Maximum}, RelayDenied, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, path := newFileLog(t, c.levels, &now)
			if got := l.Enabled(c.id); got != c.written {
				t.Errorf("Enabled(%d) = %v, want %v", c.id, got, c.written)
			}
			l.Emit(c.id, "ip", "192.0.2.7")
			recs := readAll(t, path, Filter{})
			if got := len(recs) == 1; got != c.written {
				t.Fatalf("event %d written = %v (%d records), want %v", c.id, got, len(recs), c.written)
			}
			if c.written && recs[0].ID != c.id {
				t.Errorf("record ID %d, want %d", recs[0].ID, c.id)
			}
		})
	}
}

func TestParseLevel(t *testing.T) {
	for word, want := range map[string]Level{"none": None, "minimum": Minimum, "medium": Medium, "maximum": Maximum} {
		got, err := ParseLevel(word)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", word, got, err, want)
		}
	}
	for _, bad := range []string{"", "Medium", "high", "3"} {
		if _, err := ParseLevel(bad); err == nil {
			t.Errorf("ParseLevel(%q): no error", bad)
		}
	}
	// Every level word the configuration accepts must parse.
	for _, w := range config.DiagnosticLevels {
		if _, err := ParseLevel(w.String()); err != nil {
			t.Errorf("config level %q: %v", w, err)
		}
	}
}

func TestFormat(t *testing.T) {
	cases := []struct {
		text   string
		fields map[string]string
		want   string
	}{
		{"Relay denied to {rcpt} from [{ip}].", map[string]string{"rcpt": "u@remote.test", "ip": "192.0.2.1"},
			"Relay denied to u@remote.test from [192.0.2.1]."},
		{"missing {a} and {b}", map[string]string{"a": "x"}, "missing x and ?"},
		{"no placeholders", nil, "no placeholders"},
		{"unclosed {brace", map[string]string{"brace": "x"}, "unclosed {brace"},
		{"{a}{a}", map[string]string{"a": "1"}, "11"},
		{"empty value [{a}]", map[string]string{"a": ""}, "empty value []"},
		{"value with braces {a}", map[string]string{"a": "{b}"}, "value with braces {b}"},
	}
	for _, c := range cases {
		if got := (Def{Text: c.text}).Format(c.fields); got != c.want {
			t.Errorf("Format(%q) = %q, want %q", c.text, got, c.want)
		}
	}
}

func TestEmitRecord(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.FixedZone("X", 3600))
	l, path := newFileLog(t, map[string]Level{"queue": Minimum}, &now)
	l.Emit(MessageQueued, "queue_id", "ABC", "from", "<>", "recipients", 2, "size", 10,
		"virtual_server", "default", "ip", "127.0.0.1")
	recs := readAll(t, path, Filter{})
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	r := recs[0]
	want := "Message ABC from <> for 2 recipient(s), 10 bytes, queued via virtual server default from [127.0.0.1]."
	if r.Message != want {
		t.Errorf("message %q, want %q", r.Message, want)
	}
	if r.Severity != Information || r.Category != "queue" || r.ID != MessageQueued {
		t.Errorf("record %+v", r)
	}
	if !r.Time.Equal(now) || r.Time.Location() != time.UTC {
		t.Errorf("time %v, want %v in UTC", r.Time, now)
	}
	if r.Fields["recipients"] != "2" || r.Fields["queue_id"] != "ABC" {
		t.Errorf("fields %v", r.Fields)
	}
}

func TestEmitUnknownIDAndNil(t *testing.T) {
	now := time.Now()
	l, path := newFileLog(t, map[string]Level{}, &now)
	l.Emit(99999)
	recs := readAll(t, path, Filter{})
	if len(recs) != 1 || recs[0].ID != 99999 || recs[0].Severity != Error {
		t.Fatalf("unknown event not written as an error: %+v", recs)
	}
	var nilLog *Log
	nilLog.Emit(ServiceStarted) // must not panic
	Discard().Emit(SpoolCorrupt, "file", "x")
}

func TestReadFilter(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	now := t0
	l, path := newFileLog(t, map[string]Level{"smtp_receive": Minimum, "queue": Minimum}, &now)
	l.Emit(RelayDenied, "rcpt", "a@remote.test") // t0
	now = t0.Add(time.Hour)
	l.Emit(MessageQueued, "queue_id", "Q1") // t0+1h
	now = t0.Add(2 * time.Hour)
	l.Emit(RelayDenied, "rcpt", "b@remote.test") // t0+2h

	// A torn last line, as a crash leaves it, is skipped.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"2026-03-01T13:00:00Z","id":10`)
	f.Close()

	ids := func(recs []Record) []int {
		var out []int
		for _, r := range recs {
			out = append(out, r.ID)
		}
		return out
	}
	cases := []struct {
		name string
		f    Filter
		want []int
	}{
		{"all", Filter{}, []int{RelayDenied, MessageQueued, RelayDenied}},
		{"by id", Filter{ID: RelayDenied}, []int{RelayDenied, RelayDenied}},
		{"since, inclusive", Filter{Since: t0.Add(time.Hour)}, []int{MessageQueued, RelayDenied}},
		{"id and since", Filter{ID: RelayDenied, Since: t0.Add(30 * time.Minute)}, []int{RelayDenied}},
		{"since after all", Filter{Since: t0.Add(3 * time.Hour)}, nil},
		{"id not present", Filter{ID: SpoolCorrupt}, nil},
	}
	for _, c := range cases {
		got := ids(readAll(t, path, c.f))
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: IDs %v, want %v", c.name, got, c.want)
		}
	}
	recs := readAll(t, path, Filter{ID: RelayDenied, Since: t0.Add(time.Minute)})
	if len(recs) != 1 || recs[0].Fields["rcpt"] != "b@remote.test" {
		t.Errorf("wrong record: %+v", recs)
	}
	if _, err := Read(filepath.Join(t.TempDir(), "missing.log"), Filter{}); err == nil {
		t.Error("Read of a missing file: no error")
	}
}

func TestCatalogue(t *testing.T) {
	if len(Catalogue) == 0 {
		t.Fatal("empty catalogue")
	}
	for id, d := range Catalogue {
		if d.ID != id {
			t.Errorf("event %d: Def.ID is %d", id, d.ID)
		}
		if d.Text == "" || d.Cause == "" || d.Fix == "" {
			t.Errorf("event %d: empty Text, Cause or Fix", id)
		}
		if !slices.Contains(config.Categories, d.Category) {
			t.Errorf("event %d: category %q is not one of config.Categories %v", id, d.Category, config.Categories)
		}
		switch d.Severity {
		case Information, Warning, Error:
		default:
			t.Errorf("event %d: severity %q", id, d.Severity)
		}
		switch d.Level {
		case None, Minimum, Medium, Maximum:
		default:
			t.Errorf("event %d: level %d is not a diagnostic level", id, d.Level)
		}
	}
}

// KB843106: events 7004 and 7010 are written only when the transport's
// diagnostic logging level is medium or higher.
func TestKB843106XEXCH50EventsNeedMedium(t *testing.T) {
	for _, id := range []int{XEXCH50Failed, XEXCH50Protocol} {
		for lvl, want := range map[Level]bool{None: false, Minimum: false, Medium: true, Maximum: true} {
			l := New(nil, map[string]Level{"smtp_send": lvl}, nil)
			if got := l.Enabled(id); got != want {
				t.Errorf("event %d at level %d: enabled %v, want %v", id, lvl, got, want)
			}
		}
	}
}

func TestFormatNoDoubleFullStop(t *testing.T) {
	d := Def{Text: "deferred: {error}. Next: {x}"}
	if got := d.Format(map[string]string{"error": "disk full.", "x": "y"}); got != "deferred: disk full. Next: y" {
		t.Fatalf("got %q", got)
	}
}
