package track

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"mailward/message"
)

// TimeFormat is how steps' times are printed: UTC, with milliseconds,
// as in the event log and the protocol log.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// WriteText prints each story: a heading with its Message-ID, sender
// and queue IDs, then one line per step.
func WriteText(w io.Writer, stories []Story) error {
	for i, s := range stories {
		if i > 0 {
			fmt.Fprintln(w)
		}
		id := s.MessageID
		switch id {
		case message.NoMessageID:
			id = "(no Message-ID)"
		case "":
			id = "(Message-ID not recorded)"
		}
		fmt.Fprintf(w, "Message %s from %s\n", id, orNull(s.From))
		var qs []string
		for _, q := range s.QueueIDs {
			qs = append(qs, q.QueueID+" on "+q.Server)
		}
		fmt.Fprintf(w, "  queue IDs: %s\n", strings.Join(qs, ", "))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, st := range s.Steps {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", st.Time.UTC().Format(TimeFormat), st.Server, st.QueueID, st.Kind,
				oneLine(st.Detail))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSON prints the stories as one JSON array.
func WriteJSON(w io.Writer, stories []Story) error {
	if stories == nil {
		stories = []Story{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(stories)
}

func orNull(s string) string {
	if s == "" || s == "<>" {
		return "<>"
	}
	return "<" + strings.Trim(s, "<>") + ">"
}

// oneLine keeps a step on its line: a reply quoted in an event may hold
// a line break (a multi-line reply) or a tab.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// ParseTime reads --since and --until: an RFC 3339 time, or a duration
// ago (1h).
func ParseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q: want a duration (1h) or an RFC 3339 time (2026-12-01T08:00:00Z)", s)
}
