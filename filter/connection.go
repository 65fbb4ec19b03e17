// Package filter holds mailward's connection and sender filters as
// plain values (docs/filtering.md): deny and accept lists of networks,
// DNS block lists with their cache, recipient exceptions, and blocked
// senders. The SMTP session asks them; setup builds them from the
// configuration.
package filter

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"mailward/reply"
)

// DefaultMessage is the refusal text for a listed client; {ip},
// {provider}, {zone} and {code} are filled in (Expand). It follows
// Postfix's wording, which administrators search the web for.
const DefaultMessage = "Service unavailable; client [{ip}] blocked using {zone} ({code})"

// Connection is one virtual server's connection filter.
type Connection struct {
	// Deny is refused at connect with 554 5.7.1 (Exchange's global deny
	// list, IIS's connection control).
	Deny IPList
	// Grant, when not empty, is the only clients that may connect; the
	// others are refused at connect as the deny list's are (IIS's
	// connection control, "only the list below").
	Grant IPList
	// Accept is never filtered: neither the grant and deny lists nor
	// the block lists apply to it (Exchange's global accept list).
	Accept IPList
	// Providers are asked in parallel; the first one in this order that
	// lists the client decides the reply.
	Providers []Provider
	Lookup    *Lookup
	// Timeout bounds all lookups of a client, from connect.
	Timeout time.Duration
	// FailOpen accepts a client whose lookups failed (an event says
	// so); otherwise its recipients get 451 4.7.1.
	FailOpen bool
	// Message is the refusal text (DefaultMessage when empty).
	Message string
	// Exceptions are the recipients a listed client may still reach:
	// "postmaster" (a local part: at every domain) or a whole address,
	// lower-case.
	Exceptions []string
}

// Denied reports whether ip is refused at connect, with why for the
// event and the reply: it is in the deny list, or the grant list is set
// and does not hold it. The accept list wins over both.
func (c *Connection) Denied(ip netip.Addr) (why string, denied bool) {
	if _, ok := c.Accept.Match(ip); ok {
		return "", false
	}
	if p, ok := c.Deny.Match(ip); ok {
		return "the address is in " + p.String() + " of the deny list", true
	}
	if _, ok := c.Grant.Match(ip); len(c.Grant) > 0 && !ok {
		return "the address is not in the grant list", true
	}
	return "", false
}

// DenyReply is the answer at connect to a client Denied refuses.
func DenyReply(ip netip.Addr) reply.Reply {
	return reply.New(554, "5.7.1", "Connection refused: client [%s] may not connect to this server", ip)
}

// Excepted reports whether rcpt (local part and domain, as received) is
// one of the exceptions.
func (c *Connection) Excepted(local, domain string) bool {
	l, full := strings.ToLower(local), strings.ToLower(local+"@"+domain)
	for _, e := range c.Exceptions {
		if e == full || (!strings.Contains(e, "@") && e == l) {
			return true
		}
	}
	return false
}

// Result is the outcome of a client's block list lookups.
type Result struct {
	// Listed is the list that names the client, with the answer that
	// counted; nil when none does.
	Listed *Provider
	Code   netip.Addr
	// Failed are the lists that did not answer in time or refused the
	// query; they matter only when no list names the client.
	Failed []Failure
}

// Failure is one list's failed lookup.
type Failure struct {
	Provider string
	Err      error
}

// Error joins the failures for an event.
func (r Result) Error() string {
	var parts []string
	for _, f := range r.Failed {
		parts = append(parts, f.Provider+": "+f.Err.Error())
	}
	return strings.Join(parts, "; ")
}

// Check is a client's lookups, started at connect so that its first
// RCPT rarely waits (as postscreen and Exchange do).
type Check struct {
	done chan struct{}
	res  Result
}

// Wait returns the result, waiting at most until the Timeout counted
// from Start has passed.
func (ch *Check) Wait() Result {
	<-ch.done
	return ch.res
}

