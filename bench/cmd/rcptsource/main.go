// Command rcptsource is smtp-source's w1 workload (one message per
// connection, SESSIONS connections at a time, SIZE bytes each) with one
// difference: message i goes to the i-th address of a list, in turn, so
// that a run touches every mailbox of a large directory. smtp-source
// sends every message to its one -t recipient (its -r multiplies the
// recipients of each message instead), which would measure a single
// directory lookup over and over.
//
//	rcptsource -s 20 -m 5000 -l 4096 -f bench@sender.test -rcpts FILE 127.0.0.1:PORT
//
// It exits non-zero when any message was not accepted with 250, so a
// benchmark never reports a rate over refused mail.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	sessions := flag.Int("s", 20, "connections at a time")
	messages := flag.Int("m", 5000, "messages in all, one per connection")
	size := flag.Int("l", 4096, "message size in bytes")
	from := flag.String("f", "bench@sender.test", "envelope sender")
	helo := flag.String("M", "client.test", "EHLO name")
	rcpts := flag.String("rcpts", "", "file of recipient addresses, one a line")
	timeout := flag.Duration("timeout", 30*time.Second, "per reply")
	flag.Parse()
	if flag.NArg() != 1 || *rcpts == "" || *sessions < 1 || *messages < 1 {
		fmt.Fprintln(os.Stderr, "usage: rcptsource [-s N] [-m N] [-l BYTES] -rcpts FILE host:port")
		os.Exit(2)
	}
	b, err := os.ReadFile(*rcpts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rcptsource:", err)
		os.Exit(2)
	}
	list := strings.Fields(string(b))
	if len(list) == 0 {
		fmt.Fprintln(os.Stderr, "rcptsource: no recipients in", *rcpts)
		os.Exit(2)
	}
	body := messageBody(*size)
	var next, failed atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	for range *sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(*messages) {
					return
				}
				if err := send(flag.Arg(0), *helo, *from, list[i%int64(len(list))], body, *timeout); err != nil {
					failed.Add(1)
					firstErr.Do(func() { fmt.Fprintln(os.Stderr, "rcptsource:", err) })
				}
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "rcptsource: %d of %d messages not accepted\n", n, *messages)
		os.Exit(1)
	}
}

// messageBody is a header and filler lines up to size bytes, dot-safe.
func messageBody(size int) string {
	var sb strings.Builder
	sb.WriteString("From: bench@sender.test\r\nSubject: rcptsource\r\n\r\n")
	for sb.Len() < size {
		sb.WriteString("abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz012345\r\n")
	}
	return sb.String()
}

// send delivers one message over its own connection.
func send(addr, helo, from, rcpt, body string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	r := bufio.NewReader(c)
	expect := func(code string) error {
		c.SetDeadline(time.Now().Add(timeout))
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if !strings.HasPrefix(line, code) {
				return fmt.Errorf("to %s: want %s, got %q", rcpt, code, strings.TrimSpace(line))
			}
			if len(line) < 4 || line[3] != '-' {
				return nil
			}
		}
	}
	cmd := func(line, code string) error {
		if _, err := fmt.Fprintf(c, "%s\r\n", line); err != nil {
			return err
		}
		return expect(code)
	}
	if err := expect("220"); err != nil {
		return err
	}
	for _, s := range [][2]string{{"EHLO " + helo, "250"}, {"MAIL FROM:<" + from + ">", "250"}, {"RCPT TO:<" + rcpt + ">", "250"}, {"DATA", "354"}} {
		if err := cmd(s[0], s[1]); err != nil {
			return err
		}
	}
	if err := cmd(body+".", "250"); err != nil {
		return err
	}
	cmd("QUIT", "221")
	return nil
}
