//go:build screenshots

package e2e

// The screenshots of docs/web-admin.md and README.md, written from a
// running server by the browser the tests drive:
//
//	go test -tags screenshots ./e2e -run TestWebAdminScreenshots
//
// It writes docs/images/queue-viewer.png and docs/images/event-viewer.png.
// Behind a build tag: the suite must not rewrite files of the tree.

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"mailward/internal/testkit"
)

// TestWebAdminScreenshots runs the quick start's server (its domain,
// mailboxes, two virtual servers and administrator) with remote.test
// published by a test DNS server: its MX answers KB979174's "454 4.7.0
// Temporary authentication failure", so the Queue Viewer shows a real
// queue in retry with that last error, and the Event Viewer the real
// events of it.
func TestWebAdminScreenshots(t *testing.T) {
	ctx := browser(t)
	d := startDNS(t)
	oneMX(d)
	mx1, port := oneFake(t)
	mx1.SetHandler(refuseAt("MAIL", authFail454))

	cfg := quickstartLike()
	cfg.Mailboxes = testkit.Mailboxes("alice@example.test", "bob@example.test", "postmaster@example.test")
	cfg.VirtualServers[0].RelayNetworks = []string{"127.0.0.1/32"}
	cfg.Queue = &testkit.Queue{RetrySchedule: []string{"10m", "30m", "1h"}}
	cfg.DNS = &testkit.DNS{Server: d.Addr}
	cfg.Delivery = &testkit.Delivery{RemotePort: port, ConnectTimeout: "5s"}
	cfg.Diagnostics = map[string]string{"smtp_receive": "minimum", "auth": "minimum"}
	cfg.WebAdmin = webAdminConfig(t)
	s := startServer(t, cfg)
	w := &webServer{server: s, Base: "http://" + cfg.WebAdmin.Address, Hop: "remote.test"}

	ids := []string{
		w.held(t, "carol@remote.test", "Quarterly report"),
		w.held(t, "dave@remote.test", "Re: meeting on Thursday"),
		w.held(t, "erin@remote.test", "Invoice 2026-118"),
	}
	browserLogin(t, ctx, w)
	// One message frozen by the administrator, as the viewer shows it.
	bstep(t, ctx, "open the queue", chromedp.Navigate(w.Base+"/queues/remote.test"),
		chromedp.WaitVisible(chromedp.CSS(`#messages tr[data-id="`+ids[2]+`"]`)))
	click(t, ctx, `#messages tr[data-id="`+ids[2]+`"] button.freeze`)

	shoot := func(url, ready, file string) {
		t.Helper()
		bstep(t, ctx, "open "+url, chromedp.Navigate(w.Base+url), chromedp.WaitVisible(chromedp.CSS(ready)))
		png := bget(t, ctx, "screenshot of "+url, chromedp.FullScreenshot(100))
		out := filepath.Join("..", "docs", "images", file)
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", out, len(png))
	}
	time.Sleep(time.Second) // ages read "1s" rather than "0s"
	bstep(t, ctx, "window size", chromedp.EmulateViewport(1280, 640))
	// The queue's page: its state, next retry and last error (KB979174's
	// text whole) above its messages, one of them frozen.
	shoot("/queues/remote.test", "table#messages", "queue-viewer.png")
	shoot("/events", "table#events", "event-viewer.png")
}