// Start begins the lookups of ip in every list. It returns nil when
// there is nothing to ask: no lists, or ip on the accept list. Answers
// all in the cache make a finished Check without a goroutine.
func (c *Connection) Start(ctx context.Context, ip netip.Addr) *Check {
	if len(c.Providers) == 0 || c.Lookup == nil {
		return nil
	}
	if _, ok := c.Accept.Match(ip); ok {
		return nil
	}
	ch := &Check{done: make(chan struct{})}
	answers := make([]Answer, len(c.Providers))
	names := make([]string, len(c.Providers))
	all := true
	for i, p := range c.Providers {
		names[i] = p.QueryName(ip)
		a, ok := c.Lookup.Cached(names[i])
		answers[i], all = a, all && ok
	}
	if all {
		ch.res = c.judge(answers, make([]error, len(c.Providers)))
		close(ch.done)
		return ch
	}
	go func() {
		defer close(ch.done)
		ctx, cancel := context.WithTimeout(ctx, c.Timeout)
		defer cancel()
		errs := make([]error, len(c.Providers))
		var wg sync.WaitGroup
		for i, name := range names {
			wg.Go(func() { answers[i], errs[i] = c.Lookup.Query(ctx, name) })
		}
		wg.Wait()
		ch.res = c.judge(answers, errs)
	}()
	return ch
}

// judge combines the lists' answers in configuration order.
func (c *Connection) judge(answers []Answer, errs []error) Result {
	var r Result
	for i := range c.Providers {
		p := &c.Providers[i]
		if errs[i] != nil {
			r.Failed = append(r.Failed, Failure{p.Name, errs[i]})
			continue
		}
		for _, a := range answers[i].Addrs {
			if refusal(a) {
				r.Failed = append(r.Failed, Failure{p.Name, fmt.Errorf("the list refused the query (answer %s)", a)})
				break
			}
		}
		if r.Listed != nil {
			continue
		}
		for _, a := range answers[i].Addrs {
			if p.Counts(a) {
				r.Listed, r.Code = p, a
				break
			}
		}
	}
	return r
}

// Refusal is the answer to a listed client's RCPT.
func (c *Connection) Refusal(ip netip.Addr, r Result) reply.Reply {
	tmpl := c.Message
	if r.Listed.Message != "" {
		tmpl = r.Listed.Message
	}
	if tmpl == "" {
		tmpl = DefaultMessage
	}
	return reply.New(550, "5.7.1", "%s", Expand(tmpl, ip, *r.Listed, r.Code))
}

// LookupFailedReply is the answer to RCPT when the lookups failed and
// the filter fails closed.
func LookupFailedReply(ip netip.Addr) reply.Reply {
	return reply.New(451, "4.7.1", "Service temporarily unavailable; block list lookup of [%s] failed, try again later", ip)
}

// Placeholders are the words Expand fills in.
var Placeholders = []string{"{ip}", "{provider}", "{zone}", "{code}"}

// Expand fills a refusal text's placeholders: {ip} the client address,
// {provider} the list's name, {zone} its zone, {code} the answer that
// counted.
func Expand(tmpl string, ip netip.Addr, p Provider, code netip.Addr) string {
	return strings.NewReplacer("{ip}", ip.String(), "{provider}", p.Name, "{zone}", strings.TrimSuffix(p.Zone, "."),
		"{code}", code.String()).Replace(tmpl)
}

// CheckTemplate reports an unknown {placeholder} or a line break in a
// refusal text, for config check.
func CheckTemplate(tmpl string) error {
	if strings.ContainsAny(tmpl, "\r\n") {
		return fmt.Errorf("message %q: a reply text is one line", tmpl)
	}
	rest := tmpl
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return nil
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil
		}
		word := rest[i : i+j+1]
		known := false
		for _, p := range Placeholders {
			known = known || p == word
		}
		if !known {
			return fmt.Errorf("message %q: unknown placeholder %s (known: %s)", tmpl, word, strings.Join(Placeholders, " "))
		}
		rest = rest[i+j+1:]
	}
}
