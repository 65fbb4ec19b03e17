package smtpclient

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"mailward/internal/testkit"
)

var twoRcpts = Envelope{From: "a@b.test", Recipients: []Rcpt{{Addr: "c@d.test"}, {Addr: "e@d.test"}}}

// TestPipelinedSend: MAIL, both RCPTs and DATA arrive before the server
// has answered anything (RFC 2920); replies are matched in order; one
// recipient is refused, the other gets the message.
func TestPipelinedSend(t *testing.T) {
	addr := fakeServer(t, func(s *testkit.SMTPSession) {
		greet(s, "PIPELINING")
		// Read the whole group before replying: a client waiting for
		// the MAIL reply would stall here and fail the test.
		var got []string
		for range 4 {
			got = append(got, s.Line())
		}
		want := []string{"MAIL FROM:<a@b.test>", "RCPT TO:<c@d.test>", "RCPT TO:<e@d.test>", "DATA"}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("pipelined group %q, want %q", got, want)
		}
		s.Send("250 2.1.0 ok", "250 2.1.5 ok", "550 5.1.1 <e@d.test>: user unknown", "354 go ahead")
		if d := s.Data(); d != "Subject: hi\r\n\r\nbody\r\n" {
			t.Errorf("data %q", d)
		}
		s.Send("250 2.0.0 queued as X")
		s.Expect("RSET")
		s.Send("250 2.0.0 ok")
		s.Expect("QUIT")
		s.Send("221 bye")
	})
	c := mustDial(t, addr, opts())
	res, err := c.Send(testCtx(t), twoRcpts, strings.NewReader("Subject: hi\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Mail.Code != 250 || res.Rcpts[0].Code != 250 || res.Rcpts[1].Code != 550 || res.Data.Code != 250 {
		t.Errorf("result %+v", res)
	}
	if r := res.Rcpts[1]; r.Status != "5.1.1" || !r.Permanent() || r.String() != "550 5.1.1 <e@d.test>: user unknown" {
		t.Errorf("refused recipient %q", r)
	}
	if err := c.Reset(testCtx(t)); err != nil {
		t.Error(err)
	}
	c.Quit()
}

// TestInTurnSend: without PIPELINING each command waits for its reply.
func TestInTurnSend(t *testing.T) {
	addr := fakeServer(t, func(s *testkit.SMTPSession) {
		greet(s, "8BITMIME")
		for _, step := range [][2]string{
			{"MAIL FROM:<a@b.test>", "250 ok"},
			{"RCPT TO:<c@d.test>", "451 4.3.0 try later"},
			{"RCPT TO:<e@d.test>", "250 ok"},
			{"DATA", "354 go"},
		} {
			s.Expect(step[0])
			s.Quiet(150 * time.Millisecond)
			s.Send(step[1])
		}
		s.Data()
		s.Send("250 done")
		s.Expect("QUIT")
		s.Send("221 bye")
	})
	c := mustDial(t, addr, opts())
	res, err := c.Send(testCtx(t), twoRcpts, strings.NewReader("x"))
	if err != nil || !res.Rcpts[0].Temporary() || res.Rcpts[1].Code != 250 || res.Data.Code != 250 {
		t.Fatalf("Send = %+v, %v", res, err)
	}
	c.Quit()
}

// TestAllRecipientsRefused: no content is sent; RSET instead, and after
// a pipelined DATA that got 354 anyway, a lone dot first.
func TestAllRecipientsRefused(t *testing.T) {
	cases := []struct {
		name string
		ext  []string
		play func(s *testkit.SMTPSession)
	}{
		{"in-turn", nil, func(s *testkit.SMTPSession) {
			s.Expect("MAIL FROM:<a@b.test>")
			s.Send("250 ok")
			s.Expect("RCPT TO:<c@d.test>")
			s.Send("550 5.1.1 no")
			s.Expect("RCPT TO:<e@d.test>")
			s.Send("550 5.1.1 no")
		}},
		{"pipelined-503", []string{"PIPELINING"}, func(s *testkit.SMTPSession) {
			for range 4 {
				s.Line()
			}
			s.Send("250 ok", "550 5.1.1 no", "550 5.1.1 no", "554 5.5.1 no valid recipients")
		}},
		{"pipelined-354", []string{"PIPELINING"}, func(s *testkit.SMTPSession) {
			for range 4 {
				s.Line()
			}
			s.Send("250 ok", "550 5.1.1 no", "550 5.1.1 no", "354 go ahead anyway")
			s.Expect(".") // RFC 2920 §3.1: an empty message, not the content
			s.Send("554 5.5.1 no recipients")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeServer(t, func(s *testkit.SMTPSession) {
				greet(s, tc.ext...)
				tc.play(s)
				s.Expect("RSET")
				s.Send("250 ok")
				s.Expect("QUIT")
				s.Send("221 bye")
			})
			c := mustDial(t, addr, opts())
			res, err := c.Send(testCtx(t), twoRcpts, strings.NewReader("SECRET CONTENT\r\n"))
			if err != nil || res.Rcpts[0].Code != 550 || res.Rcpts[1].Code != 550 || res.Data.Code != 0 {
				t.Errorf("Send = %+v, %v", res, err)
			}
			c.Quit()
		})
	}
}

