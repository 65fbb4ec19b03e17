package e2e

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
)

// startXEXCH50Filter is a TCP relay to target that, like a firewall
// inspecting SMTP (KB843106's blocked verb), overwrites every XEXCH50
// command with X's, so the server answers 500 and the properties never
// arrive; everything else passes unchanged. It sees commands only where
// the session is not encrypted. It returns the address to connect to and
// stops when the test ends.
func startXEXCH50Filter(t *testing.T, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	track := func(c net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		if conns == nil {
			return false // closed
		}
		conns = append(conns, c)
		return true
	}
	conns = []net.Conn{}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		conns = nil
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil || !track(down) || !track(up) {
				down.Close()
				if up != nil {
					up.Close()
				}
				continue
			}
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(down, up); down.Close() }()
			go func() {
				defer wg.Done()
				defer up.Close()
				br := bufio.NewReader(down)
				for {
					line, err := br.ReadString('\n')
					if strings.HasPrefix(strings.ToUpper(line), "XEXCH50 ") {
						line = strings.Repeat("X", len(strings.TrimRight(line, "\r\n"))) + "\r\n"
					}
					if _, werr := io.WriteString(up, line); werr != nil || err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}
