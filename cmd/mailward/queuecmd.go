package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"mailward/admin"
	"mailward/config"
	"mailward/internal/setup"
	"mailward/queue"
)

const queueUsage = `usage: mailward queue COMMAND [--config FILE] [--json]
  list                      the delivery queues: state, messages, size, oldest message,
                            next retry, last error, and the totals
  show QUEUE [--limit N] [--after ID]
                            a queue's messages with each recipient's status and attempts,
                            oldest first, 1000 at a time (--after: the last ID shown)
  retry QUEUE               attempt the queue's messages now
  suspend QUEUE             hold deliveries through the queue
  resume QUEUE              restart deliveries through the queue and attempt them now
  delete MESSAGE-ID [--ndr] remove a message (with --ndr, its sender gets a non-delivery report)
  freeze MESSAGE-ID         hold a message: it is not attempted until unfrozen (also after a restart)
  unfreeze MESSAGE-ID       release a frozen message and attempt it now
  find [--from A] [--to A] [--subject S]
                            the messages of every queue whose sender, a recipient or subject
                            contains the text (case-insensitive)`

// adminSocket is where the running server's admin API listens.
func adminSocket(cfg *config.Config) string { return setup.AdminSocket(cfg) }

func cmdQueue(args []string) error { return runQueue(os.Stdout, os.Stderr, args) }

// runQueue is cmdQueue with its output streams, for tests.
func runQueue(stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 {
		return errors.New(queueUsage)
	}
	sub := args[0]
	want := 1 // positional arguments
	switch sub {
	case "list", "find":
		want = 0
	case "show", "retry", "suspend", "resume", "delete", "freeze", "unfreeze":
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, queueUsage)
		return nil
	default:
		return fmt.Errorf("queue: unknown command %q\n%s", sub, queueUsage)
	}
	fs := flag.NewFlagSet("queue "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "mailward.toml", "configuration file")
	asJSON := fs.Bool("json", false, "JSON output")
	var ndr *bool
	if sub == "delete" {
		ndr = fs.Bool("ndr", false, "send the sender a non-delivery report for the pending recipients")
	}
	var limit *int
	var after *string
	if sub == "show" {
		limit = fs.Int("limit", admin.DefaultPage, fmt.Sprintf("messages to show (at most %d)", admin.MaxPage))
		after = fs.String("after", "", "show the messages after this queue ID (the last one of the previous page)")
	}
	var from, to, subject *string
	if sub == "find" {
		from = fs.String("from", "", "the sender contains this")
		to = fs.String("to", "", "a recipient contains this")
		subject = fs.String("subject", "", "the Subject contains this")
	}
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != want {
		return fmt.Errorf("queue %s: want %d argument(s), got %d\n%s", sub, want, len(pos), queueUsage)
	}
	if sub == "find" && *from == "" && *to == "" && *subject == "" {
		return fmt.Errorf("queue find: give --from, --to or --subject\n%s", queueUsage)
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	c := admin.Dial(adminSocket(cfg))
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := &queueOut{w: stdout, json: *asJSON, now: time.Now(), loc: time.Local}

	switch sub {
	case "list":
		o, err := c.Summary(ctx)
		var nr *admin.NotRunningError
		if errors.As(err, &nr) {
			fmt.Fprintln(stderr, nr.Error())
			fmt.Fprintln(stderr, "(server not running: read from the spool)")
			msgs, err := queue.Inspect(filepath.Join(cfg.Server.DataDir, "queue"))
			if err != nil {
				return err
			}
			return out.spool(msgs)
		}
		if err != nil {
			return err
		}
		if o.Loading != nil && *asJSON {
			// The JSON stays the array of queues it always was.
			fmt.Fprintln(stderr, loadingLine(o.Loading))
		}
		return out.list(o)
	case "show":
		if *limit < 1 || *limit > admin.MaxPage {
			return fmt.Errorf("queue show: --limit %d: want 1 to %d", *limit, admin.MaxPage)
		}
		d, err := c.QueuePage(ctx, pos[0], *after, *limit)
		if err != nil {
			return queueErr("show", pos[0], err)
		}
		return out.show(d)
	case "retry", "suspend", "resume":
		act := map[string]func(context.Context, string) (*admin.Result, error){
			"retry": c.Retry, "suspend": c.Suspend, "resume": c.Resume}[sub]
		res, err := act(ctx, pos[0])
		if err != nil {
			return queueErr(sub, pos[0], err)
		}
		return out.result("queue", res)
	case "delete":
		res, err := c.Delete(ctx, pos[0], *ndr)
		if err != nil {
			return queueErr("delete", pos[0], err)
		}
		return out.result("message", res)
	case "freeze", "unfreeze":
		act := c.Freeze
		if sub == "unfreeze" {
			act = c.Unfreeze
		}
		res, err := act(ctx, pos[0])
		if err != nil {
			return queueErr(sub, pos[0], err)
		}
		return out.result("message", res)
	case "find":
		f, err := c.Find(ctx, *from, *to, *subject)
		if err != nil {
			return queueErr("find", "", err)
		}
		return out.found(f)
	}
	return nil
}

