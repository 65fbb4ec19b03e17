package queue

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
)

// The SCL is known only after the whole message is in, after Create
// wrote the envelope: Commit writes the envelope again, for a message
// held in memory and for one already spilled to its file, and the SCL
// and the content both survive a restart.
func TestSCLSetAfterCreate(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir)
	small := "Subject: small\r\n\r\nbody\r\n"
	big := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", 8000) // 512 KB: past memLimit
	want := map[string]string{}
	scls := map[string]int{}
	for k, content := range []string{small, big} {
		env := testEnv()
		w, err := q.Create(env)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, content)
		n := 3 + k*4
		env.SCL = &n
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		want[w.ID()], scls[w.ID()] = content, n
	}
	// Unchanged after Create (the common case): nothing rewritten.
	id := enqueue(t, q, testEnv(), small)
	want[id] = small

	q2 := open(t, dir)
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q2.Wait() }()
	if err := q2.Start(ctx, rec.handle, func(*Message, []int) error { return nil }, nil); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 5*time.Second, "delivery", func() bool { return len(activeFiles(t, dir)) == 0 })
	if rec.n() != 3 {
		t.Fatalf("handler saw %d messages, want 3", rec.n())
	}
	for i, m := range rec.seen {
		if rec.bodies[i] != want[m.Env.ID] {
			t.Errorf("%s: content changed (%d octets, want %d)", m.Env.ID, len(rec.bodies[i]), len(want[m.Env.ID]))
		}
		n, scanned := scls[m.Env.ID]
		switch {
		case !scanned && m.Env.SCL != nil:
			t.Errorf("%s: SCL %d, want none", m.Env.ID, *m.Env.SCL)
		case scanned && (m.Env.SCL == nil || *m.Env.SCL != n):
			t.Errorf("%s: SCL %v, want %d", m.Env.ID, m.Env.SCL, n)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(ents) != 0 {
		t.Errorf("temporary files left: %v", ents)
	}
}
