package protolog

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func open(t *testing.T, o Options) (*Log, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}
	o.Now = c.now
	if o.Path == "" {
		o.Path = filepath.Join(t.TempDir(), "smtp-in.log")
	}
	l, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, c
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Each line's fields, and the direction by role: a server's commands
// come in, a client's go out.
func TestLineFormat(t *testing.T) {
	l, _ := open(t, Options{})
	s := l.Session(Server, "192.0.2.7:4000", "virtual server default")
	s.Command("EHLO a\x1b[31m\r")
	s.Reply(250, []byte("250-one\r\n250 two\r\n"))
	s.Close("")
	c := l.Session(Client, "192.0.2.8:25", "outbound to mx.test")
	c.Command("QUIT")
	c.Reply(221, []byte("221 bye\r\n"))
	id, cid := s.ID(), c.ID()
	if !strings.HasPrefix(id, "S") || !strings.HasPrefix(cid, "C") || id[1:strings.Index(id, "-")] != cid[1:strings.Index(cid, "-")] {
		t.Fatalf("IDs %q %q", id, cid)
	}
	p := "2026-12-01T08:00:00.000Z "
	want := p + id + " 192.0.2.7:4000 = virtual server default\n" +
		p + id + " 192.0.2.7:4000 < EHLO a\\x1b[31m\\x0d\n" +
		p + id + " 192.0.2.7:4000 > 250-one\n" +
		p + id + " 192.0.2.7:4000 > 250 two\n" +
		p + id + " 192.0.2.7:4000 = closed\n" +
		p + cid + " 192.0.2.8:25 = outbound to mx.test\n" +
		p + cid + " 192.0.2.8:25 > QUIT\n" +
		p + cid + " 192.0.2.8:25 < 221 bye\n"
	if got := read(t, l.opt.Path); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	var none *Session // a log that is off
	none.Command("AUTH PLAIN x")
	none.Reply(235, nil)
	none.Data(1)
	none.Close("")
	if (*Log)(nil).Session(Server, "", "") != nil {
		t.Fatal("a nil Log gave a session")
	}
}

// Masking: initial responses of AUTH and X-EXPS, 334 challenges and the
// answers to them; "*" (cancel) and commands without a response stay.
func TestMasking(t *testing.T) {
	l, _ := open(t, Options{})
	s := l.Session(Server, "127.0.0.1:1", "x")
	for _, step := range []struct {
		cmd  string
		code int
		want string
	}{
		{"AUTH PLAIN AGFAYgBzZWNyZXQ=", 235, "< AUTH PLAIN ***|> 235 ok"},
		{"auth login  dXNlcg==", 334, "< auth login ***|> 334 ***"},
		{"c2VjcmV0", 235, "< ***|> 235 ok"},
		{"AUTH LOGIN", 334, "< AUTH LOGIN|> 334 ***"},
		{"*", 501, "< *|> 501 ok"},
		{"X-EXPS GSSAPI YIIBxw==", 334, "< X-EXPS GSSAPI ***|> 334 ***"},
		{"", 235, "< ***|> 235 ok"},
		{"MAIL FROM:<a@b>", 250, "< MAIL FROM:<a@b>|> 250 ok"},
		{"AUTH", 501, "< AUTH|> 501 ok"},
	} {
		before := len(read(t, l.opt.Path))
		s.Command(step.cmd)
		s.Reply(step.code, []byte(strconv.Itoa(step.code)+" ok\r\n"))
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(read(t, l.opt.Path)[before:]), "\n") {
			f := strings.SplitN(line, " ", 4)
			got = append(got, f[3])
		}
		if strings.Join(got, "|") != step.want {
			t.Errorf("%q: got %q, want %q", step.cmd, strings.Join(got, "|"), step.want)
		}
	}
	if b := read(t, l.opt.Path); strings.Contains(b, "c2VjcmV0") || strings.Contains(b, "AGFAYgBzZWNyZXQ=") || strings.Contains(b, "YIIBxw") || strings.Contains(b, "dXNlcg") {
		t.Fatalf("secret in log:\n%s", b)
	}
}

