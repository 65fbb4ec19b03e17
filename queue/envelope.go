package queue

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Magic is the first line of every queue file; the number is the format
// version (docs/queue.md).
const Magic = "MAILWARD-QUEUE 1"

// Recipient is one envelope recipient with its DSN parameters (RFC 3461),
// and, for a recipient the categorizer added (a group's member, an
// alternate recipient), how it came to be (docs/categorizer.md).
type Recipient struct {
	Addr   string
	ORCPT  string // original recipient, "rfc822;addr" as given; "" when none
	Notify string // "" (default: failures), "NEVER", or e.g. "SUCCESS,FAILURE,DELAY"

	// ExpandedFrom lists the groups this recipient was reached through,
	// outermost first: expansion is done, never again downstream.
	ExpandedFrom []string `json:"g,omitempty"`
	// ForwardedFrom lists the mailboxes whose alternate recipient this
	// is, first first (a forwarding chain; a loop ends it).
	ForwardedFrom []string `json:"f,omitempty"`
	// Forwarded: this mailbox's alternate recipient is already applied
	// (here or upstream), so it is not applied again.
	Forwarded bool `json:"fw,omitempty"`
	// ReportTo is where the reports about this recipient go: "" the
	// sender, an address (a group's owner), or "-" nobody (a group whose
	// delivery reports are off).
	ReportTo string `json:"rt,omitempty"`
	// Hidden is the group with hidden membership this recipient was
	// reached through: a report names that group, never the member.
	Hidden string `json:"h,omitempty"`
	// Journal makes this a journal recipient (journal.go): it gets the
	// envelope journal report, not the message.
	Journal *JournalEnvelope `json:"j,omitempty"`
	// Replica is the shared folder a replica recipient replicates to its
	// server's store, under ReplicationID (docs/shared-folders.md).
	Replica       string `json:"rp,omitempty"`
	ReplicationID string `json:"ri,omitempty"`
}

// Envelope is everything about a message that is not its content.
type Envelope struct {
	ID            string
	Arrival       time.Time
	From          string // "" is the null reverse-path <>
	Recipients    []Recipient
	ClientIP      string
	Helo          string
	VirtualServer string
	AuthUser      string
	EnvID         string // RFC 3461 ENVID
	Ret           string // RFC 3461 RET: "", "FULL" or "HDRS"
	Body          string // "7BIT", "8BITMIME"
	SMTPUTF8      bool
	// OrgProps is the XEXCH50 blob an organization peer attached
	// (orgauth.Props, docs/xexch50.md); nil when none.
	OrgProps []byte
	// JournalChecked: journaling was decided when the message was
	// received, and its journal recipients (if any) are among Recipients,
	// written in the same commit as the message (docs/journaling.md).
	JournalChecked bool
	// SCL is the spam confidence level given at receipt (-1 to 9;
	// docs/filtering.md); nil when unknown (not scanned).
	SCL *int
	// MessageID is the header's Message-ID as the receive side read it
	// (message.NoMessageID: none), for the events (docs/tracking.md). It
	// is not written to the queue file: Message.MessageID reads it from
	// the header when it is empty.
	MessageID string
}

// NotifyOn reports whether recipient i asked for a notice of kind
// ("FAILURE", "DELAY", "SUCCESS"). Without NOTIFY, RFC 3461 §4.1 leaves it
// to us: failures and delays are reported, success is not.
func (e *Envelope) NotifyOn(i int, kind string) bool {
	n := strings.ToUpper(e.Recipients[i].Notify)
	if n == "" {
		return kind != "SUCCESS"
	}
	for _, k := range strings.Split(n, ",") {
		if k == kind {
			return true
		}
	}
	return false
}

// clean refuses values that would break the line format. The SMTP layer
// never produces them; this is a guard against a programming slip.
func clean(key, v string) error {
	if strings.ContainsAny(v, "\r\n\x00") {
		return fmt.Errorf("queue: envelope %s contains a line break or NUL", key)
	}
	return nil
}

