package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Client speaks to a running server's admin socket.
type Client struct {
	socket string
	hc     *http.Client
}

// NotRunningError: nothing answers on the admin socket.
type NotRunningError struct {
	Socket string
	Err    error
}

func (e *NotRunningError) Error() string {
	return fmt.Sprintf("mailward is not running (cannot connect to %s): %v", e.Socket, e.Err)
}

func (e *NotRunningError) Unwrap() error { return e.Err }

// AccessError: the admin socket is there but this user may not use it
// (only root and the user the server runs as may).
type AccessError struct {
	Socket string
	Err    error
}

func (e *AccessError) Error() string {
	return fmt.Sprintf("cannot use the admin socket %s: %v: only root and the user mailward runs as may use it", e.Socket, e.Err)
}

func (e *AccessError) Unwrap() error { return e.Err }

// Error is an error answer from the server.
type Error struct {
	Code    int // HTTP status: 400 bad request, 404 not found, 409 in flight
	Message string
}

func (e *Error) Error() string { return e.Message }

// IsNotFound reports whether err is the server's "no such queue/message".
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == http.StatusNotFound
}

// IsInFlight reports whether err is "the message is being delivered
// right now" (try again in a moment).
func IsInFlight(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == http.StatusConflict
}

// Dial returns a client for the admin socket at socketPath. It connects
// on each request, so it can be made before the server runs.
func Dial(socketPath string) *Client {
	d := net.Dialer{Timeout: 3 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := d.DialContext(ctx, "unix", socketPath)
			if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
				return nil, &AccessError{Socket: socketPath, Err: err}
			}
			if err != nil {
				return nil, &NotRunningError{Socket: socketPath, Err: err}
			}
			return c, nil
		},
		MaxIdleConns:          1,
		IdleConnTimeout:       10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		DisableCompression:    true,
	}
	return &Client{socket: socketPath, hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// Socket is the path the client connects to.
func (c *Client) Socket() string { return c.socket }

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Summary returns the whole queue at a glance, summed up by the server.
func (c *Client) Summary(ctx context.Context) (*Overview, error) {
	var out Overview
	if err := c.do(ctx, http.MethodGet, "/summary", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Queues lists the delivery queues.
func (c *Client) Queues(ctx context.Context) ([]Queue, error) {
	var out []Queue
	return out, c.do(ctx, http.MethodGet, "/queues", &out)
}

// Queue returns one queue with its first DefaultPage messages.
func (c *Client) Queue(ctx context.Context, name string) (*QueueDetail, error) {
	return c.QueuePage(ctx, name, "", 0)
}

// QueuePage returns one queue with up to limit of its messages (0: the
// server's default) whose IDs sort after after ("": from the oldest).
func (c *Client) QueuePage(ctx context.Context, name, after string, limit int) (*QueueDetail, error) {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	p := "/queues/" + url.PathEscape(name)
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var out QueueDetail
	if err := c.do(ctx, http.MethodGet, p, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Retry makes the queue's messages ready for an attempt now.
func (c *Client) Retry(ctx context.Context, name string) (*Result, error) {
	return c.action(ctx, "/queues/"+url.PathEscape(name)+"/retry")
}

// Suspend holds deliveries through the queue.
func (c *Client) Suspend(ctx context.Context, name string) (*Result, error) {
	return c.action(ctx, "/queues/"+url.PathEscape(name)+"/suspend")
}

// Resume restarts deliveries through the queue and retries its messages.
func (c *Client) Resume(ctx context.Context, name string) (*Result, error) {
	return c.action(ctx, "/queues/"+url.PathEscape(name)+"/resume")
}

// Messages returns every queued message.
func (c *Client) Messages(ctx context.Context) ([]MessageView, error) {
	var out []MessageView
	return out, c.do(ctx, http.MethodGet, "/messages", &out)
}

// Message returns one queued message with all its recipients.
func (c *Client) Message(ctx context.Context, id string) (*MessageView, error) {
	var out MessageView
	if err := c.do(ctx, http.MethodGet, "/messages/"+url.PathEscape(id), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete removes a message; with ndr its sender gets a non-delivery
// report for its pending recipients.
func (c *Client) Delete(ctx context.Context, id string, ndr bool) (*Result, error) {
	p := "/messages/" + url.PathEscape(id) + "/delete?ndr=0"
	if ndr {
		p = "/messages/" + url.PathEscape(id) + "/delete?ndr=1"
	}
	return c.action(ctx, p)
}

func (c *Client) action(ctx context.Context, path string) (*Result, error) {
	var out Result
	if err := c.do(ctx, http.MethodPost, path, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// socketOwner is the uid that owns the socket file.
func socketOwner(path string) (uint32, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Uid, true
}

func (c *Client) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://mailward"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var nr *NotRunningError
		if errors.As(err, &nr) {
			return nr
		}
		var ae *AccessError
		if errors.As(err, &ae) {
			return ae
		}
		if owner, ok := socketOwner(c.socket); ok && !permitted(uint32(os.Getuid()), owner) {
			// The server hung up at once: its peer credential check.
			return &AccessError{Socket: c.socket, Err: fmt.Errorf("refused for uid %d (the socket belongs to uid %d)", os.Getuid(), owner)}
		}
		return fmt.Errorf("admin socket %s: %w", c.socket, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("admin socket %s: %w", c.socket, err)
	}
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
			msg = eb.Error
		}
		if msg == "" {
			msg = resp.Status
		}
		return &Error{Code: resp.StatusCode, Message: msg}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("admin socket %s: bad answer: %w", c.socket, err)
	}
	return nil
}

// Freeze holds a message until it is unfrozen.
func (c *Client) Freeze(ctx context.Context, id string) (*Result, error) {
	return c.action(ctx, "/messages/"+url.PathEscape(id)+"/freeze")
}

// Unfreeze releases a frozen message; it is attempted at once.
func (c *Client) Unfreeze(ctx context.Context, id string) (*Result, error) {
	return c.action(ctx, "/messages/"+url.PathEscape(id)+"/unfreeze")
}

// Find returns the queued messages whose sender, a recipient or subject
// contains the given text (case-insensitive; empty: any).
func (c *Client) Find(ctx context.Context, from, to, subject string) (*Found, error) {
	q := url.Values{}
	for k, v := range map[string]string{"from": from, "to": to, "subject": subject} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var out Found
	if err := c.do(ctx, http.MethodGet, "/find?"+q.Encode(), &out); err != nil {
		return nil, err
	}
	return &out, nil
}
