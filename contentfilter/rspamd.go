// Package contentfilter scans received messages with rspamd over its
// HTTP protocol and turns the verdict into a spam confidence level (SCL,
// docs/filtering.md "Content filtering and the SCL").
package contentfilter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Envelope is what rspamd is told about a message besides its content:
// its protocol takes the SMTP envelope as request headers.
type Envelope struct {
	QueueID  string
	From     string // "" is the null sender <>
	Rcpts    []string
	IP       netip.Addr
	Helo     string
	Hostname string // the client's name; "" when unknown
	User     string // the authenticated user, "" for none
}

// Verdict is rspamd's answer to one scan.
type Verdict struct {
	Score    float64
	Required float64 // the score of rspamd's reject action
	Action   string  // "no action", "greylist", "add header", "rewrite subject", "soft reject", "reject"
	Symbols  []string
}

// Client talks to the normal worker of one rspamd (POST /checkv2).
type Client struct {
	// URL is the worker's base URL, "http://127.0.0.1:11333".
	URL string
	// Timeout bounds a whole scan, connect to verdict.
	Timeout time.Duration
	// HTTP is the client used; nil: http.DefaultClient.
	HTTP *http.Client
}

// NewClient returns a client for the rspamd normal worker at url.
func NewClient(url string, timeout time.Duration) *Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
		ResponseHeaderTimeout: timeout, DisableCompression: true}
	return &Client{URL: strings.TrimSuffix(url, "/"), Timeout: timeout, HTTP: &http.Client{Transport: tr}}
}

// Error is a failed scan: rspamd did not answer in time, refused the
// request or answered something that is not a verdict.
type Error struct {
	Op  string
	Err error
}

func (e *Error) Error() string { return "rspamd " + e.Op + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Timeout reports whether the scan ran out of time.
func (e *Error) Timeout() bool {
	return errors.Is(e.Err, context.DeadlineExceeded) || strings.Contains(e.Err.Error(), "timeout")
}

// Check scans one message and returns rspamd's verdict.
func (c *Client) Check(ctx context.Context, env Envelope, msg []byte) (Verdict, error) {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+"/checkv2", bytes.NewReader(msg))
	if err != nil {
		return Verdict{}, &Error{"request", err}
	}
	h := req.Header
	// rspamd's protocol: the envelope as headers, one Rcpt per
	// recipient; From is empty for the null sender.
	h.Set("From", env.From)
	for _, r := range env.Rcpts {
		h.Add("Rcpt", r)
	}
	if env.IP.IsValid() {
		h.Set("IP", env.IP.String())
	}
	if env.Helo != "" {
		h.Set("Helo", env.Helo)
	}
	if env.Hostname != "" {
		h.Set("Hostname", env.Hostname)
	}
	if env.User != "" {
		h.Set("User", env.User)
	}
	if env.QueueID != "" {
		h.Set("Queue-Id", env.QueueID)
	}
	h.Set("Content-Type", "message/rfc822")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Verdict{}, &Error{"scan", err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Verdict{}, &Error{"scan", err}
	}
	if resp.StatusCode != http.StatusOK {
		return Verdict{}, &Error{"scan", fmt.Errorf("HTTP %s: %s", resp.Status, firstLine(body))}
	}
	return parseVerdict(body)
}

// parseVerdict reads the JSON of /checkv2.
func parseVerdict(body []byte) (Verdict, error) {
	var r struct {
		Score         *float64                   `json:"score"`
		RequiredScore float64                    `json:"required_score"`
		Action        string                     `json:"action"`
		Symbols       map[string]json.RawMessage `json:"symbols"`
		Error         string                     `json:"error"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return Verdict{}, &Error{"answer", fmt.Errorf("not a verdict: %v", err)}
	}
	if r.Error != "" {
		return Verdict{}, &Error{"answer", errors.New(r.Error)}
	}
	if r.Score == nil || r.Action == "" {
		return Verdict{}, &Error{"answer", errors.New("no score or action in the answer")}
	}
	v := Verdict{Score: *r.Score, Required: r.RequiredScore, Action: r.Action}
	for s := range r.Symbols {
		v.Symbols = append(v.Symbols, s)
	}
	sort.Strings(v.Symbols)
	return v, nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.TrimSpace(s)
}
