package e2e

// Helpers of the web administration's tests (webadmin_*_test.go): a
// server whose queue for remote.test is held by an unreachable next hop,
// a headless chromium driven by chromedp, and a plain HTTP client that
// logs in.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"mailward/internal/testkit"
)

// The administrator of the tests, as in examples/quickstart.toml.
const (
	webUser     = "admin"
	webPassword = "admin-secret"
)

// webServer is a running mailward with its web administration.
type webServer struct {
	*server
	Base string // http://127.0.0.1:PORT
	// Hop is the delivery queue that holds remote.test's mail: named
	// after the route's smart host, "[127.0.0.1]:PORT".
	Hop string
}

// webAdminConfig is [web_admin] on a free loopback port with the tests'
// administrator.
func webAdminConfig(t *testing.T) *testkit.WebAdmin {
	t.Helper()
	return &testkit.WebAdmin{Address: freeAddr(t),
		Users: []testkit.WebAdminUser{{Name: webUser, PasswordHash: bcryptHash(t, webPassword)}}}
}

// startWebAdmin starts a server with the web administration on a free
// loopback port, the local mailboxes alice and postmaster, relaying for
// 127.0.0.1, and mail for remote.test routed to a loopback port nothing
// listens on: every attempt fails (connection refused) and the next is
// an hour later, so the queue holds what the tests send until they act.
func startWebAdmin(t *testing.T, loginFailures int) *webServer {
	t.Helper()
	cfg := remoteConfig("", 0)
	cfg.Queue.RetrySchedule = []string{"1h"}
	// A port free a moment ago: nothing listens there.
	hop := "[127.0.0.1]:" + strconv.Itoa(testkit.FreePort(t))
	cfg.Routes = []testkit.Route{{Domain: "remote.test", SmartHost: hop, TLS: "none"}}
	cfg.WebAdmin = webAdminConfig(t)
	cfg.WebAdmin.LoginFailures, cfg.WebAdmin.LoginLockout = loginFailures, "1m"
	s := startServer(t, cfg)
	w := &webServer{server: s, Base: "http://" + cfg.WebAdmin.Address, Hop: hop}
	testkit.WaitFor(t, 10*time.Second, "the web administration answers", func() bool {
		resp, err := http.Get(w.Base + "/login")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return w
}

// held sends a message from alice to rcpt at remote.test and waits
// until its first attempt has failed (event 3001).
func (w *webServer) held(t *testing.T, rcpt, subject string) string {
	t.Helper()
	id := relayMsg(t, w.server, "<alice@example.test>", "<"+rcpt+">", subject)
	waitEvents(t, w.server, 3001, id, 1, 15*time.Second)
	return id
}

// browser starts a headless chromium for one test. Its first action
// starts it; every later one is bounded by the test's own timeouts.
// JavaScript confirm dialogs (the delete buttons') are accepted.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := testkit.RequireChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		// Root in a CI container: chromium's sandbox needs user
		// namespaces or the setuid helper (a Recommends, not installed).
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(1400, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first action starts the browser and ties its life to the
	// context it is given, so it gets the test's context, and a timer
	// bounds the start instead.
	stuck := time.AfterFunc(60*time.Second, cancel)
	err := chromedp.Do(ctx)
	if !stuck.Stop() {
		t.Fatalf("chromium did not start within 60s")
	}
	if err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return ctx
}

// bstep runs browser actions with a bound, failing the test on an error.
func bstep(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
}

// bget runs one browser action that returns a value, with a bound.
func bget[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, a)
	if err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
	return v
}

// click clicks a submit button and waits for the page it leads to.
func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.RunResponse(c, chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatalf("browser: click %s: %v", sel, err)
	}
}

// browserLogin logs in on the login page the browser was sent to.
func browserLogin(t *testing.T, ctx context.Context, w *webServer) {
	t.Helper()
	bstep(t, ctx, "open /queues", chromedp.Navigate(w.Base+"/queues"), chromedp.WaitVisible(chromedp.CSS("#login")))
	if loc := bget(t, ctx, "location", chromedp.Location()); !strings.HasPrefix(loc, w.Base+"/login?next=") {
		t.Fatalf("/queues without a session went to %s; want the login page", loc)
	}
	bstep(t, ctx, "fill the login form",
		chromedp.SendKeys(chromedp.CSS("#user-name"), webUser), chromedp.SendKeys(chromedp.CSS("#password"), webPassword))
	click(t, ctx, "#login")
	bstep(t, ctx, "the queue viewer after login", chromedp.WaitVisible(chromedp.CSS("table#queues")))
}

// flash is the result line of the last action on the page.
func flash(t *testing.T, ctx context.Context) string {
	t.Helper()
	return bget(t, ctx, "read #flash", chromedp.Text(chromedp.CSS("#flash")))
}

// httpClient is a client that does not follow redirects (the tests read
// them) and keeps no cookies of its own.
func httpClient() *http.Client {
	return &http.Client{Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// webPost sends a form with the session cookie (if any); it returns the
// status, the Location and the body.
func webPost(t *testing.T, base, path, cookie string, form url.Values) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != "" {
		req.Header.Set("Cookie", "mailward_session="+cookie)
	}
	resp, err := httpClient().Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

// webGet fetches a page with the session cookie (if any).
func webGet(t *testing.T, base, path, cookie string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != "" {
		req.Header.Set("Cookie", "mailward_session="+cookie)
	}
	resp, err := httpClient().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

// httpLogin logs in with a plain client and returns the session cookie
// and the session's CSRF token (from a page's forms).
func httpLogin(t *testing.T, base string) (cookie, csrf string) {
	t.Helper()
	resp, err := httpClient().PostForm(base+"/login", url.Values{"user": {webUser}, "password": {webPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "mailward_session" {
			cookie = c.Value
		}
	}
	if resp.StatusCode != http.StatusSeeOther || cookie == "" {
		t.Fatalf("login: %s, cookie %q", resp.Status, cookie)
	}
	_, _, body := webGet(t, base, "/queues", cookie)
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on /queues:\n%s", body)
	}
	return cookie, m[1]
}

// webActions counts the events 2010 the web administration wrote.
func webActions(s *server) int {
	n := 0
	for _, r := range s.Events(2010) {
		if r.Fields["via"] == "the web administration" {
			n++
		}
	}
	return n
}

func describeEvents(s *server, id int) string {
	var b strings.Builder
	for _, r := range s.Events(id) {
		fmt.Fprintf(&b, "  %s\n", r.Message)
	}
	return b.String()
}

// readBody reads and closes a response's body.
func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
