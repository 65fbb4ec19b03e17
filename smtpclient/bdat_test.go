package smtpclient

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"mailward/internal/testkit"
)

var chunking = append(append([]string(nil), testkit.DefaultExtensions...), "CHUNKING")

// sink is a fake next hop that takes every message, offering ext.
func sink(t *testing.T, ext []string, h testkit.SMTPHandler) *testkit.SMTPServer {
	return testkit.StartSMTP(t, testkit.SMTP{Extensions: ext, Handle: h})
}

// A server offering CHUNKING gets the message in one "BDAT n LAST": the
// octets as they are ("." and ".." lines not doubled), lines made CRLF
// as for DATA, and no DATA command.
func TestSendBDATWhenOffered(t *testing.T) {
	srv := sink(t, chunking, nil)
	c := mustDial(t, srv.Addr, opts())
	content := "Subject: chunk\r\n\r\n.\r\n..two\nbare LF\r\nno end"
	res, err := c.Send(testCtx(t), twoRcpts, strings.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	if !res.BDAT || res.Data.Code != 250 {
		t.Fatalf("result %+v", res)
	}
	want := "Subject: chunk\r\n\r\n.\r\n..two\r\nbare LF\r\nno end\r\n"
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].Data != want || msgs[0].Chunks != 1 || len(msgs[0].RcptLines) != 2 {
		t.Fatalf("the server got %+v, want one message of one chunk %q", msgs, want)
	}
	if n := srv.CountCommands("DATA"); n != 0 {
		t.Errorf("DATA sent %d times", n)
	}
	if cmds := strings.Join(srv.Commands(), "|"); !strings.Contains(cmds, fmt.Sprintf("BDAT %d LAST", len(want))) {
		t.Errorf("commands %s", cmds)
	}
	c.Quit()
}

// Without CHUNKING, or with NoChunking, the message goes with DATA.
func TestSendDATAWithoutChunking(t *testing.T) {
	for name, tc := range map[string]struct {
		ext []string
		o   func(*ClientOptions)
	}{
		"not offered": {testkit.DefaultExtensions, func(*ClientOptions) {}},
		"NoChunking":  {chunking, func(o *ClientOptions) { o.NoChunking = true }},
	} {
		t.Run(name, func(t *testing.T) {
			srv := sink(t, tc.ext, nil)
			o := opts()
			tc.o(&o)
			c := mustDial(t, srv.Addr, o)
			res, err := c.Send(testCtx(t), twoRcpts, strings.NewReader("Subject: d\r\n\r\n.x\r\n"))
			if err != nil || res.BDAT || res.Data.Code != 250 {
				t.Fatalf("result %+v, %v", res, err)
			}
			if m := srv.Messages(); len(m) != 1 || m[0].Chunks != 0 || m[0].Data != "Subject: d\r\n\r\n.x\r\n" || srv.CountCommands("BDAT") != 0 {
				t.Fatalf("the server got %+v", m)
			}
			c.Quit()
		})
	}
}

// A message larger than a chunk goes in several, pipelined when the
// server offers PIPELINING, one at a time when not; it arrives whole.
func TestSendBDATChunks(t *testing.T) {
	var b bytes.Buffer
	for i := 0; b.Len() < 2*chunkSize+1000; i++ {
		fmt.Fprintf(&b, "line %d .\r\n.%d\r\n", i, i)
	}
	for name, ext := range map[string][]string{
		"pipelined": chunking,
		"in turn":   {"8BITMIME", "CHUNKING"},
	} {
		t.Run(name, func(t *testing.T) {
			srv := sink(t, ext, nil)
			c := mustDial(t, srv.Addr, opts())
			res, err := c.Send(testCtx(t), twoRcpts, bytes.NewReader(b.Bytes()))
			if err != nil || !res.BDAT || res.Data.Code != 250 {
				t.Fatalf("result %+v, %v", res, err)
			}
			m := srv.Messages()
			if len(m) != 1 || m[0].Data != b.String() || m[0].Chunks != 3 {
				t.Fatalf("got %d messages; chunks %d, content intact %v", len(m), m[0].Chunks, m[0].Data == b.String())
			}
			c.Quit()
		})
	}
}