// encodeEnvelope renders the envelope block: one "key value" line each,
// ended by an empty line, after which the message follows.
func encodeEnvelope(e *Envelope) (string, error) {
	var b strings.Builder
	put := func(k, v string) error {
		if err := clean(k, v); err != nil {
			return err
		}
		b.WriteString(k)
		b.WriteByte(' ')
		b.WriteString(v)
		b.WriteByte('\n')
		return nil
	}
	b.WriteString(Magic + "\n")
	fields := [][2]string{
		{"id", e.ID}, {"arrival", strconv.FormatInt(e.Arrival.UnixNano(), 10)},
		{"from", e.From}, {"client", e.ClientIP}, {"helo", e.Helo}, {"virtual_server", e.VirtualServer},
		{"auth", e.AuthUser}, {"envid", e.EnvID}, {"ret", e.Ret}, {"body", e.Body},
		{"smtputf8", strconv.FormatBool(e.SMTPUTF8)},
	}
	for _, f := range fields {
		if err := put(f[0], f[1]); err != nil {
			return "", err
		}
	}
	if e.OrgProps != nil {
		put("xexch50", base64.StdEncoding.EncodeToString(e.OrgProps))
	}
	if e.JournalChecked {
		put("journal_checked", "true")
	}
	if e.SCL != nil {
		put("scl", strconv.Itoa(*e.SCL))
	}
	for _, r := range e.Recipients {
		if err := put("rcpt", r.Addr); err != nil {
			return "", err
		}
		if r.ORCPT != "" {
			if err := put("orcpt", r.ORCPT); err != nil {
				return "", err
			}
		}
		if r.Notify != "" {
			if err := put("notify", r.Notify); err != nil {
				return "", err
			}
		}
		if r.Journal != nil {
			if err := putJournal(put, r); err != nil {
				return "", err
			}
		}
	}
	b.WriteByte('\n')
	return b.String(), nil
}

// readEnvelope parses the envelope block and returns the number of bytes
// it took, which is where the message starts.
func readEnvelope(r *bufio.Reader) (*Envelope, int64, error) {
	var n int64
	line, err := r.ReadString('\n')
	n += int64(len(line))
	if err != nil || strings.TrimSuffix(line, "\n") != Magic {
		return nil, 0, fmt.Errorf("not a mailward queue file (want %q)", Magic)
	}
	e := &Envelope{}
	for {
		line, err := r.ReadString('\n')
		n += int64(len(line))
		if err != nil {
			return nil, 0, fmt.Errorf("envelope truncated: %w", err)
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			break
		}
		k, v, _ := strings.Cut(line, " ")
		last := len(e.Recipients) - 1
		switch k {
		case "id":
			e.ID = v
		case "arrival":
			ns, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, 0, fmt.Errorf("bad arrival %q", v)
			}
			e.Arrival = time.Unix(0, ns)
		case "from":
			e.From = v
		case "client":
			e.ClientIP = v
		case "helo":
			e.Helo = v
		case "virtual_server", "virtual server": // "virtual server": files written before 2026-12
			e.VirtualServer = v
		case "auth":
			e.AuthUser = v
		case "envid":
			e.EnvID = v
		case "ret":
			e.Ret = v
		case "body":
			e.Body = v
		case "smtputf8":
			e.SMTPUTF8 = v == "true"
		case "xexch50":
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return nil, 0, fmt.Errorf("bad xexch50 value: %v", err)
			}
			e.OrgProps = b
		case "rcpt":
			e.Recipients = append(e.Recipients, Recipient{Addr: v})
		case "journal_checked":
			e.JournalChecked = v == "true"
		case "scl":
			n, err := strconv.Atoi(v)
			if err != nil || n < -1 || n > 9 {
				return nil, 0, fmt.Errorf("bad scl %q", v)
			}
			e.SCL = &n
		case "journal", "report_to":
			if last < 0 {
				return nil, 0, fmt.Errorf("%s before any rcpt", k)
			}
			if err := readJournal(&e.Recipients[last], k, v); err != nil {
				return nil, 0, err
			}
		case "orcpt", "notify":
			if last < 0 {
				return nil, 0, fmt.Errorf("%s before any rcpt", k)
			}
			if k == "orcpt" {
				e.Recipients[last].ORCPT = v
			} else {
				e.Recipients[last].Notify = v
			}
		default:
			// Unknown keys are kept compatible forward: a newer
			// mailward may add fields; an older one ignores them.
		}
	}
	if e.ID == "" || len(e.Recipients) == 0 {
		return nil, 0, fmt.Errorf("envelope without id or recipients")
	}
	return e, n, nil
}
