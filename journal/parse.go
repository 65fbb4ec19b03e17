package journal

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"strings"
)

// Line is one recipient line of a report's envelope part.
type Line struct {
	Field     string // "To", "Cc" or "Bcc"
	Addr      string
	Expanded  []string
	Forwarded []string
}

// Parsed is a journal report read back.
type Parsed struct {
	From, To, Subject string // the report's own header
	Sender            string // the envelope's, "<>" for the null sender
	EnvelopeSubject   string
	MessageID         string // the original's Message-Id
	Recipients        []Line
	Original          []byte
}

// ErrNotReport is a message without the journal report marker.
var ErrNotReport = errors.New("journal: not a journal report")

// Parse reads a journal report (as Build writes it, or as it arrives in
// the journal mailbox).
func Parse(msg []byte) (*Parsed, error) {
	h := headerOf(msg)
	if !strings.EqualFold(h.get(MarkerHeader), "envelope") {
		return nil, ErrNotReport
	}
	mt, params, err := mime.ParseMediaType(h.get("Content-Type"))
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		return nil, fmt.Errorf("journal: report is not multipart/mixed with a boundary")
	}
	start := bytes.Index(msg, []byte("\r\n\r\n"))
	if start < 0 {
		return nil, fmt.Errorf("journal: report without a body")
	}
	p := &Parsed{From: h.get("From"), To: h.get("To"), Subject: h.get("Subject")}
	mr := multipart.NewReader(bytes.NewReader(msg[start+4:]), params["boundary"])
	for n := 0; n < 2; n++ {
		part, err := mr.NextRawPart()
		if err != nil {
			return nil, fmt.Errorf("journal: report part %d: %w", n+1, err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			return nil, fmt.Errorf("journal: report part %d: %w", n+1, err)
		}
		if n == 1 {
			if ct := part.Header.Get("Content-Type"); !strings.HasPrefix(ct, "message/rfc822") {
				return nil, fmt.Errorf("journal: second part is %q, want message/rfc822", ct)
			}
			// The CRLF before the closing delimiter belongs to it (RFC
			// 2046 §5.1.1); the original, as queued, ends with it.
			p.Original = append(body, '\r', '\n')
			break
		}
		if err := p.envelope(body); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *Parsed) envelope(body []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			return fmt.Errorf("journal: envelope line %q", line)
		}
		switch k {
		case "Sender":
			p.Sender = v
		case "Subject":
			p.EnvelopeSubject = v
		case "Message-Id":
			p.MessageID = v
		case "To", "Cc", "Bcc":
			l := Line{Field: k}
			for i, f := range strings.Split(v, ", ") {
				switch name, val, _ := strings.Cut(f, ": "); {
				case i == 0:
					l.Addr = f
				case name == "Expanded":
					l.Expanded = append(l.Expanded, val)
				case name == "Forwarded":
					l.Forwarded = append(l.Forwarded, val)
				}
			}
			p.Recipients = append(p.Recipients, l)
		}
	}
	return sc.Err()
}