// Rotation by size: a line that would pass max_size goes to a new file;
// max_files rotated files are kept, the oldest deleted.
func TestRotateBySize(t *testing.T) {
	l, _ := open(t, Options{MaxSize: 200, MaxFiles: 2})
	s := l.Session(Client, "127.0.0.1:25", "outbound")
	for i := range 12 {
		s.Command("NOOP " + strings.Repeat(string(rune('a'+i)), 20))
	}
	p := l.opt.Path
	for _, f := range []string{p, p + ".1", p + ".2"} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 200 || st.Size() == 0 {
			t.Fatalf("%s: %d bytes, limit 200", f, st.Size())
		}
	}
	if _, err := os.Stat(p + ".3"); !os.IsNotExist(err) {
		t.Fatalf("%s.3 kept beyond max_files 2: %v", p, err)
	}
	// The newest lines are in the current file, the ones before in .1.
	cur, one := read(t, p), read(t, p+".1")
	if !strings.Contains(cur, "NOOP "+strings.Repeat("l", 20)) || strings.Contains(one, strings.Repeat("l", 20)) {
		t.Fatalf("current:\n%s\n.1:\n%s", cur, one)
	}
	// No line was split or lost between the files kept.
	all := read(t, p+".2") + one + cur
	if strings.Count(all, "\n") != strings.Count(all, " > NOOP ") {
		t.Fatalf("torn lines:\n%s", all)
	}
}

// Rotation by age: the first line after max_age since the file's first
// line starts a new file; lines before that stay together.
func TestRotateByAge(t *testing.T) {
	l, c := open(t, Options{MaxAge: time.Hour, MaxFiles: 3})
	s := l.Session(Server, "127.0.0.1:1", "x")
	s.Command("ONE")
	c.t = c.t.Add(59 * time.Minute)
	s.Command("TWO")
	p := l.opt.Path
	if _, err := os.Stat(p + ".1"); !os.IsNotExist(err) {
		t.Fatalf("rotated before max_age: %v", err)
	}
	c.t = c.t.Add(time.Minute)
	s.Command("THREE")
	one, cur := read(t, p+".1"), read(t, p)
	if !strings.Contains(one, "< ONE\n") || !strings.Contains(one, "< TWO\n") || strings.Contains(one, "THREE") {
		t.Fatalf(".1:\n%s", one)
	}
	if cur != "2026-12-01T09:00:00.000Z "+s.ID()+" 127.0.0.1:1 < THREE\n" {
		t.Fatalf("current:\n%s", cur)
	}
	// The new file's age counts from its own first line.
	c.t = c.t.Add(59 * time.Minute)
	s.Command("FOUR")
	if _, err := os.Stat(p + ".2"); !os.IsNotExist(err) {
		t.Fatalf("rotated again too early: %v", err)
	}
}

// A file that exists at start is appended to, its age counted from its
// modification time.
func TestReopenAppends(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "smtp-out.log")
	l, _ := open(t, Options{Path: p})
	l.Session(Client, "127.0.0.1:25", "first")
	l.Close()
	l2, _ := open(t, Options{Path: p})
	l2.Session(Client, "127.0.0.1:25", "second")
	b := read(t, p)
	if !strings.Contains(b, "= first\n") || !strings.Contains(b, "= second\n") {
		t.Fatalf("log:\n%s", b)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want 0640", st.Mode().Perm())
	}
}

// A log that cannot be written reports it once (OnError), not on every
// line, and again after it recovered and failed anew; sessions go on.
func TestWriteFailureReportedOnce(t *testing.T) {
	var got []string
	l, c := open(t, Options{MaxSize: 100, MaxFiles: 1, OnError: func(path string, err error) { got = append(got, filepath.Base(path)+": "+err.Error()) }})
	s := l.Session(Server, "127.0.0.1:1", "x")
	// Rotation fails: the directory is gone, so no new file can be made.
	dir := filepath.Dir(l.opt.Path)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		s.Command("NOOP " + strings.Repeat("x", 60))
	}
	if len(got) != 1 || !strings.Contains(got[0], "smtp-in.log: protolog: open") {
		t.Fatalf("reports %q, want one rotation failure", got)
	}
	// The directory is back and the minute's wait is over: the rotation
	// works, lines are written again, and a new failure is reported anew.
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(time.Minute)
	s.Command("NOOP after")
	if b := read(t, l.opt.Path); !strings.HasSuffix(b, "> NOOP after\n") && !strings.HasSuffix(b, "< NOOP after\n") {
		t.Fatalf("after recovery the log holds %q", b)
	}
	if len(got) != 1 {
		t.Fatalf("reports after recovery %q", got)
	}
	l.mu.Lock()
	l.opt.MaxSize = 0 // no rotation to a fresh file
	l.f.Close()       // writes now fail with "file already closed"
	l.mu.Unlock()
	s.Command("NOOP lost")
	s.Command("NOOP lost too")
	if len(got) != 2 {
		t.Fatalf("reports %q, want a second one for the new failure", got)
	}
}