// queueErr names the command in a server's error; "not running" and
// "may not use the socket" are clear on their own.
func queueErr(sub, arg string, err error) error {
	var nr *admin.NotRunningError
	var ae *admin.AccessError
	switch {
	case errors.As(err, &nr):
		return nr
	case errors.As(err, &ae):
		return ae
	}
	return fmt.Errorf("queue %s %s: %w", sub, arg, err)
}

// parseInterspersed parses flags that may come before or after the
// positional arguments ("show example.net --json").
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return pos, nil
}

// queueOut prints the queue viewer's answers.
type queueOut struct {
	w    io.Writer
	json bool
	now  time.Time
	loc  *time.Location // times are shown in it; nil: local time
}

func (o *queueOut) encode(v any) error {
	e := json.NewEncoder(o.w)
	e.SetIndent("", "  ")
	return e.Encode(v)
}

// list prints one line per queue and, on its own indented line, the
// queue's last error in full (a failover text is long); first, while the spool
// found at start is loading, how far it has come.
func (o *queueOut) list(ov *admin.Overview) error {
	qs := ov.Queues
	if o.json {
		if qs == nil {
			qs = []admin.Queue{}
		}
		return o.encode(qs)
	}
	if ov.Loading != nil {
		fmt.Fprintf(o.w, "%s (the figures below count only the messages loaded so far and those received since)\n\n", loadingLine(ov.Loading))
	}
	if len(qs) > 0 {
		nw := len("QUEUE")
		for _, q := range qs {
			nw = max(nw, len(q.Name))
		}
		const row = "%-*s  %-9s  %8s  %10s  %9s  %7s  %s\n"
		fmt.Fprintf(o.w, row, nw, "QUEUE", "STATE", "MESSAGES", "RECIPIENTS", "SIZE", "OLDEST", "NEXT RETRY")
		rcpts := 0
		for _, q := range qs {
			fmt.Fprintf(o.w, row, nw, q.Name, q.State, strconv.Itoa(q.Messages), strconv.Itoa(q.Recipients),
				size(q.Bytes), o.age(q.Oldest), o.when(q.NextRetry))
			if q.LastError != "" {
				fmt.Fprintf(o.w, "    last error: %s\n", oneLine(q.LastError))
			}
			rcpts += q.Recipients
		}
		// A message pending in two queues counts once in the total.
		total := fmt.Sprintf(row, nw, "TOTAL", "", strconv.Itoa(ov.Messages), strconv.Itoa(rcpts),
			size(ov.Bytes), o.age(ov.Oldest), "")
		fmt.Fprintln(o.w, strings.TrimRight(total, " \n"))
		fmt.Fprintln(o.w)
	}
	fmt.Fprintf(o.w, "%d message(s) queued in %d delivery queue(s)\n", ov.Messages, len(qs))
	if ov.Messages > 0 {
		fmt.Fprintf(o.w, "    %s being delivered, %s ready for an attempt, %s waiting for their next retry\n",
			thousands(ov.InFlight), thousands(ov.Ready), thousands(ov.Waiting))
	}
	if ov.Frozen > 0 {
		fmt.Fprintf(o.w, "    %s frozen: not attempted until unfrozen (mailward queue unfreeze ID)\n", thousands(ov.Frozen))
	}
	return nil
}

