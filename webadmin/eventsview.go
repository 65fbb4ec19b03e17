package webadmin

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"mailward/events"
)

// The Event Viewer: the event log filtered, newest first, a page at a
// time, with each event's cause and fix from the catalogue; and the
// diagnostic levels, changed for the running server only.

// eventsPerPage is the events one page shows.
const eventsPerPage = 50

// timeLayout is the form's time fields (an <input type=datetime-local>),
// read as UTC.
const timeLayout = "2006-01-02T15:04"

type eventFilter struct {
	ID                       string
	Category, Severity, Text string
	Since, Until             string
	id                       int
	since, until             time.Time
}

type eventRow struct {
	events.Record
	Cause, Fix string
}

type levelRow struct {
	Category, Level string
}

type eventsData struct {
	Filter     eventFilter
	Rows       []eventRow
	Total      int
	Page, Last int
	PrevURL    string
	NextURL    string
	Error      string
	Categories []string
	Severities []string
	Levels     []levelRow
	LevelNames []string
}

var levelNames = []string{"none", "minimum", "medium", "maximum"}

func levelName(l events.Level) string {
	switch {
	case l >= events.Maximum:
		return "maximum"
	case l >= events.Medium:
		return "medium"
	case l >= events.Minimum:
		return "minimum"
	}
	return "none"
}

func (s *Server) eventsPage(w http.ResponseWriter, r *http.Request, sess *session) {
	q := r.URL.Query()
	f := eventFilter{ID: strings.TrimSpace(q.Get("id")), Category: q.Get("category"), Severity: q.Get("severity"),
		Text: strings.TrimSpace(q.Get("text")), Since: q.Get("since"), Until: q.Get("until")}
	d := eventsData{Filter: f, Categories: s.o.Categories, LevelNames: levelNames,
		Severities: []string{string(events.Information), string(events.Warning), string(events.Error)}}
	var bad []string
	if f.ID != "" {
		n, err := strconv.Atoi(f.ID)
		if err != nil || n <= 0 {
			bad = append(bad, "the event ID is a number, e.g. 2010")
		}
		f.id = n
	}
	for _, t := range []struct {
		v   string
		out *time.Time
	}{{f.Since, &f.since}, {f.Until, &f.until}} {
		if t.v == "" {
			continue
		}
		v, err := time.Parse(timeLayout, t.v)
		if err != nil {
			bad = append(bad, "times are YYYY-MM-DDTHH:MM (UTC)")
			continue
		}
		*t.out = v
	}
	if len(bad) > 0 {
		d.Error = strings.Join(bad, "; ")
	}
	recs, err := events.Read(s.o.EventLogPath, events.Filter{ID: f.id, Since: f.since})
	if err != nil && d.Error == "" {
		d.Error = err.Error()
	}
	text := strings.ToLower(f.Text)
	var match []events.Record
	for i := len(recs) - 1; i >= 0; i-- { // newest first
		rec := recs[i]
		if (f.Category != "" && rec.Category != f.Category) || (f.Severity != "" && string(rec.Severity) != f.Severity) ||
			(!f.until.IsZero() && rec.Time.After(f.until.Add(time.Minute-time.Nanosecond))) ||
			(text != "" && !strings.Contains(strings.ToLower(rec.Message), text)) {
			continue
		}
		match = append(match, rec)
	}
	d.Total = len(match)
	d.Last = max(1, (d.Total+eventsPerPage-1)/eventsPerPage)
	d.Page, _ = strconv.Atoi(q.Get("page"))
	d.Page = min(max(d.Page, 1), d.Last)
	from := (d.Page - 1) * eventsPerPage
	for _, rec := range match[from:min(from+eventsPerPage, len(match))] {
		def := events.Catalogue[rec.ID]
		d.Rows = append(d.Rows, eventRow{Record: rec, Cause: def.Cause, Fix: def.Fix})
	}
	pageURL := func(n int) string {
		v := url.Values{}
		for k, x := range q {
			v[k] = x
		}
		v.Set("page", strconv.Itoa(n))
		return "/events?" + v.Encode()
	}
	if d.Page > 1 {
		d.PrevURL = pageURL(d.Page - 1)
	}
	if d.Page < d.Last {
		d.NextURL = pageURL(d.Page + 1)
	}
	levels := s.o.Events.Levels()
	for _, c := range s.o.Categories {
		l, ok := levels[c]
		if !ok {
			l = events.Minimum
		}
		d.Levels = append(d.Levels, levelRow{Category: c, Level: levelName(l)})
	}
	d.Filter = f
	s.render(w, http.StatusOK, "events", s.pageFor(r, sess, "events", "Events", d))
}

// setLevel changes one category's diagnostic level in the running server
// only (events.Log.SetLevels): the configuration file is not rewritten,
// and the next reload or restart applies its [diagnostics] again.
func (s *Server) setLevel(w http.ResponseWriter, r *http.Request, sess *session) {
	cat, word := r.PostFormValue("category"), r.PostFormValue("level")
	lvl, err := events.ParseLevel(word)
	if err != nil || !slices.Contains(s.o.Categories, cat) {
		s.sessions.setFlash(sess, "unknown category or level: "+printable(cat)+" "+printable(word), true)
		http.Redirect(w, r, "/events", http.StatusSeeOther)
		return
	}
	levels := s.o.Events.Levels()
	old, ok := levels[cat]
	if !ok {
		old = events.Minimum
	}
	levels[cat] = lvl
	s.o.Events.SetLevels(levels)
	s.o.Events.Emit(events.WebAdminLevelsChanged, "user", sess.user, "category", cat, "level", word, "old", levelName(old))
	s.sessions.setFlash(sess, "diagnostic level of "+cat+" set to "+word+" (runtime only, until the next reload or restart)", false)
	http.Redirect(w, r, localPath(r.PostFormValue("back"), "/events"), http.StatusSeeOther)
}
