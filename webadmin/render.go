package webadmin

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// The pages' templates, style sheet and script, in the binary.
//
//go:embed assets
var assets embed.FS

var (
	styleCSS = mustRead("assets/style.css")
	appJS    = mustRead("assets/app.js")
)

func mustRead(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"age": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return humanDuration(time.Since(t))
	},
	"until": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		d := time.Until(t)
		if d <= 0 {
			return "now"
		}
		return "in " + humanDuration(d)
	},
	"size": humanSize,
	// pair hands a partial the page (for its CSRF token and URL) and
	// one row.
	"pair": func(p page, x any) map[string]any { return map[string]any{"P": p, "X": x} },
	// back is the page an action returns to.
	"back": func(p page) string { return p.Here },
	"findby": func(p page) string {
		if d, ok := p.Data.(findData); ok {
			return d.By
		}
		return "to"
	},
	"findq": func(p page) string {
		if d, ok := p.Data.(findData); ok {
			return d.Q
		}
		return ""
	},
	"join": strings.Join,
	// css and js are the embedded assets, written inline with the
	// page's nonce: no request without a session fetches anything.
	"css": func() template.CSS { return template.CSS(styleCSS) },
	"js":  func() template.JS { return template.JS(appJS) },
}

// pages are parsed once: the layout with each page's content.
var pages = func() map[string]*template.Template {
	m := map[string]*template.Template{}
	for _, name := range []string{"login", "queues", "queue", "find", "message", "events", "organization"} {
		m[name] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets, "assets/layout.html", "assets/partials.html", "assets/"+name+".html"))
	}
	return m
}()

// page is what the layout needs around a page's Data.
type page struct {
	Title      string
	Nav        string // the current tab: "queues", "events", "organization"
	User, CSRF string
	FQDN       string
	// Here is the page's own URL, where an action's form returns.
	Here       string
	Flash      string
	FlashError bool
	Nonce      string
	Data       any
}

// render writes a page with its Content-Security-Policy: only this
// page's inline style and script (by nonce), forms only to this site.
func (s *Server) render(w http.ResponseWriter, code int, name string, p page) {
	p.Nonce = token()
	p.FQDN = s.o.FQDN
	var buf bytes.Buffer
	if err := pages[name].Execute(&buf, p); err != nil {
		http.Error(w, "rendering the page failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Security-Policy", fmt.Sprintf(
		"default-src 'none'; style-src 'nonce-%s'; script-src 'nonce-%s'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		p.Nonce, p.Nonce))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// pageFor fills the layout's fields of a logged-in page, taking the
// session's flash.
func (s *Server) pageFor(r *http.Request, sess *session, nav, title string, data any) page {
	msg, isErr := s.sessions.takeFlash(sess)
	here := r.URL.RequestURI()
	if r.Method != http.MethodGet {
		here = "/" + nav
	}
	return page{Title: title, Nav: nav, User: sess.user, CSRF: sess.csrf, Here: here, Flash: msg, FlashError: isErr, Data: data}
}

func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm %ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

func humanSize(n int64) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}