// loadingLine says how far the load of the spool found at start has come.
func loadingLine(l *admin.Loading) string {
	if l.Total < 0 {
		return "loading: listing the spool"
	}
	return fmt.Sprintf("loading: %s of %s messages", thousands(l.Loaded), thousands(l.Total))
}

// thousands writes n with comma separators: 100,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return s
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// show prints a queue and its messages with each recipient's status.
func (o *queueOut) show(d *admin.QueueDetail) error {
	if o.json {
		return o.encode(d)
	}
	q := d.Queue
	if d.Loading != nil {
		fmt.Fprintf(o.w, "%s (only the loaded messages are shown)\n\n", loadingLine(d.Loading))
	}
	fmt.Fprintf(o.w, "Queue %s: %s, %d message(s), %d recipient(s), next retry %s\n",
		q.Name, q.State, q.Messages, q.Recipients, o.when(q.NextRetry))
	if !q.LastAttempt.IsZero() {
		fmt.Fprintf(o.w, "    last attempt: %s\n", o.when(q.LastAttempt))
	}
	if q.LastError != "" {
		fmt.Fprintf(o.w, "    last error: %s\n", oneLine(q.LastError))
	}
	for _, m := range d.Messages {
		fmt.Fprintf(o.w, "\nMessage %s from %s, %s, arrived %s, next retry %s", m.ID, orNull(m.From), size(m.Size),
			o.when(m.Arrival), o.when(m.NextRetry))
		if m.InFlight {
			fmt.Fprint(o.w, " [being delivered now]")
		}
		if m.Frozen {
			fmt.Fprint(o.w, " [frozen]")
		}
		fmt.Fprintln(o.w)
		for _, r := range m.Recipients {
			fmt.Fprintf(o.w, "    %s  %s", r.Address, r.State)
			if r.Status != "" {
				fmt.Fprintf(o.w, " %s", r.Status)
			}
			fmt.Fprintf(o.w, ", %d attempt(s)", r.Attempts)
			if !r.LastAttempt.IsZero() {
				fmt.Fprintf(o.w, ", last %s", o.when(r.LastAttempt))
			}
			if r.RemoteMTA != "" {
				fmt.Fprintf(o.w, ", remote MTA %s", r.RemoteMTA)
			}
			fmt.Fprintln(o.w)
			if r.LastError != "" {
				fmt.Fprintf(o.w, "        last error: %s\n", oneLine(r.LastError))
			}
		}
	}
	if len(d.Messages) == 0 {
		fmt.Fprintln(o.w, "\nNo messages.")
	}
	if d.Next != "" {
		fmt.Fprintf(o.w, "\n%d of the queue's %s message(s) shown, oldest first; the next ones: mailward queue show %s --after %s\n",
			len(d.Messages), thousands(q.Messages), q.Name, d.Next)
	}
	return nil
}

func (o *queueOut) result(kind string, r *admin.Result) error {
	if o.json {
		return o.encode(r)
	}
	fmt.Fprintf(o.w, "%s %s: %s\n", kind, r.Target, r.Result)
	return nil
}

