package events

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
)

// WriteMarkdown renders the event catalogue as docs/events.md. The file is
// generated: go run ./events/gendoc > docs/events.md, and TestDocsUpToDate
// fails when the two differ.
func WriteMarkdown(w io.Writer) error {
	bw := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }

	p("# Events\n\n")
	p("<!-- Generated from events/catalogue.go by `go run ./events/gendoc > docs/events.md`. Do not edit. -->\n\n")
	p("Every noteworthy thing mailward does is written as a numbered event, in the manner of\n")
	p("the Windows event-log entries (MSExchangeTransport) that administrators of an\n")
	p("organization's mail servers troubleshoot with. This page lists every event the server\n")
	p("can write, with its likely cause and what to do about it.\n\n")

	p("## Where events go\n\n")
	p("- **The event log**: `<data_dir>/events.log`, one JSON object per line, appended, with\n")
	p("  the fields `time` (UTC, RFC 3339), `id`, `severity`, `category`, `message` (the text\n")
	p("  below with its placeholders filled) and `fields` (the placeholder values).\n")
	p("  A line that is not valid JSON (a write torn by a crash) is skipped when the log is read.\n")
	p("  It is rotated (`[event_log]` in the configuration): before a write would take it past\n")
	p("  `max_size`, or when its first record is `max_age` old, `events.log` becomes\n")
	p("  `events.log.1`, `events.log.1` becomes `events.log.2`, and so on up to `keep` files;\n")
	p("  the oldest is deleted.\n")
	p("- **The server log** (`[log]` in the configuration): the same message, with `event_id`,\n")
	p("  `category` and the fields as attributes, at level INFO, WARN or ERROR for severity\n")
	p("  information, warning or error. The `[log] level` filters only this copy.\n\n")
	p("Read the event log with:\n\n")
	p("```\nmailward events --config FILE [--id N] [--since 1h|2026-01-02T15:04:05Z] [--json]\n```\n\n")
	p("`--id` keeps one event ID; `--since` keeps events at or after a time, given as a\n")
	p("duration back from now (`90m`, `24h`) or as an RFC 3339 time; `--json` prints the\n")
	p("records as stored. The rotated files are read too, oldest first.\n\n")

	p("## Rate limit\n\n")
	p("An event that repeats is written at most `rate_limit` times a minute (`[event_log]` in\n")
	p("the configuration) per **key**: its ID and its client address (the `ip` field) when it has\n")
	p("one, else its ID alone; for an error, also its kind (its fields with every word that\n")
	p("holds a digit, such as a queue ID or a file name, left out), so that a full disk and a\n")
	p("failing one, or a failed message write and a failed state update, are counted apart.\n")
	p("The further events of the minute are counted, not written (neither to the event log\n")
	p("nor to the server log), and when the minute is over one event %d says how many there\n", EventsSuppressed)
	p("were and quotes the last one. At most %d keys of one event ID are counted apart at\n", keysPerID)
	p("once; events from further clients share one more key. The record of mail flow (a\n")
	p("message queued, expanded, forwarded, journaled, queued for a delivery queue, delivered,\n")
	p("deferred or failed, the notices sent: what message tracking reads, tracking.md), the\n")
	p("queue viewer's actions, start and stop are never rate limited: each event's table\n")
	p("below says.\n\n")

	p("## When the disk is full\n\n")
	p("mailward keeps `reserve` bytes (`[event_log]`) allocated past the end of the event log,\n")
	p("with fallocate(2): writes into them need no new space. When the file\n")
	p("system is full (event %d), only errors and level-`none` events are written, into this\n", EventLogFull)
	p("reserve, so that the spool's failures (event %d) are still recorded; the other events\n", SpoolWriteFailed)
	p("go to the server log only, and event %d counts them once there is space again.\n\n", EventLogSpaceBack)

	p("## Diagnostic logging levels\n\n")
	p("Each category has a diagnostic logging level, set in the `[diagnostics]` section of the\n")
	p("configuration (default `minimum` for every category). Each event has a level too. An\n")
	p("event is written when **its level is at or below its category's setting**.\n\n")
	p("| category setting | value | writes the events of level |\n| --- | --- | --- |\n")
	for _, l := range []Level{None, Minimum, Medium, Maximum} {
		var upTo []string
		for _, m := range []Level{None, Minimum, Medium, Maximum} {
			if m <= l {
				upTo = append(upTo, "`"+levelName(m)+"`")
			}
		}
		p("| `%s` | %d | %s |\n", levelName(l), int(l), strings.Join(upTo, ", "))
	}
	p("\nLevel-0 events (`none`: errors that need an administrator, start and stop) are\n")
	p("written even when a category is set to `none`.\n\n")
	p("IDs are grouped by thousands: 1xxx receiving and the service, 2xxx the queue, 3xxx\n")
	p("delivery, 4xxx delivery status notifications.\n\n")

	ids := make([]int, 0, len(Catalogue))
	for id := range Catalogue {
		ids = append(ids, id)
	}
	sort.Ints(ids)

	p("## Summary\n\n")
	p("| ID | severity | category | level | text |\n| --- | --- | --- | --- | --- |\n")
	for _, id := range ids {
		d := Catalogue[id]
		p("| [%d](#%d) | %s | %s | %s | %s |\n", d.ID, d.ID, d.Severity, d.Category, levelName(d.Level), cell(d.Text))
	}
	p("\n")

	p("## By category\n\n")
	p("| category | events |\n| --- | --- |\n")
	for _, cat := range categoriesOf(ids) {
		var list []string
		for _, id := range ids {
			if d := Catalogue[id]; d.Category == cat {
				list = append(list, fmt.Sprintf("%d (%s)", id, levelName(d.Level)))
			}
		}
		p("| `%s` | %s |\n", cat, strings.Join(list, ", "))
	}
	p("\n")

	p("## Events\n")
	for _, id := range ids {
		d := Catalogue[id]
		p("\n### %d\n\n", d.ID)
		p("| | |\n| --- | --- |\n")
		p("| Severity | %s |\n", d.Severity)
		p("| Category | `%s` |\n", d.Category)
		p("| Level | %s (%d): %s |\n", levelName(d.Level), int(d.Level), writtenAt(d.Level))
		p("| Rate limit | %s |\n", limitScope(d))
		p("| Text | %s |\n\n", cell(d.Text))
		p("**Likely cause.** %s\n\n", d.Cause)
		p("**Fix.** %s\n", d.Fix)
	}
	return bw.Flush()
}

// levelName is the configuration word for a level.
func levelName(l Level) string {
	switch l {
	case None:
		return "none"
	case Minimum:
		return "minimum"
	case Medium:
		return "medium"
	case Maximum:
		return "maximum"
	}
	return fmt.Sprintf("level %d", int(l))
}

// writtenAt says at which category settings an event of level l appears.
func writtenAt(l Level) string {
	switch l {
	case None:
		return "always written"
	case Maximum:
		return "written at `maximum`"
	}
	var at []string
	for _, m := range []Level{None, Minimum, Medium, Maximum} {
		if l <= m {
			at = append(at, "`"+levelName(m)+"`")
		}
	}
	return "written at " + strings.Join(at, ", ")
}

// categoriesOf lists the categories of the given events in order of
// their first event.
func categoriesOf(ids []int) []string {
	var out []string
	seen := map[string]bool{}
	for _, id := range ids {
		c := Catalogue[id].Category
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// cell renders event text for a table cell: in code style so that the
// {field} placeholders show, with '|' escaped.
func cell(s string) string {
	return "`" + strings.ReplaceAll(s, "|", `\|`) + "`"
}
