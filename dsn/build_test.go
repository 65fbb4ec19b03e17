package dsn

import (
	"bytes"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestTopLevelHeaders(t *testing.T) {
	p := parse(t, build(t, sample()))
	h := p.msg.Header
	want := map[string]string{
		"From":           "Mail Delivery System <postmaster@example.test>",
		"To":             "bob@example.org",
		"Subject":        "Undelivered Mail Returned to Sender",
		"Mime-Version":   "1.0",
		"Auto-Submitted": "auto-replied",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if d, err := h.Date(); err != nil || !d.Equal(when) {
		t.Errorf("Date = %v, %v; want %v", d, err, when)
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "postmaster@example.test" {
		t.Errorf("From does not parse as postmaster@example.test: %v %v", from, err)
	}
	if !regexp.MustCompile(`^<[A-Z2-7]{16,}@mail\.example\.test>$`).MatchString(h.Get("Message-ID")) {
		t.Errorf("Message-ID = %q", h.Get("Message-ID"))
	}
	if p.params["report-type"] != "delivery-status" {
		t.Errorf("report-type = %q", p.params["report-type"])
	}
	if p.params["boundary"] == "" {
		t.Error("no boundary")
	}
}

func TestDefaults(t *testing.T) {
	r := sample()
	r.From = ""
	r.Date = time.Time{}
	before := time.Now().Add(-time.Second)
	p := parse(t, build(t, r))
	if got := p.msg.Header.Get("From"); got != "Mail Delivery System <postmaster@mail.example.test>" {
		t.Errorf("default From = %q", got)
	}
	if d, err := p.msg.Header.Date(); err != nil || d.Before(before) || d.After(time.Now().Add(time.Second)) {
		t.Errorf("zero Date gave %v, %v; want now", d, err)
	}
}

func TestMessageID(t *testing.T) {
	r := sample()
	a := parse(t, build(t, r)).msg.Header.Get("Message-ID")
	b := parse(t, build(t, r)).msg.Header.Get("Message-ID")
	if a == b {
		t.Errorf("two notices share Message-ID %s", a)
	}
	r.MessageIDDomain = "ids.example.test"
	if id := parse(t, build(t, r)).msg.Header.Get("Message-ID"); !strings.HasSuffix(id, "@ids.example.test>") {
		t.Errorf("Message-ID %q does not use MessageIDDomain", id)
	}
	r.MessageIDDomain = "bad domain\r\n>x"
	id := parse(t, build(t, r)).msg.Header.Get("Message-ID")
	if !regexp.MustCompile(`^<[A-Z2-7]+@[A-Za-z0-9.-]+>$`).MatchString(id) {
		t.Errorf("Message-ID %q is not a valid msg-id", id)
	}
}

func TestParts(t *testing.T) {
	for _, full := range []bool{false, true} {
		r := sample()
		r.FullMessage = full
		p := parse(t, build(t, r))
		third := "text/rfc822-headers"
		if full {
			third = "message/rfc822"
		}
		want := []string{"text/plain; charset=us-ascii", "message/delivery-status", third}
		if len(p.parts) != len(want) {
			t.Fatalf("full=%v: %d parts, want %d", full, len(p.parts), len(want))
		}
		for i, w := range want {
			if got := p.parts[i].header.Get("Content-Type"); got != w {
				t.Errorf("full=%v: part %d Content-Type = %q, want %q", full, i+1, got, w)
			}
		}
	}
}

func TestHeadersOnly(t *testing.T) {
	p := parse(t, build(t, sample()))
	got := string(p.parts[2].body)
	if got != origHeader {
		t.Errorf("text/rfc822-headers = %q, want %q", got, origHeader)
	}
	if strings.Contains(got, "secret body") {
		t.Error("text/rfc822-headers contains the original body")
	}
	if strings.Contains(string(build(t, sample())), "secret body") {
		t.Error("the notice contains the original body without FullMessage")
	}
}

func TestFullMessage(t *testing.T) {
	r := sample()
	r.FullMessage = true
	p := parse(t, build(t, r))
	if got := string(p.parts[2].body); got != original {
		t.Errorf("message/rfc822 = %q, want %q", got, original)
	}
	inner, err := mail.ReadMessage(bytes.NewReader(p.parts[2].body))
	if err != nil {
		t.Fatalf("attached message does not parse: %v", err)
	}
	if inner.Header.Get("Subject") != "hello" {
		t.Errorf("attached Subject = %q", inner.Header.Get("Subject"))
	}
}

func TestNoOriginal(t *testing.T) {
	for _, full := range []bool{false, true} {
		r := sample()
		r.Original = nil
		r.FullMessage = full
		p := parse(t, build(t, r))
		if len(p.parts) != 2 {
			t.Errorf("full=%v, no original: %d parts, want 2", full, len(p.parts))
		}
	}
}

func TestOriginalWithoutBody(t *testing.T) {
	r := sample()
	r.Original = []byte(origHeader) // no empty line, no body
	p := parse(t, build(t, r))
	if len(p.parts) != 3 || string(p.parts[2].body) != origHeader {
		t.Errorf("headers of a body-less original: %q", p.parts[len(p.parts)-1].body)
	}
}

func TestDeliveryStatusFields(t *testing.T) {
	r := sample()
	r.Recipients = append(r.Recipients, Recipient{
		Final:          "carol@example.test",
		Action:         "delayed",
		Status:         "4.4.1",
		Diagnostic:     "421 4.4.1 connection timed out",
		WillRetryUntil: when.Add(96 * time.Hour),
	})
	p := parse(t, build(t, r))
	g := statusGroups(t, p.parts[1].body)
	if len(g) != 3 {
		t.Fatalf("%d groups, want 3 (per-message + 2 recipients)", len(g))
	}
	checkFields(t, "per-message", g[0], map[string]string{
		"Reporting-MTA":        "dns; mail.example.test",
		"X-Mailward-Queue-Id":  "4XyZ12",
		"Original-Envelope-Id": "env-42",
		"Arrival-Date":         "Fri, 01 Mar 2024 09:00:00 +0000",
	})
	checkFields(t, "recipient 1", g[1], map[string]string{
		"Original-Recipient": "rfc822;Alice@Example.test",
		"Final-Recipient":    "rfc822;alice@example.test",
		"Action":             "failed",
		"Status":             "5.1.1",
		"Remote-Mta":         "dns; mx2.example.net",
		"Diagnostic-Code":    "smtp; 550 5.1.1 alice@example.test... User unknown",
		"Last-Attempt-Date":  "Fri, 01 Mar 2024 09:59:00 +0000",
	})
	checkFields(t, "recipient 2", g[2], map[string]string{
		"Final-Recipient":  "rfc822;carol@example.test",
		"Action":           "delayed",
		"Status":           "4.4.1",
		"Diagnostic-Code":  "smtp; 421 4.4.1 connection timed out",
		"Will-Retry-Until": "Tue, 05 Mar 2024 10:00:00 +0000",
	})
	// RFC 3464 §2.2 and §2.3 fix the order of the fields.
	body := string(p.parts[1].body)
	order := []string{"Original-Envelope-Id:", "Reporting-MTA:", "Arrival-Date:", "X-Mailward-Queue-ID:",
		"Original-Recipient:", "Final-Recipient:", "Action:", "Status:", "Remote-MTA:", "Diagnostic-Code:", "Last-Attempt-Date:"}
	last := -1
	for _, f := range order {
		i := strings.Index(body, "\r\n"+f)
		if strings.HasPrefix(body, f) {
			i = 0
		}
		if i <= last {
			t.Errorf("%s is out of RFC 3464 order:\n%s", f, body)
		}
		last = i
	}
}

// checkFields compares a group of fields with want exactly: no field
// missing, none extra.
func checkFields(t *testing.T, what string, h map[string][]string, want map[string]string) {
	t.Helper()
	canon := map[string]string{}
	for k, v := range want {
		canon[textproto.CanonicalMIMEHeaderKey(k)] = v
	}
	want = canon
	for k, v := range want {
		if got := h[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
	for k := range h {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected field %s: %q", what, k, h[k])
		}
	}
}

func TestOptionalFieldsOmitted(t *testing.T) {
	r := Report{
		ReportingMTA: "mail.example.test",
		To:           "bob@example.org",
		Recipients:   []Recipient{{Final: "alice@example.test", Action: "delivered", Status: "2.0.0", WillRetryUntil: when}},
	}
	p := parse(t, build(t, r))
	g := statusGroups(t, p.parts[1].body)
	if len(g) != 2 {
		t.Fatalf("%d groups, want 2", len(g))
	}
	checkFields(t, "per-message", g[0], map[string]string{"Reporting-MTA": "dns; mail.example.test"})
	// Will-Retry-Until is only for "delayed" (RFC 3464 §2.3.9).
	checkFields(t, "recipient", g[1], map[string]string{
		"Final-Recipient": "rfc822;alice@example.test",
		"Action":          "delivered",
		"Status":          "2.0.0",
	})
}

func TestOriginalRecipientWithoutType(t *testing.T) {
	r := sample()
	r.Recipients[0].Original = "Alice@Example.test"
	g := statusGroups(t, parse(t, build(t, r)).parts[1].body)
	if got := g[1].Get("Original-Recipient"); got != "rfc822;Alice@Example.test" {
		t.Errorf("Original-Recipient = %q", got)
	}
}

func TestSubject(t *testing.T) {
	rcpt := func(action, status string) Recipient {
		return Recipient{Final: action + "@example.test", Action: action, Status: status}
	}
	tests := []struct {
		name  string
		rcpts []Recipient
		want  string
	}{
		{"failed", []Recipient{rcpt("failed", "5.1.1")}, "Undelivered Mail Returned to Sender"},
		{"failed and delayed", []Recipient{rcpt("delayed", "4.4.1"), rcpt("failed", "5.1.1")}, "Undelivered Mail Returned to Sender"},
		{"failed and delivered", []Recipient{rcpt("delivered", "2.0.0"), rcpt("failed", "5.7.1")}, "Undelivered Mail Returned to Sender"},
		{"delayed", []Recipient{rcpt("delayed", "4.4.1"), rcpt("delayed", "4.2.2")}, "Delayed Mail (still being retried)"},
		{"delivered", []Recipient{rcpt("delivered", "2.0.0")}, "Successful Mail Delivery Report"},
		{"relayed and expanded", []Recipient{rcpt("relayed", "2.0.0"), rcpt("expanded", "2.0.0")}, "Successful Mail Delivery Report"},
	}
	for _, tt := range tests {
		r := sample()
		r.Recipients = tt.rcpts
		if got := parse(t, build(t, r)).msg.Header.Get("Subject"); got != tt.want {
			t.Errorf("%s: Subject = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestHumanReadable(t *testing.T) {
	r := sample()
	r.Recipients = append(r.Recipients, Recipient{
		Final: "carol@example.test", Action: "delayed", Status: "4.4.1",
		Diagnostic: "421 4.4.1 try again later", WillRetryUntil: when.Add(96 * time.Hour),
	})
	text := string(parse(t, build(t, r)).parts[0].body)
	// Wrapping may put a line break in any space; compare unwrapped.
	flat := strings.Join(strings.Fields(text), " ")
	for _, want := range []string{
		"mail system at host mail.example.test",
		"postmaster",
		"<alice@example.test>",
		"delivery failed",
		"550 5.1.1 alice@example.test... User unknown",
		"mx2.example.net",
		"<carol@example.test>",
		"delivery delayed",
		"421 4.4.1 try again later",
		"retried until Tue, 05 Mar 2024 10:00:00 +0000",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("text part lacks %q:\n%s", want, text)
		}
	}
	for i := 0; i < len(text); i++ {
		if text[i] > 127 {
			t.Fatalf("text part is not ASCII at %d", i)
		}
	}
}

func TestLineEndings(t *testing.T) {
	r := sample()
	r.FullMessage = true
	// A bare LF and a bare CR in the original, and a long reply.
	r.Original = []byte("Subject: x\nX-A: y\r\rbody\nline\r\n")
	r.Recipients[0].Diagnostic = strings.Repeat("word ", 400) + strings.Repeat("x", 3000)
	out := build(t, r)
	if e := lineEndingError(out); e != "" {
		t.Fatal(e)
	}
	p := parse(t, out)
	if got := string(p.parts[2].body); got != "Subject: x\r\nX-A: y\r\n\r\nbody\r\nline\r\n" {
		t.Errorf("normalised original = %q", got)
	}
	r.FullMessage = false
	if got := string(parse(t, build(t, r)).parts[2].body); got != "Subject: x\r\nX-A: y\r\n" {
		t.Errorf("headers of normalised original = %q", got)
	}
}

func TestLongDiagnosticFolded(t *testing.T) {
	r := sample()
	long := strings.TrimSpace(strings.Repeat("550 5.1.1 long reply ", 60))
	r.Recipients[0].Diagnostic = long
	out := build(t, r)
	if e := lineEndingError(out); e != "" {
		t.Fatal(e)
	}
	g := statusGroups(t, parse(t, out).parts[1].body)
	if got := g[1].Get("Diagnostic-Code"); got != "smtp; "+long {
		t.Errorf("unfolded Diagnostic-Code = %q", got)
	}
	for _, l := range strings.Split(string(out), "\r\n") {
		if len(l) > 78 {
			t.Errorf("line of %d characters: %q", len(l), l)
		}
	}
}

func TestInjection(t *testing.T) {
	r := sample()
	r.Recipients[0].Diagnostic = "550 no\r\nInjected: yes\r\n\r\nInjected-Body\n--boundary\rX-Bare-CR: 1"
	r.Recipients[0].RemoteMTA = "mx.example.net\r\nX-Remote: 1"
	r.Recipients[0].Final = "alice@example.test\nX-Final: 1"
	r.To = "bob@example.org\r\nBcc: victim@example.net"
	r.From = "postmaster@example.test>\r\nX-From: 1"
	r.QueueID = "Q1\r\nX-Queue: 1"
	r.EnvID = "E1\nX-Env: 1"
	r.ReportingMTA = "mail.example.test\r\nX-Reporting: 1"
	out := build(t, r)
	if e := lineEndingError(out); e != "" {
		t.Fatal(e)
	}
	p := parse(t, out)
	for k := range p.msg.Header {
		if strings.HasPrefix(k, "X-") || k == "Bcc" || k == "Injected" {
			t.Errorf("injected top-level header %s", k)
		}
	}
	if len(p.parts) != 3 {
		t.Fatalf("%d parts, want 3", len(p.parts))
	}
	g := statusGroups(t, p.parts[1].body)
	if len(g) != 2 {
		t.Fatalf("%d delivery-status groups, want 2:\n%s", len(g), p.parts[1].body)
	}
	for i, h := range g {
		for k := range h {
			if k == "Injected" || k == "X-Bare-Cr" || k == "X-Remote" || k == "X-Final" || k == "X-Queue" || k == "X-Env" || k == "X-Reporting" {
				t.Errorf("group %d: injected field %s", i, k)
			}
		}
	}
	if got, want := g[1].Get("Diagnostic-Code"), "smtp; 550 no Injected: yes Injected-Body --boundary X-Bare-CR: 1"; got != want {
		t.Errorf("Diagnostic-Code = %q, want %q", got, want)
	}
	if got := p.msg.Header.Get("From"); got != "Mail Delivery System <postmaster@example.test X-From: 1>" {
		t.Errorf("From = %q", got)
	}
}

func TestNonASCIIDiagnostic(t *testing.T) {
	r := sample()
	r.Recipients[0].Diagnostic = "550 5.1.1 Benutzer unbekannt: jürgen\x00\x1b \xff\xfe"
	out := build(t, r)
	for i, c := range out {
		if c > 127 || c == 0 || c == 0x1b {
			t.Fatalf("byte %#x at %d in the notice", c, i)
		}
	}
	g := statusGroups(t, parse(t, out).parts[1].body)
	if got, want := g[1].Get("Diagnostic-Code"), "smtp; 550 5.1.1 Benutzer unbekannt: j?rgen?? ??"; got != want {
		t.Errorf("Diagnostic-Code = %q, want %q", got, want)
	}
}

func TestEightBitOriginal(t *testing.T) {
	r := sample()
	r.FullMessage = true
	r.Original = []byte("Subject: =?utf-8?q?x?=\r\n\r\nGrüße\r\n")
	out := build(t, r)
	p := parse(t, out)
	if got := p.msg.Header.Get("Content-Transfer-Encoding"); got != "8bit" {
		t.Errorf("top-level Content-Transfer-Encoding = %q, want 8bit", got)
	}
	if got := p.parts[2].header.Get("Content-Transfer-Encoding"); got != "8bit" {
		t.Errorf("part 3 Content-Transfer-Encoding = %q, want 8bit", got)
	}
	// Headers only: the 8-bit body is not returned, so 7bit it stays.
	r.FullMessage = false
	p = parse(t, build(t, r))
	if got := p.msg.Header.Get("Content-Transfer-Encoding"); got != "" {
		t.Errorf("headers-only top-level Content-Transfer-Encoding = %q", got)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Report)
		want   string
	}{
		{"no recipients", func(r *Report) { r.Recipients = nil }, "no recipients"},
		{"no ReportingMTA", func(r *Report) { r.ReportingMTA = "" }, "ReportingMTA"},
		{"blank ReportingMTA", func(r *Report) { r.ReportingMTA = " \r\n " }, "ReportingMTA"},
		{"no To", func(r *Report) { r.To = "" }, "To"},
		{"no Final", func(r *Report) { r.Recipients[0].Final = "" }, "Final"},
		{"empty action", func(r *Report) { r.Recipients[0].Action = "" }, "Action"},
		{"unknown action", func(r *Report) { r.Recipients[0].Action = "bounced" }, "Action"},
		{"empty status", func(r *Report) { r.Recipients[0].Status = "" }, "Status"},
		{"class 3", func(r *Report) { r.Recipients[0].Status = "3.1.1" }, "Status"},
		{"two parts", func(r *Report) { r.Recipients[0].Status = "5.1" }, "Status"},
		{"four parts", func(r *Report) { r.Recipients[0].Status = "5.1.1.1" }, "Status"},
		{"long subject", func(r *Report) { r.Recipients[0].Status = "5.1000.1" }, "Status"},
		{"letters", func(r *Report) { r.Recipients[0].Status = "5.x.1" }, "Status"},
		{"basic code", func(r *Report) { r.Recipients[0].Status = "550" }, "Status"},
		{"second bad", func(r *Report) {
			r.Recipients = append(r.Recipients, Recipient{Final: "b@example.test", Action: "failed", Status: "5.1.1x"})
		}, "recipient 2"},
	}
	for _, tt := range tests {
		r := sample()
		tt.modify(&r)
		out, err := Build(r)
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		if out != nil {
			t.Errorf("%s: output with the error", tt.name)
		}
		if !strings.HasPrefix(err.Error(), "dsn: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %q, want it to start with \"dsn: \" and mention %q", tt.name, err, tt.want)
		}
	}
}

func TestValidEdgeCases(t *testing.T) {
	for _, st := range []string{"2.0.0", "4.999.999", "5.7.26"} {
		r := sample()
		r.Recipients[0].Status = st
		if _, err := Build(r); err != nil {
			t.Errorf("Status %q: %v", st, err)
		}
	}
	r := sample()
	r.Recipients[0].Action = "Failed"
	g := statusGroups(t, parse(t, build(t, r)).parts[1].body)
	if got := g[1].Get("Action"); got != "failed" {
		t.Errorf("Action %q written as %q, want lower case", "Failed", got)
	}
}
