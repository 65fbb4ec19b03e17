package queue

import (
	"reflect"
	"testing"
)

// A journal recipient decided at receipt is written in the envelope
// block with the message, in the same commit: a restart reads it back
// whole (its report's data and where its reports go), with the
// decision marked as made.
func TestJournalRecipientInEnvelope(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir)
	env := testEnv()
	env.JournalChecked = true
	env.Recipients = append(env.Recipients, Recipient{Addr: "journal@example.test", ReportTo: "postmaster@example.test",
		Journal: &JournalEnvelope{From: "journaling@example.test", Rules: []string{"all"}, NoUpstream: true,
			Recipients: []JournalRecipient{{Addr: "alice@example.test"}, {Addr: "bob@example.test", Expanded: []string{"team@example.test"}, Forwarded: []string{"carol@example.test"}}}}})
	want := append([]Recipient(nil), env.Recipients...)
	id := enqueue(t, q, env, "Subject: j\r\n\r\nx\r\n")
	again, err := open(t, dir).readMessage(id)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Env.JournalChecked || !reflect.DeepEqual(again.Env.Recipients, want) {
		t.Errorf("read back: checked %v, recipients %+v; want %+v", again.Env.JournalChecked, again.Env.Recipients, want)
	}
	q2 := open(t, t.TempDir())
	plain, err := q2.readMessage(enqueue(t, q2, testEnv(), "x\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if plain.Env.JournalChecked {
		t.Error("a message without a journaling decision reads back as decided")
	}
}
