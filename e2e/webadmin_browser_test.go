package e2e

// The web administration in a real browser: Debian's chromium, headless,
// driven by chromedp, against a running mailward whose queue for
// remote.test is held by an unreachable next hop (docs/web-admin.md).

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"mailward/internal/testkit"
)

// TestWebAdminBrowser: an administrator logs in (the session cookie is
// stored with Secure, HttpOnly and SameSite=Strict from
// http://127.0.0.1), sees the held queue with its last error whole,
// finds a message by recipient, freezes it, retries the queue, suspends
// and resumes it, deletes another message with an NDR, and filters the
// events by ID. Each
// result is checked on the page and on the server: the queue viewer's
// CLI, the queue files, the sender's mailbox and event 2010, which says
// the web administration and the administrator did it.
func TestWebAdminBrowser(t *testing.T) {
	ctx := browser(t) // before the server: a missing chromium skips at once
	w := startWebAdmin(t, 5)
	idA := w.held(t, "bob@remote.test", "to be deleted")
	idB := w.held(t, "carol@remote.test", "to be frozen")

	browserLogin(t, ctx, w)
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{w.Base + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	var sess *network.Cookie
	for _, c := range cookies.Cookies {
		if c.Name == "mailward_session" {
			sess = c
		}
	}
	if sess == nil || !sess.Secure || !sess.HTTPOnly || sess.SameSite != network.CookieSameSiteStrict {
		t.Fatalf("session cookie in the browser: %+v; want Secure, HttpOnly, SameSite=Strict", sess)
	}

	// The queue: held, with its last error shown whole, as the CLI
	// prints it.
	row := `#queues tr[data-queue="` + w.Hop + `"]`
	shown := bget(t, ctx, "the queue's last error", chromedp.Text(chromedp.CSS(row+" td.error-text")))
	q, ok := liveQueue(t, w.server, w.Hop)
	if !ok || q.Messages != 2 || q.LastError == "" {
		t.Fatalf("queue %s in mailward queue list: %+v (found %v); want 2 messages and a last error", w.Hop, q, ok)
	}
	if shown != q.LastError || !strings.Contains(shown, "connection refused") {
		t.Errorf("last error on the page:\n  %q\nin the CLI:\n  %q\nwant the same whole text (connection refused)", shown, q.LastError)
	}
	if st := bget(t, ctx, "the queue's state", chromedp.Text(chromedp.CSS(row+" td.state"))); st != "retry" {
		t.Errorf("queue state on the page %q, want retry", st)
	}

	// Find by recipient: carol's message, not bob's.
	bstep(t, ctx, "find by recipient", chromedp.SetValue(chromedp.CSS("#find-by"), "to"),
		chromedp.SendKeys(chromedp.CSS("#find-q"), "carol@remote.test"))
	click(t, ctx, "#find")
	bstep(t, ctx, "the results", chromedp.WaitVisible(chromedp.CSS(`#found tr[data-id="`+idB+`"]`)))
	if n := bget(t, ctx, "count results", chromedp.Evaluate[int](`document.querySelectorAll("#found tbody tr[data-id]").length`)); n != 1 {
		t.Errorf("find by recipient carol@remote.test shows %d messages, want 1 (%s)", n, idB)
	}

	// Freeze it from the results.
	before := webActions(w.server)
	click(t, ctx, `#found tr[data-id="`+idB+`"] button.freeze`)
	if f := flash(t, ctx); !strings.Contains(f, "freeze message "+idB+": frozen") {
		t.Errorf("after freeze the page says %q", f)
	}
	if st := bget(t, ctx, "state after freeze", chromedp.Text(chromedp.CSS(`#found tr[data-id="`+idB+`"] .state`))); st != "frozen" {
		t.Errorf("state of %s on the page after freeze: %q", idB, st)
	}
	out := queueCLI(t, w.server, "find", "--to", "carol@remote.test")
	if !strings.HasPrefix(out, idB+" ") || !strings.Contains(out, "[frozen]") {
		t.Errorf("mailward queue find --to carol@remote.test after the web freeze:\n%s", out)
	}
	recs := w.EventsFor(2010, "target", "message "+idB)
	if len(recs) != 1 || webActions(w.server) != before+1 || recs[0].Fields["user"] != webUser ||
		!strings.Contains(recs[0].Message, "Administrator asked to freeze message "+idB+" via the web administration: frozen") {
		t.Errorf("event 2010 for the freeze: %+v", recs)
	}

	// mailward track names the administrator of the web action.
	if out, errOut, err := runCLI(w.server, "track", "--id", idB, "--config", w.Config); err != nil ||
		!strings.Contains(out, "asked to freeze message "+idB+" (web administration, user admin): frozen") {
		t.Errorf("mailward track --id %s after the web freeze (%v):\n%s%s", idB, err, out, errOut)
	}

	// Retry the queue: bob's message is attempted again at once (it
	// fails again), carol's, frozen, is not.
	triesA, triesB := len(w.EventsFor(3001, "queue_id", idA)), len(w.EventsFor(3001, "queue_id", idB))
	bstep(t, ctx, "open /queues", chromedp.Navigate(w.Base+"/queues"), chromedp.WaitVisible(chromedp.CSS(row)))
	click(t, ctx, row+" button.retry")
	if f := flash(t, ctx); !strings.HasPrefix(f, "retry queue "+w.Hop+": 1 message(s) made ready for an attempt now") {
		t.Errorf("after retry the page says %q", f)
	}
	waitEvents(t, w.server, 3001, idA, triesA+1, 15*time.Second)
	if n := len(w.EventsFor(3001, "queue_id", idB)); n != triesB {
		t.Errorf("the frozen message %s was attempted by the retry (%d deferrals, had %d)", idB, n, triesB)
	}
	if len(w.EventsFor(2010, "target", "queue "+w.Hop)) != 1 {
		t.Errorf("no event 2010 for the retry:\n%s", describeEvents(w.server, 2010))
	}

	// Suspend the queue, then resume it: the page and the CLI agree.
	click(t, ctx, row+" button.suspend")
	if st := bget(t, ctx, "state after suspend", chromedp.Text(chromedp.CSS(row+" td.state"))); st != "suspended" {
		t.Errorf("queue state on the page after suspend: %q", st)
	}
	if q, ok := liveQueue(t, w.server, w.Hop); !ok || q.State != "suspended" {
		t.Errorf("mailward queue list after the web suspend: %+v", q)
	}
	click(t, ctx, row+" button.resume")
	if f := flash(t, ctx); !strings.HasPrefix(f, "resume queue "+w.Hop+": deliveries resumed") {
		t.Errorf("after resume the page says %q", f)
	}
	if q, ok := liveQueue(t, w.server, w.Hop); !ok || q.State == "suspended" {
		t.Errorf("mailward queue list after the web resume: %+v", q)
	}
	waitEvents(t, w.server, 3001, idA, triesA+2, 15*time.Second) // resume attempts at once too

	// Delete bob's message with an NDR, from its own page.
	bstep(t, ctx, "open the message", chromedp.Navigate(w.Base+"/messages/"+idA), chromedp.WaitVisible(chromedp.CSS("#recipients")))
	if h := bget(t, ctx, "history", chromedp.Text(chromedp.CSS("#history"))); !strings.Contains(h, "3001") {
		t.Errorf("the message's attempt history shows no deferral (3001):\n%s", h)
	}
	click(t, ctx, "#envelope button.delete-ndr")
	if f := flash(t, ctx); !strings.Contains(f, "delete message "+idA+": deleted; its pending recipients failed") {
		t.Errorf("after delete the page says %q", f)
	}
	testkit.WaitFor(t, 15*time.Second, "the NDR in alice's mailbox", func() bool { return maildirCount(w.server, "alice@example.test") == 1 })
	ndr := readFile(t, w.Maildir("alice@example.test")[0])
	if !strings.Contains(ndr, "bob@remote.test") || !strings.Contains(ndr, "Content-Type: multipart/report") {
		t.Errorf("the NDR does not report bob@remote.test:\n%s", ndr)
	}
	if got := w.QueueActive(); len(got) != 1 || got[0] != idB {
		t.Errorf("queue files after the delete: %v; want only %s", got, idB)
	}

	// Events filtered by ID: only 2010, as many as the log has.
	bstep(t, ctx, "filter events", chromedp.Navigate(w.Base+"/events"), chromedp.WaitVisible(chromedp.CSS("#filter-id")),
		chromedp.SendKeys(chromedp.CSS("#filter-id"), "2010"))
	click(t, ctx, "#filter")
	ids := bget(t, ctx, "the events shown", chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("#events tbody tr[data-event]")).map(r => r.dataset.event)`))
	want := len(w.Events(2010))
	if len(ids) != want || want < 5 {
		t.Errorf("events filtered by ID 2010: %d shown, the log has %d (want at least 5: freeze, retry, suspend, resume, delete)", len(ids), want)
	}
	for _, id := range ids {
		if id != "2010" {
			t.Errorf("event %s shown when filtering by 2010", id)
		}
	}
	if c := bget(t, ctx, "cause", chromedp.TextContent(chromedp.CSS("#events tbody tr[data-event] details"))); !strings.Contains(c, "Someone used the queue viewer") {
		t.Errorf("the event's cause from the catalogue is not shown: %q", c)
	}
}