// TestMailRefused: every recipient carries MAIL's reply, also when
// pipelined RCPTs got "503 need MAIL".
func TestMailRefused(t *testing.T) {
	for _, ext := range [][]string{nil, {"PIPELINING"}} {
		addr := fakeServer(t, func(s *testkit.SMTPSession) {
			greet(s, ext...)
			if ext == nil {
				s.Expect("MAIL FROM:<a@b.test>")
				s.Send("452 4.3.1 insufficient storage")
			} else {
				for range 4 {
					s.Line()
				}
				s.Send("452 4.3.1 insufficient storage", "503 5.5.1 need MAIL", "503 5.5.1 need MAIL", "503 5.5.1 need MAIL")
				s.Expect("RSET")
				s.Send("250 ok")
			}
			s.Expect("QUIT")
			s.Send("221 bye")
		})
		c := mustDial(t, addr, opts())
		res, err := c.Send(testCtx(t), twoRcpts, strings.NewReader("x\r\n"))
		if err != nil || res.Mail.Code != 452 || res.Rcpts[0].Code != 452 || res.Rcpts[1].Code != 452 || res.Data.Code != 0 {
			t.Errorf("%v: Send = %+v, %v", ext, res, err)
		}
		c.Quit()
	}
}

func TestDataRefused(t *testing.T) {
	addr := fakeServer(t, func(s *testkit.SMTPSession) {
		greet(s, "PIPELINING")
		for range 4 {
			s.Line()
		}
		s.Send("250 ok", "250 ok", "250 ok", "451 4.3.0 not now")
		s.Expect("QUIT")
		s.Send("221 bye")
	})
	c := mustDial(t, addr, opts())
	res, err := c.Send(testCtx(t), twoRcpts, strings.NewReader("x\r\n"))
	if err != nil || res.Data.Code != 451 || !res.Data.Temporary() {
		t.Errorf("Send = %+v, %v", res, err)
	}
	c.Quit()
}

// TestDotStuffing checks the exact bytes on the wire, with the content
// delivered one byte per Read so every chunk boundary is exercised.
func TestDotStuffing(t *testing.T) {
	content := "Subject: dots\r\n\r\n.leading\r\n..two\r\n.\r\nnot the end\nbare lf\r\n.\n\rbare cr\r\nno final newline."
	want := "Subject: dots\r\n\r\n..leading\r\n...two\r\n..\r\nnot the end\r\nbare lf\r\n..\r\n\r\nbare cr\r\nno final newline.\r\n"
	addr := fakeServer(t, func(s *testkit.SMTPSession) {
		greet(s)
		s.Expect("MAIL FROM:<>")
		s.Send("250 ok")
		s.Expect("RCPT TO:<c@d.test>")
		s.Send("250 ok")
		s.Expect("DATA")
		s.Send("354 go")
		if got := s.Data(); got != want {
			t.Errorf("wire content\n got %q\nwant %q", got, want)
		}
		s.Send("250 ok")
		s.Expect("QUIT")
		s.Send("221 bye")
	})
	c := mustDial(t, addr, opts())
	res, err := c.Send(testCtx(t), Envelope{Recipients: []Rcpt{{Addr: "c@d.test"}}}, iotest.OneByteReader(strings.NewReader(content)))
	if err != nil || res.Data.Code != 250 {
		t.Errorf("Send = %+v, %v", res, err)
	}
	c.Quit()
}

// TestStufferSplits feeds the stuffer every two-chunk split of tricky
// input; the output must not depend on where the chunks break.
func TestStufferSplits(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ".\r\n"},
		{".", "..\r\n.\r\n"},
		{"a\r\n.\r\n", "a\r\n..\r\n.\r\n"},
		{"a\r", "a\r\n.\r\n"},
		{"a\r.b\n.", "a\r\n..b\r\n..\r\n.\r\n"},
		{"\r\n\r\n", "\r\n\r\n.\r\n"},
	} {
		for i := 0; i <= len(tc.in); i++ {
			var b strings.Builder
			w := bufio.NewWriter(&b)
			s := stuffer{w: w, bol: true}
			s.write([]byte(tc.in[:i]))
			s.write([]byte(tc.in[i:]))
			s.end()
			w.Flush()
			if b.String() != tc.want {
				t.Errorf("%q split at %d: %q, want %q", tc.in, i, b.String(), tc.want)
			}
		}
	}
}

