package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestContentFilterDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal + "\n[content_filter]\nrspamd_url = \"http://127.0.0.1:11333\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	f := c.ContentFilter
	if f == nil || f.Timeout.Duration != 10*time.Second || f.OnFailure != ContentFailAccept || f.FailClosed() ||
		!slices.Equal(f.SCLScores, DefaultSCLScores) || f.GatewayThreshold != 7 || f.StoreThreshold != 4 || f.MaxSize != 10<<20 {
		t.Fatalf("content_filter defaults: %+v", f)
	}
	c, _ = Parse([]byte(minimal))
	if c.ContentFilter != nil {
		t.Error("content filter on without its table")
	}
}

// Each bad value is named with the key it came from.
func TestContentFilterValidation(t *testing.T) {
	for _, c := range []struct{ toml, want string }{
		{``, `content_filter.rspamd_url ""`},
		{`rspamd_url = "127.0.0.1:11333"`, `content_filter.rspamd_url "127.0.0.1:11333"`},
		{`rspamd_url = "http://127.0.0.1:11333"
on_failure = "reject"`, `"reject"`},
		{`rspamd_url = "http://127.0.0.1:11333"
scl_scores = [1, 2, 3]`, "content_filter.scl_scores: 3 numbers; want 9"},
		{`rspamd_url = "http://127.0.0.1:11333"
scl_scores = [1, 2, 3, 4, 5, 6, 7, 9, 8]`, "not in ascending order"},
		{`rspamd_url = "http://127.0.0.1:11333"
gateway_threshold = 11`, "content_filter.gateway_threshold 11: want an SCL from 1 to 9, or 10 for never"},
		{`rspamd_url = "http://127.0.0.1:11333"
store_threshold = 7`, "content_filter.store_threshold 7 is not below gateway_threshold 7"},
		{`rspamd_url = "http://127.0.0.1:11333"
store_threshhold = 5`, `unknown key "content_filter.store_threshhold"`},
	} {
		_, err := Parse([]byte(minimal + "\n[content_filter]\n" + c.toml + "\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.toml, err, c.want)
		}
	}
	// 10 turns a threshold off.
	if _, err := Parse([]byte(minimal + "\n[content_filter]\nrspamd_url = \"http://127.0.0.1:11333\"\ngateway_threshold = 10\nstore_threshold = 10\n")); err != nil {
		t.Errorf("both thresholds off: %v", err)
	}
}
