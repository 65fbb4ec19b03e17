package queue

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The delivery queues of outcomes the categorizer decides itself: a
// distribution group expanded (its success notice says "expanded", RFC
// 3464 §2.3.3), a mailbox forwarded to its alternate recipient.
const (
	ExpandedHop  = "expanded"
	ForwardedHop = "forwarded"
)

// Expansion is what the categorizer decided about one recipient that
// brings others: a distribution group's members, or a mailbox's
// alternate recipient (docs/categorizer.md).
type Expansion struct {
	// Index is the recipient expanded or forwarded.
	Index int
	// Add are the recipients it brings; they get the next indexes, in
	// order, and are pending.
	Add []Recipient
	// Forwarded marks recipient Index's alternate as applied.
	Forwarded bool
}

// Expand records expansions durably, in one write and one fsync of the
// message's state file, before anything is delivered to the recipients
// they add: a crash before it returns leaves the message as it was (the
// expansion is done again, the same way), a crash after finds the added
// recipients with the indexes they were delivered under, so nobody gets a
// second copy (deliver.Maildir names each copy by queue ID and index).
// The added recipients are appended to m.Env.Recipients and m.Status.
func (q *Queue) Expand(m *Message, exps []Expansion) error {
	if len(exps) == 0 {
		return nil
	}
	var lines []string
	for _, x := range exps {
		line, err := expansionLine(x)
		if err != nil {
			return fmt.Errorf("queue: expansion of %s: %w", m.Env.ID, err)
		}
		lines = append(lines, line)
	}
	if err := q.appendState(m, lines); err != nil {
		return fmt.Errorf("queue: expansion of %s: %w", m.Env.ID, err)
	}
	m.mu.Lock()
	for _, x := range exps {
		m.applyExpansion(x)
	}
	hops := m.shares()
	m.mu.Unlock()
	q.tally.set(m, hops)
	return nil
}

// applyExpansion adds an expansion to the message in memory (m.mu held,
// or m not yet shared).
func (m *Message) applyExpansion(x Expansion) {
	if x.Index >= 0 && x.Index < len(m.Env.Recipients) && x.Forwarded {
		m.Env.Recipients[x.Index].Forwarded = true
	}
	m.Env.Recipients = append(m.Env.Recipients, x.Add...)
	m.Status = append(m.Status, make([]RcptStatus, len(x.Add))...)
}

// expansionLine is the state file's record of an expansion:
//
//	x <index> <json of the added recipients> [fw]
//
// One line, so that a crash leaves it whole or torn; a torn last line
// is ignored, as for any record.
func expansionLine(x Expansion) (string, error) {
	add := x.Add
	if add == nil {
		add = []Recipient{}
	}
	b, err := json.Marshal(add)
	if err != nil {
		return "", err
	}
	if strings.ContainsAny(string(b), "\r\n") {
		return "", fmt.Errorf("recipient with a line break")
	}
	line := "x " + strconv.Itoa(x.Index) + " " + string(b)
	if x.Forwarded {
		line += " fw"
	}
	return line + "\n", nil
}

// parseExpansion reads an x record back; ok is false for a torn or
// foreign line.
func parseExpansion(line string) (Expansion, bool) {
	rest, ok := strings.CutPrefix(line, "x ")
	if !ok {
		return Expansion{}, false
	}
	idx, rest, ok := strings.Cut(rest, " ")
	i, err := strconv.Atoi(idx)
	if !ok || err != nil {
		return Expansion{}, false
	}
	x := Expansion{Index: i}
	if r, cut := strings.CutSuffix(rest, " fw"); cut {
		rest, x.Forwarded = r, true
	}
	if err := json.Unmarshal([]byte(rest), &x.Add); err != nil {
		return Expansion{}, false
	}
	return x, true
}
