package smtpclient

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"mailward/internal/testkit"
)

// lockedBuffer collects a subprocess's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startSmtpSink runs Postfix's smtp-sink on a free loopback port and
// returns its address and its verbose transcript.
func startSmtpSink(t *testing.T) (string, *lockedBuffer) {
	t.Helper()
	bin := testkit.RequireProgram(t, "postfix", "smtp-sink")
	addr := "127.0.0.1:" + strconv.Itoa(testkit.FreePort(t))

	args := []string{"-v", "-c"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "nobody") // smtp-sink refuses to run as root
	}
	args = append(args, addr, "64")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := exec.CommandContext(ctx, bin, args...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start smtp-sink: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		cancel()
	})
	var dialErr error
	if !testkit.Poll(5*time.Second, 100*time.Millisecond, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			dialErr = err
			return false
		}
		c.Close()
		return true
	}) {
		t.Fatalf("smtp-sink did not listen on %s within 5s: %v\n%s", addr, dialErr, out)
	}
	return addr, out
}

// TestSmtpSink sends three messages over one connection to a real
// Postfix peer, with RSET between them.
func TestSmtpSink(t *testing.T) {
	addr, out := startSmtpSink(t)
	o := opts()
	o.TLS = TLSOpportunistic // smtp-sink offers no STARTTLS: goes on in clear
	c := mustDial(t, addr, o)
	for _, k := range []string{"PIPELINING", "8BITMIME", "DSN", "ENHANCEDSTATUSCODES"} {
		if _, ok := c.Extensions()[k]; !ok {
			t.Errorf("smtp-sink did not announce %s: %v", k, c.Extensions())
		}
	}
	for i := 1; i <= 3; i++ {
		if i > 1 {
			if err := c.Reset(testCtx(t)); err != nil {
				t.Fatalf("Reset before message %d: %v", i, err)
			}
		}
		env := Envelope{
			From:       "sender@client.test",
			Recipients: []Rcpt{{Addr: "one@example.test", Notify: "FAILURE", ORCPT: "rfc822;one@example.test"}, {Addr: "two@example.test"}},
			EightBit:   true, EnvID: fmt.Sprintf("msg+%d", i), Ret: "HDRS",
		}
		body := fmt.Sprintf("Subject: message %d\r\n\r\n.dotted line\r\nbody\r\n", i)
		res, err := c.Send(testCtx(t), env, strings.NewReader(body))
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if res.Mail.Code != 250 || res.Rcpts[0].Code != 250 || res.Rcpts[1].Code != 250 || res.Data.Code != 250 || res.Data.Status != "2.0.0" {
			t.Errorf("message %d: %+v", i, res)
		}
	}
	c.Quit()
	testkit.Eventually(5*time.Second, func() bool { return strings.Contains(out.String(), "quit=1 mesg=3") })
	transcript := out.String()
	if !strings.Contains(transcript, "quit=1 mesg=3") {
		t.Errorf("smtp-sink did not count 3 messages and a QUIT:\n%s", transcript)
	}
	if n := strings.Count(transcript, "smtp-sink: RSET"); n != 2 {
		t.Errorf("smtp-sink saw %d RSETs, want 2", n)
	}
	if !strings.Contains(transcript, "ENVID=msg+2B2") || !strings.Contains(transcript, "BODY=8BITMIME") {
		t.Errorf("MAIL parameters missing from the transcript:\n%s", transcript)
	}
}