// A refused chunk is the message's result. Without PIPELINING no chunk
// follows it (RFC 3030 section 2); with it the chunks already sent are
// answered and read, and the connection stays usable for the next
// message.
func TestSendBDATRefused(t *testing.T) {
	big := strings.Repeat("0123456789abcdef\r\n", 2*chunkSize/18+10)
	refuse := func(s *testkit.SMTPSession, verb, line string) testkit.Reply {
		if verb == "BDAT" && s.N == 1 && !strings.HasSuffix(line, "LAST") {
			return testkit.Reply{Text: "552 5.3.4 Message size exceeds fixed maximum message size"}
		}
		return testkit.Reply{}
	}
	for name, tc := range map[string]struct {
		ext   []string
		chunk int // BDAT commands the server should see
	}{
		"in turn":   {[]string{"CHUNKING"}, 1},
		"pipelined": {chunking, 3},
	} {
		t.Run(name, func(t *testing.T) {
			srv := sink(t, tc.ext, refuse)
			c := mustDial(t, srv.Addr, opts())
			res, err := c.Send(testCtx(t), twoRcpts, strings.NewReader(big))
			if err != nil || res.Data.Code != 552 || res.Data.Status != "5.3.4" {
				t.Fatalf("result %+v, %v", res, err)
			}
			if n := srv.CountCommands("BDAT"); n != tc.chunk {
				t.Errorf("server saw %d BDAT, want %d", n, tc.chunk)
			}
			if err := c.Reset(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			res, err = c.Send(testCtx(t), twoRcpts, strings.NewReader("Subject: next\r\n\r\nx\r\n"))
			if err != nil || res.Data.Code != 250 || len(srv.Messages()) != 1 {
				t.Fatalf("next message: %+v, %v, %d messages", res, err, len(srv.Messages()))
			}
			c.Quit()
		})
	}
}

// No recipient accepted: no chunk is sent at all (they would be read and
// dropped), only RSET.
func TestSendBDATNoRecipients(t *testing.T) {
	srv := sink(t, chunking, func(s *testkit.SMTPSession, verb, line string) testkit.Reply {
		if verb == "RCPT" {
			return testkit.Reply{Text: "550 5.1.1 unknown"}
		}
		return testkit.Reply{}
	})
	c := mustDial(t, srv.Addr, opts())
	res, err := c.Send(testCtx(t), twoRcpts, strings.NewReader("x\r\n"))
	if err != nil || res.Rcpts[0].Code != 550 || !res.Data.IsZero() {
		t.Fatalf("result %+v, %v", res, err)
	}
	if srv.CountCommands("BDAT") != 0 || srv.CountCommands("RSET") != 1 {
		t.Fatalf("commands %q", srv.Commands())
	}
	c.Quit()
}

// Organization mail: XEXCH50's blob, then the content in BDAT.
func TestSendBDATAfterXEXCH50(t *testing.T) {
	srv := sink(t, append([]string{"XEXCH50"}, chunking...), func(s *testkit.SMTPSession, verb, line string) testkit.Reply {
		if verb == "XEXCH50" {
			return s.XEXCH50(line)
		}
		return testkit.Reply{}
	})
	c := mustDial(t, srv.Addr, opts())
	env := twoRcpts
	env.XEXCH50 = []byte("props")
	res, err := c.Send(testCtx(t), env, strings.NewReader("Subject: org\r\n\r\nx\r\n"))
	if err != nil || res.XEXCH50.Code != 250 || !res.BDAT || res.Data.Code != 250 {
		t.Fatalf("result %+v, %v", res, err)
	}
	cmds := srv.Commands()
	if len(srv.Blobs()) != 1 || len(srv.Messages()) != 1 || srv.Messages()[0].Chunks != 1 {
		t.Fatalf("blobs %d, messages %+v", len(srv.Blobs()), srv.Messages())
	}
	if i, j := index(cmds, "XEXCH50"), index(cmds, "BDAT"); i < 0 || j < i {
		t.Fatalf("commands %q", cmds)
	}
	c.Quit()
}

// A content read error closes the connection before LAST: no partial
// message is ever delivered.
func TestSendBDATContentReadError(t *testing.T) {
	srv := sink(t, chunking, nil)
	c := mustDial(t, srv.Addr, opts())
	r := io.MultiReader(strings.NewReader(strings.Repeat("x\r\n", chunkSize/2)), errReader{})
	if _, err := c.Send(testCtx(t), twoRcpts, r); err == nil {
		t.Fatal("Send succeeded on unreadable content")
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages delivered", n)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func index(cmds []string, verb string) int {
	for i, c := range cmds {
		if strings.HasPrefix(c, verb) {
			return i
		}
	}
	return -1
}
