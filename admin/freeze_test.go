package admin

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mailward/deliver"
	"mailward/events"
)

// freeze and unfreeze answer in words, show in the queue's page, and are
// logged as event 2010 like every action; find answers across queues;
// sizes and the oldest arrival are in the queue's line.
func TestFreezeFindAndSizes(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	m1 := r.enqueue("bob@" + hop)
	m2 := r.enqueue("carol@" + hop)
	r.settled(2)

	res, err := r.c.Freeze(ctx, m1)
	if err != nil || res.Action != "freeze" || res.Count != 1 {
		t.Fatalf("freeze = %+v, %v", res, err)
	}
	d, err := r.c.Queue(ctx, hop)
	if err != nil || len(d.Messages) != 2 {
		t.Fatalf("queue page: %+v, %v", d, err)
	}
	if !d.Messages[0].Frozen || d.Messages[1].Frozen || d.Messages[0].Size != int64(len("Subject: test\r\n\r\nhello\r\n")) {
		t.Errorf("page after freeze: %+v", d.Messages)
	}
	q, _ := r.queue(hop)
	if q.Bytes != 2*d.Messages[0].Size || q.Oldest.IsZero() {
		t.Errorf("queue line: %+v", q)
	}
	if o, err := r.c.Summary(ctx); err != nil || o.Frozen != 1 || o.Bytes != q.Bytes || !o.Oldest.Equal(q.Oldest) {
		t.Errorf("summary: %+v, %v", o, err)
	}
	if _, err := r.c.Freeze(ctx, "nope"); !IsNotFound(err) {
		t.Errorf("freeze of an unknown message: %v", err)
	}
	f, err := r.c.Find(ctx, "", "CAROL@", "")
	if err != nil || f.Total != 1 || len(f.Messages) != 1 || f.Messages[0].ID != m2 || f.Messages[0].Subject != "test" {
		t.Errorf("find = %+v, %v", f, err)
	}
	if _, err := r.c.Find(ctx, "", "", ""); err == nil {
		t.Errorf("find without a filter accepted")
	}
	if _, err := r.c.Unfreeze(ctx, m1); err != nil {
		t.Fatal(err)
	}
	recs, err := events.Read(r.evPath, events.Filter{ID: events.QueueAction})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rec := range recs {
		got = append(got, rec.Fields["action"]+" "+rec.Fields["target"])
	}
	want := []string{"asked to freeze message " + m1, "asked to freeze message nope", "asked to unfreeze message " + m1}
	if !slices.Equal(got, want) {
		t.Errorf("events 2010:\n got %q\nwant %q", got, want)
	}
	// Message tracking finds an action on a message by its queue ID
	// (docs/tracking.md).
	for _, rec := range recs {
		if id := strings.TrimPrefix(rec.Fields["target"], "message "); rec.Fields["queue_id"] != id {
			t.Errorf("event 2010 on %s has queue_id %q", rec.Fields["target"], rec.Fields["queue_id"])
		}
	}
}

// A suspension is a file in the directory Persist names: a new Hops over
// the same directory (a restart) finds the queue still suspended, and a
// resume removes the file. Names that are not file names stay inside it.
func TestSuspendPersists(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "suspended")
	h := deliver.NewHops()
	if got, err := h.Persist(dir); err != nil || len(got) != 0 {
		t.Fatalf("Persist on nothing = %v, %v", got, err)
	}
	for _, n := range []string{hop, "127.0.0.1:2626", "..", "a/../b"} {
		if err := h.Suspend(n, true); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := os.ReadDir(dir)
	if len(files) != 4 {
		t.Errorf("%d files for 4 suspended queues", len(files))
	}
	h2 := deliver.NewHops()
	got, err := h2.Persist(dir)
	slices.Sort(got)
	if err != nil || !slices.Equal(got, []string{"..", "127.0.0.1:2626", "a/../b", hop}) {
		t.Errorf("restored %q, %v", got, err)
	}
	if !h2.Suspended(hop) || !h2.Suspended("a/../b") {
		t.Error("not suspended after the restart")
	}
	if err := h2.Suspend(hop, false); err != nil {
		t.Fatal(err)
	}
	h3 := deliver.NewHops()
	h3.Persist(dir)
	if h3.Suspended(hop) || !h3.Suspended("127.0.0.1:2626") {
		t.Errorf("after resume and restart: %v", h3.All())
	}
}
