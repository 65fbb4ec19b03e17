package queue

import (
	"os"
	"reflect"
	"testing"
)

// An expansion is on disk before Expand returns, and a restart finds
// the added recipients with the same indexes; a torn expansion record
// (a crash in the middle of writing it) is as if it had not happened.
func TestExpandSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir)
	id := enqueue(t, q, testEnv(), "Subject: g\r\n\r\nx\r\n")
	m := q.live[id]
	members := []Recipient{
		{Addr: "bob@example.test", Notify: "FAILURE", ExpandedFrom: []string{"team@example.test"}, ReportTo: "owner@example.test"},
		{Addr: "carol@example.test", ExpandedFrom: []string{"team@example.test", "inner@example.test"}, Hidden: "team@example.test"},
	}
	alt := []Recipient{{Addr: "dave@remote.test", ForwardedFrom: []string{"alice@example.test"}}}
	if err := q.Expand(m, []Expansion{{Index: 1, Add: members}, {Index: 0, Add: alt, Forwarded: true}}); err != nil {
		t.Fatal(err)
	}
	if len(m.Env.Recipients) != 5 || len(m.Status) != 5 || !m.Env.Recipients[0].Forwarded {
		t.Fatalf("in memory: %+v", m.Env.Recipients)
	}
	want := append([]Recipient(nil), m.Env.Recipients...)

	// A crash while a further expansion was written: its line is torn.
	f, err := os.OpenFile(m.path+".state", os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`x 2 [{"Addr":"torn@example.te`)
	f.Close()

	again, err := open(t, dir).readMessage(id)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Env.Recipients, want) || len(again.Status) != 5 || len(again.Pending()) != 5 {
		t.Fatalf("after a restart:\n got %+v\nwant %+v", again.Env.Recipients, want)
	}
}
