package config

import (
	"net/url"
	"time"
)

// ContentFilter is [content_filter]: rspamd scans the messages this
// server receives from outside the organization, and their spam
// confidence level (SCL) decides refusal and the Junk folder
// (docs/filtering.md, "Content filtering and the SCL"). Absent: off. It
// is one table for the server, as Exchange's content filter is a
// server's, not a virtual server's: every virtual server scans.
type ContentFilter struct {
	// RspamdURL is rspamd's normal worker, "http://127.0.0.1:11333".
	RspamdURL string `toml:"rspamd_url"`
	// Timeout bounds one scan, connect to verdict (default 10s).
	Timeout Duration `toml:"timeout"`
	// OnFailure: "accept" (default: the message is accepted with its SCL
	// unknown, event 1064) or "tempfail" (451 4.7.1, event 1065).
	OnFailure ContentFailure `toml:"on_failure"`
	// SCLScores are the rspamd scores at which SCL 1 to 9 begin (nine
	// ascending numbers).
	SCLScores []float64 `toml:"scl_scores"`
	// GatewayThreshold: SCL at or above it is refused with 550 5.7.1
	// before the 250 (1 to 10; 10: never; default 7).
	GatewayThreshold int `toml:"gateway_threshold"`
	// StoreThreshold: SCL at or above it is delivered into the
	// mailbox's Junk folder (1 to 10; 10: never; default 4).
	StoreThreshold int `toml:"store_threshold"`
	// MaxSize: larger messages are not scanned (default 10 MiB).
	MaxSize int64 `toml:"max_size"`
}

// ContentFailure is what the receive side does when rspamd fails.
type ContentFailure struct{ w string }

var (
	ContentFailAccept   = ContentFailure{"accept"}   // SCL unknown, event (default)
	ContentFailTempfail = ContentFailure{"tempfail"} // 451 4.7.1
)

func (v ContentFailure) String() string               { return v.w }
func (v ContentFailure) MarshalText() ([]byte, error) { return []byte(v.w), nil }
func (v *ContentFailure) UnmarshalText(b []byte) error {
	return word(&v.w, b, "accept", "tempfail")
}

func (c *Config) validateContentFilter(bad func(string, ...any)) {
	f := c.ContentFilter
	if f == nil {
		return
	}
	if u, err := url.Parse(f.RspamdURL); f.RspamdURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("content_filter.rspamd_url %q: want rspamd's normal worker, such as \"http://127.0.0.1:11333\"", f.RspamdURL)
	}
	if len(f.SCLScores) != 9 {
		bad("content_filter.scl_scores: %d numbers; want 9, the rspamd scores at which SCL 1 to 9 begin", len(f.SCLScores))
	}
	for i := 1; i < len(f.SCLScores); i++ {
		if f.SCLScores[i] < f.SCLScores[i-1] {
			bad("content_filter.scl_scores: %v is not in ascending order", f.SCLScores)
			break
		}
	}
	for _, t := range []struct {
		key string
		v   int
	}{{"gateway_threshold", f.GatewayThreshold}, {"store_threshold", f.StoreThreshold}} {
		if t.v < 1 || t.v > 10 {
			bad("content_filter.%s %d: want an SCL from 1 to 9, or 10 for never", t.key, t.v)
		}
	}
	if f.MaxSize < 0 {
		bad("content_filter.max_size %d: want a size in octets", f.MaxSize)
	}
	if f.StoreThreshold >= f.GatewayThreshold && f.StoreThreshold < 10 {
		bad("content_filter.store_threshold %d is not below gateway_threshold %d: no message would reach the Junk folder", f.StoreThreshold, f.GatewayThreshold)
	}
}

// FailClosed reports whether a failed scan defers the message.
func (f *ContentFilter) FailClosed() bool { return f.OnFailure == ContentFailTempfail }

// The content filter's defaults (docs/filtering.md): the thresholds are
// Exchange's (SCLJunkThreshold 4, SCLRejectThreshold 7), and the scores
// put rspamd's own default actions there: add_header (6) is SCL 4,
// reject (15) is SCL 7.
var DefaultSCLScores = []float64{1, 2, 4, 6, 8, 10, 15, 20, 30}

const (
	DefaultGatewayThreshold   = 7
	DefaultStoreThreshold     = 4
	DefaultContentTimeout     = 10 * time.Second
	DefaultContentFilterLimit = 10 << 20
)

func (c *Config) applyContentFilterDefaults() {
	f := c.ContentFilter
	if f == nil {
		return
	}
	if f.Timeout.Duration == 0 {
		f.Timeout.Duration = DefaultContentTimeout
	}
	if f.OnFailure == (ContentFailure{}) {
		f.OnFailure = ContentFailAccept
	}
	if f.SCLScores == nil {
		f.SCLScores = append([]float64(nil), DefaultSCLScores...)
	}
	if f.GatewayThreshold == 0 {
		f.GatewayThreshold = DefaultGatewayThreshold
	}
	if f.StoreThreshold == 0 {
		f.StoreThreshold = DefaultStoreThreshold
	}
	if f.MaxSize == 0 {
		f.MaxSize = DefaultContentFilterLimit
	}
}