// TestParameters: SIZE, BODY, SMTPUTF8 and the DSN parameters go out
// only when offered, xtext-encoded where RFC 3461 says so.
func TestParameters(t *testing.T) {
	env := Envelope{
		From:       "a@b.test",
		Recipients: []Rcpt{{Addr: "c@d.test", Notify: "SUCCESS,FAILURE", ORCPT: "rfc822;c+x=y@d.test"}, {Addr: "e@d.test"}},
		Size:       1234, EightBit: true, EnvID: "id+1=x é", Ret: "HDRS",
	}
	t.Run("offered", func(t *testing.T) {
		addr := fakeServer(t, func(s *testkit.SMTPSession) {
			greet(s, "SIZE 100000", "8BITMIME", "SMTPUTF8", "DSN")
			s.Expect("MAIL FROM:<a@b.test> SIZE=1234 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=id+2B1+3Dx+20+C3+A9")
			s.Send("250 ok")
			s.Expect("RCPT TO:<c@d.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c+2Bx+3Dy@d.test")
			s.Send("250 ok")
			s.Expect("RCPT TO:<e@d.test>")
			s.Send("250 ok")
			s.Expect("DATA")
			s.Send("354 go")
			s.Data()
			s.Send("250 ok")
			s.Expect("QUIT")
		})
		c := mustDial(t, addr, opts())
		e := env
		e.SMTPUTF8 = true
		if res, err := c.Send(testCtx(t), e, strings.NewReader("x\r\n")); err != nil || res.Data.Code != 250 {
			t.Errorf("Send = %+v, %v", res, err)
		}
		c.Quit()
	})
	t.Run("not-offered", func(t *testing.T) {
		addr := fakeServer(t, func(s *testkit.SMTPSession) {
			greet(s)
			s.Expect("MAIL FROM:<a@b.test>")
			s.Send("250 ok")
			s.Expect("RCPT TO:<c@d.test>")
			s.Send("250 ok")
			s.Expect("RCPT TO:<e@d.test>")
			s.Send("250 ok")
			s.Expect("DATA")
			s.Send("354 go")
			s.Data()
			s.Send("250 ok")
			// SMTPUTF8 needed but not offered: nothing is sent.
			s.Expect("QUIT")
		})
		c := mustDial(t, addr, opts())
		if res, err := c.Send(testCtx(t), env, strings.NewReader("x\r\n")); err != nil || res.Data.Code != 250 {
			t.Errorf("Send = %+v, %v", res, err)
		}
		e := env
		e.SMTPUTF8 = true
		res, err := c.Send(testCtx(t), e, strings.NewReader("x\r\n"))
		if err != nil || res.Mail.Code != 553 || res.Data.Code != 0 {
			t.Errorf("SMTPUTF8 not offered: %+v, %v", res, err)
		}
		for _, r := range res.Rcpts {
			if r.Code != 553 || r.Status != "5.6.7" {
				t.Errorf("recipient reply %q, want 553 5.6.7", r)
			}
		}
		c.Quit()
	})
	t.Run("size-too-big", func(t *testing.T) {
		addr := fakeServer(t, func(s *testkit.SMTPSession) {
			greet(s, "SIZE 1000")
			s.Expect("QUIT")
		})
		c := mustDial(t, addr, opts())
		res, err := c.Send(testCtx(t), env, strings.NewReader("x\r\n"))
		if err != nil || res.Rcpts[0].Code != 552 || res.Rcpts[0].Status != "5.3.4" {
			t.Errorf("Send = %+v, %v", res, err)
		}
		c.Quit()
	})
}

// TestContentReadError: a message that cannot be read to its end is
// never ended with a dot; the connection is dropped instead.
func TestContentReadError(t *testing.T) {
	addr := fakeServer(t, func(s *testkit.SMTPSession) {
		greet(s)
		s.Expect("MAIL FROM:<>")
		s.Send("250 ok")
		s.Expect("RCPT TO:<c@d.test>")
		s.Send("250 ok")
		s.Expect("DATA")
		s.Send("354 go")
		rest, _ := io.ReadAll(s)
		if strings.Contains(string(rest), "\r\n.\r\n") {
			t.Errorf("partial message was ended with a dot: %q", rest)
		}
	})
	c := mustDial(t, addr, opts())
	broken := io.MultiReader(strings.NewReader("partial\r\n"), iotest.ErrReader(errors.New("disk on fire")))
	_, err := c.Send(testCtx(t), Envelope{Recipients: []Rcpt{{Addr: "c@d.test"}}}, broken)
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("err = %v", err)
	}
	c.Quit()
}
