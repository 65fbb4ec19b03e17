// Command maildirwait waits until every given Maildir holds a number of
// messages in new/, for the benchmark harness (bench/group.sh), and
// prints the seconds elapsed since a given start.
//
//	maildirwait --files N --timeout SECS --since EPOCH --list FILE [--queue DIR]...
//
// FILE lists the Maildirs (the directories holding new/), one a line.
// With --queue it also waits until the MTA has finished the message:
// until none of the queue directories DIR holds a file (Postfix removes
// its queue file, mailward moves it out of queue/active, once every
// recipient is delivered), so that a copy counts only once the MTA
// itself says it is delivered, durably: a Maildir file can be visible
// before it is on disk.
// It watches each new/ with inotify instead of polling a thousand
// directories, so that the waiting costs the measured MTA no CPU: a
// file created or renamed into new/ (Postfix's virtual(8) links it
// there, mailward renames it) wakes it up and that directory is counted
// again. A Maildir that does not exist yet is looked for again every
// 10 ms until it does; the queue directories are looked at every 2 ms
// once the copies are there. On success it prints the elapsed seconds
// (since EPOCH, as from `date +%s.%N`) and exits 0; after SECS it says
// what is missing and exits 1.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "maildirwait:", err)
		os.Exit(1)
	}
}

func run() error {
	files := flag.Int("files", 1, "messages each Maildir's new/ must hold")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	since := flag.String("since", "", "start of the clock, seconds since the epoch (default: now)")
	list := flag.String("list", "", "file listing the Maildirs, one a line")
	var queues dirs
	flag.Var(&queues, "queue", "a queue directory that must hold no file at the end (repeatable)")
	flag.Parse()
	start := time.Now()
	if *since != "" {
		f, err := strconv.ParseFloat(*since, 64)
		if err != nil {
			return fmt.Errorf("--since %q: %v", *since, err)
		}
		start = time.Unix(0, int64(f*1e9))
	}
	if *list == "" || flag.NArg() != 0 || *files < 1 {
		return errors.New("usage: maildirwait --files N --timeout DURATION --since EPOCH --list FILE")
	}
	b, err := os.ReadFile(*list)
	if err != nil {
		return err
	}
	dirs := strings.Fields(string(b))
	if len(dirs) == 0 {
		return fmt.Errorf("%s lists no Maildir", *list)
	}
	w, err := newWaiter(dirs, *files)
	if err != nil {
		return err
	}
	defer unix.Close(w.fd)
	deadline := time.Now().Add(*timeout)
	if err := w.wait(deadline); err != nil {
		return err
	}
	if err := queuesEmpty(queues, deadline); err != nil {
		return err
	}
	fmt.Printf("%.3f\n", time.Since(start).Seconds())
	return nil
}

type dirs []string

func (d *dirs) String() string     { return strings.Join(*d, ",") }
func (d *dirs) Set(v string) error { *d = append(*d, v); return nil }

// queuesEmpty polls the queue directories until none holds a file.
func queuesEmpty(queues []string, deadline time.Time) error {
	for range 10_000_000 { // bounded: a 2 ms pause per pass, and the deadline
		busy := ""
		for _, q := range queues {
			ents, err := os.ReadDir(q)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			for _, e := range ents {
				if e.Type().IsRegular() {
					busy = filepath.Join(q, e.Name())
					break
				}
			}
			if busy != "" {
				break
			}
		}
		if busy == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timeout: the copies are there, but %s is still queued", busy)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return errors.New("gave up after ten million passes")
}

type waiter struct {
	fd      int
	want    int
	news    []string     // each Maildir's new/
	short   map[int]bool // Maildirs still short of want
	watched map[int]int  // inotify watch → Maildir
	absent  map[int]bool // Maildirs whose new/ does not exist yet
}

func newWaiter(dirs []string, want int) (*waiter, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	w := &waiter{fd: fd, want: want, short: map[int]bool{}, watched: map[int]int{}, absent: map[int]bool{}}
	for i, d := range dirs {
		w.news = append(w.news, filepath.Join(d, "new"))
		w.short[i] = true
		w.absent[i] = true
	}
	return w, nil
}

// lookAgain watches the new/ directories that have appeared since the
// last look and counts them (a file may have arrived before the watch).
func (w *waiter) lookAgain() error {
	for i := range w.absent {
		wd, err := unix.InotifyAddWatch(w.fd, w.news[i], unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_ONLYDIR)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return fmt.Errorf("watch %s: %w", w.news[i], err)
		}
		delete(w.absent, i)
		w.watched[wd] = i
		w.count(i)
	}
	return nil
}

// count reads a Maildir's new/ and settles it when it holds enough.
func (w *waiter) count(i int) {
	ents, err := os.ReadDir(w.news[i])
	if err != nil {
		return
	}
	n := 0
	for _, e := range ents {
		if e.Type().IsRegular() {
			n++
		}
	}
	if n >= w.want {
		delete(w.short, i)
	}
}

func (w *waiter) wait(deadline time.Time) error {
	buf := make([]byte, 64<<10)
	for range 1_000_000 { // bounded: a 10 ms poll per pass, and the deadline
		if len(w.absent) > 0 {
			if err := w.lookAgain(); err != nil {
				return err
			}
		}
		if len(w.short) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timeout: %d of %d Maildirs hold fewer than %d messages in new/ (%d not even created)",
				len(w.short), len(w.news), w.want, len(w.absent))
		}
		fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, 10); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("poll: %w", err)
		}
		if err := w.drain(buf); err != nil {
			return err
		}
	}
	return errors.New("gave up after a million passes")
}

// drain reads the pending inotify events and counts the directories
// they name again (each once per read).
func (w *waiter) drain(buf []byte) error {
	for {
		n, err := unix.Read(w.fd, buf)
		if errors.Is(err, unix.EAGAIN) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read inotify: %w", err)
		}
		seen := map[int]bool{}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				// Events were lost: count everything still short.
				for i := range w.short {
					seen[i] = true
				}
				continue
			}
			if i, ok := w.watched[int(ev.Wd)]; ok {
				seen[i] = true
			}
		}
		for i := range seen {
			if w.short[i] {
				w.count(i)
			}
		}
	}
}