// spool prints the messages read from the spool directory when the
// server is not running (no next hops: they live in the server's memory).
func (o *queueOut) spool(msgs []queue.View) error {
	if o.json {
		if msgs == nil {
			msgs = []queue.View{}
		}
		return o.encode(msgs)
	}
	for _, m := range msgs {
		fmt.Fprintf(o.w, "%s  from %s, arrived %s", m.ID, orNull(m.From), o.when(m.Arrival))
		if m.Frozen {
			fmt.Fprint(o.w, " [frozen]")
		}
		fmt.Fprintln(o.w)
		for _, r := range m.Recipients {
			fmt.Fprintf(o.w, "    %s  %s", r.Addr, r.State)
			if r.Status != "" {
				fmt.Fprintf(o.w, " %s", r.Status)
			}
			fmt.Fprintf(o.w, ", %d attempt(s)\n", r.Attempts)
			if r.LastError != "" {
				fmt.Fprintf(o.w, "        last error: %s\n", oneLine(r.LastError))
			}
		}
	}
	fmt.Fprintf(o.w, "%d message(s) queued\n", len(msgs))
	return nil
}

// when shows a time in local time, with how far it is from now.
func (o *queueOut) when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	loc := o.loc
	if loc == nil {
		loc = time.Local
	}
	s := t.In(loc).Format("2006-01-02 15:04:05")
	d := t.Sub(o.now).Round(time.Second)
	switch {
	case d > 0:
		return s + " (in " + shortDuration(d) + ")"
	case d < 0:
		return s + " (" + shortDuration(-d) + " ago)"
	}
	return s + " (now)"
}

// shortDuration is "1h" rather than "1h0m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// oneLine keeps a multi-line reply on the error's own line, and a remote
// server's control characters off the administrator's terminal.
func oneLine(s string) string {
	return strings.Map(func(c rune) rune {
		if c < ' ' || c == 0x7f {
			return ' '
		}
		return c
	}, s)
}

func orNull(s string) string {
	if s == "" {
		return "<>"
	}
	return s
}

// found prints the messages find matched, each with all its recipients
// whatever their queue.
func (o *queueOut) found(f *admin.Found) error {
	if o.json {
		return o.encode(f)
	}
	for _, m := range f.Messages {
		fmt.Fprintf(o.w, "%s  from %s, %s, arrived %s", m.ID, orNull(m.From), size(m.Size), o.when(m.Arrival))
		if m.InFlight {
			fmt.Fprint(o.w, " [being delivered now]")
		}
		if m.Frozen {
			fmt.Fprint(o.w, " [frozen]")
		}
		fmt.Fprintln(o.w)
		if m.Subject != "" {
			fmt.Fprintf(o.w, "    subject: %s\n", oneLine(m.Subject))
		}
		for _, r := range m.Recipients {
			fmt.Fprintf(o.w, "    %s  %s", r.Addr, r.State)
			if r.Status != "" {
				fmt.Fprintf(o.w, " %s", r.Status)
			}
			if r.State == queue.Pending.String() {
				q := r.Hop
				if q == "" {
					q = admin.SubmissionQueue
				}
				fmt.Fprintf(o.w, " in queue %s", q)
			}
			fmt.Fprintf(o.w, ", %d attempt(s)\n", r.Attempts)
		}
	}
	if len(f.Messages) < f.Total {
		fmt.Fprintf(o.w, "%d of %s matching message(s) shown, oldest first\n", len(f.Messages), thousands(f.Total))
		return nil
	}
	fmt.Fprintf(o.w, "%d matching message(s)\n", f.Total)
	return nil
}

// size is a message size as an administrator reads it: 512 B, 1.5 KiB,
// 12.0 MiB.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, u := float64(n)/unit, 0
	for v >= unit && u < 3 {
		v /= unit
		u++
	}
	return fmt.Sprintf("%.1f %s", v, []string{"KiB", "MiB", "GiB", "TiB"}[u])
}

// age is how long ago t was ("-" for none): the age of a queue's oldest
// message.
func (o *queueOut) age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := o.now.Sub(t).Round(time.Second)
	if d < 0 {
		d = 0
	}
	return shortDuration(d)
}
