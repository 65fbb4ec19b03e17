package filter

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestIPList(t *testing.T) {
	l, err := ParseIPList([]string{"192.0.2.0/24", "198.51.100.7", "2001:db8::/32", "10.1.2.3/8"})
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]string{
		"192.0.2.200": "192.0.2.0/24", "198.51.100.7": "198.51.100.7/32", "198.51.100.8": "",
		"2001:db8::25": "2001:db8::/32", "::ffff:192.0.2.1": "192.0.2.0/24", "10.200.0.1": "10.0.0.0/8",
	} {
		p, ok := l.Match(addr(ip))
		if got := ""; ok {
			got = p.String()
			if got != want {
				t.Errorf("%s matched %s, want %q", ip, got, want)
			}
		} else if want != "" {
			t.Errorf("%s matched nothing, want %s", ip, want)
		}
	}
	if _, err := ParseIPList([]string{"192.0.2.0/33"}); err == nil {
		t.Error("a /33 parsed")
	}
	if _, err := ParseIPList([]string{"example.test"}); err == nil || err.Error() != `entry "example.test" is not an IP address or a CIDR network` {
		t.Errorf("a name: %v", err)
	}
}

func TestProviderCounts(t *testing.T) {
	any := Provider{Name: "any", Zone: "bl.test"}
	exact := Provider{Name: "exact", Zone: "bl.test", Codes: []netip.Addr{addr("127.0.0.2"), addr("127.0.0.4")}}
	mask := Provider{Name: "mask", Zone: "bl.test", Bitmask: 0x0c} // 4 | 8
	both := Provider{Name: "both", Zone: "bl.test", Codes: []netip.Addr{addr("127.0.0.2")}, Bitmask: 0x08}
	cases := []struct {
		p    Provider
		code string
		want bool
	}{
		{any, "127.0.0.2", true}, {any, "127.0.0.11", true}, {any, "10.0.0.2", false},
		{any, "127.255.255.254", false}, {any, "127.255.255.252", false},
		{exact, "127.0.0.2", true}, {exact, "127.0.0.4", true}, {exact, "127.0.0.3", false}, {exact, "127.0.0.10", false},
		{mask, "127.0.0.4", true}, {mask, "127.0.0.8", true}, {mask, "127.0.0.12", true}, {mask, "127.0.0.2", false},
		{mask, "127.0.0.3", false}, {mask, "127.0.0.66", false}, {mask, "127.255.255.255", false},
		{both, "127.0.0.2", true}, {both, "127.0.0.8", true}, {both, "127.0.0.4", false},
		{any, "::1", false},
	}
	for _, c := range cases {
		if got := c.p.Counts(addr(c.code)); got != c.want {
			t.Errorf("%s counts %s: %v, want %v", c.p.Name, c.code, got, c.want)
		}
	}
}

func TestQueryName(t *testing.T) {
	p := Provider{Zone: "bl.example.test."}
	for ip, want := range map[string]string{
		"127.0.0.2":        "2.0.0.127.bl.example.test.",
		"192.0.2.99":       "99.2.0.192.bl.example.test.",
		"::ffff:192.0.2.1": "1.2.0.192.bl.example.test.",
		// RFC 5782 §2.4's example.
		"2001:db8:1:2:3:4:567:89ab": "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.example.test.",
	} {
		if got := p.QueryName(addr(ip)); got != want {
			t.Errorf("%s: %s, want %s", ip, got, want)
		}
	}
}

// fakeResolver answers from a table and counts the queries it gets.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string]Answer
	errs    map[string]error
	block   chan struct{} // when set, queries wait for it or the context
	asked   map[string]int
}

func (f *fakeResolver) LookupA(ctx context.Context, name string) (Answer, error) {
	f.mu.Lock()
	if f.asked == nil {
		f.asked = map[string]int{}
	}
	f.asked[name]++
	a, err, block := f.answers[name], f.errs[name], f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return Answer{}, ctx.Err()
		}
	}
	return a, err
}

func (f *fakeResolver) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked[name]
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLookupCachesByTTL(t *testing.T) {
	const listed, clean, nosoa, failing = "2.0.0.127.bl.test.", "1.0.0.127.bl.test.", "3.0.0.127.bl.test.", "4.0.0.127.bl.test."
	f := &fakeResolver{answers: map[string]Answer{
		listed: {Addrs: []netip.Addr{addr("127.0.0.2")}, TTL: 30 * time.Second, HasTTL: true},
		clean:  {TTL: 10 * time.Second, HasTTL: true}, // NXDOMAIN with an SOA
		nosoa:  {},                                    // NXDOMAIN without one
	}, errs: map[string]error{failing: errors.New("SERVFAIL")}}
	c := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := NewLookup(f)
	l.Now, l.NegativeTTL, l.MaxTTL = c.now, time.Minute, 2*time.Hour
	ctx := context.Background()
	ask := func(name string) {
		t.Helper()
		if _, err := l.Query(ctx, name); err != nil && name != failing {
			t.Fatal(err)
		}
	}
	for _, n := range []string{listed, clean, nosoa, failing} {
		ask(n)
		ask(n)
	}
	if f.count(listed) != 1 || f.count(clean) != 1 || f.count(nosoa) != 1 {
		t.Fatalf("second queries not answered from the cache: %v", f.asked)
	}
	if f.count(failing) != 2 {
		t.Errorf("a failure was cached: asked %d times", f.count(failing))
	}
	c.t = c.t.Add(10 * time.Second) // the SOA's negative TTL is over
	ask(clean)
	ask(listed)
	if f.count(clean) != 2 || f.count(listed) != 1 {
		t.Errorf("after 10s: clean asked %d (want 2), listed %d (want 1)", f.count(clean), f.count(listed))
	}
	c.t = c.t.Add(20 * time.Second) // the A record's TTL is over
	ask(listed)
	ask(nosoa)
	if f.count(listed) != 2 || f.count(nosoa) != 1 {
		t.Errorf("after 30s: listed asked %d (want 2), no-SOA %d (want 1: kept for negative_ttl)", f.count(listed), f.count(nosoa))
	}
	c.t = c.t.Add(30 * time.Second) // negative_ttl (1m) is over
	ask(nosoa)
	if f.count(nosoa) != 2 {
		t.Errorf("after 1m: the answer without SOA asked %d times, want 2", f.count(nosoa))
	}
}

func TestLookupBounds(t *testing.T) {
	f := &fakeResolver{answers: map[string]Answer{
		"long.": {Addrs: []netip.Addr{addr("127.0.0.2")}, TTL: 48 * time.Hour, HasTTL: true},
		"zero.": {Addrs: []netip.Addr{addr("127.0.0.2")}, TTL: 0, HasTTL: true},
	}}
	c := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := NewLookup(f)
	l.Now = c.now
	l.Query(context.Background(), "long.")
	l.Query(context.Background(), "zero.")
	if _, ok := l.Cached("zero."); ok {
		t.Error("a TTL of 0 was cached")
	}
	c.t = c.t.Add(DefaultMaxTTL - time.Second)
	if _, ok := l.Cached("long."); !ok {
		t.Error("gone before max TTL")
	}
	c.t = c.t.Add(time.Second)
	if _, ok := l.Cached("long."); ok {
		t.Error("a 48h TTL kept past the 1h bound")
	}
	l.MaxEntries = 10
	for i := range 100 {
		l.store(string(rune('a'+i%26))+string(rune('a'+i/26))+".", Answer{HasTTL: true, TTL: time.Minute})
	}
	if n := l.Len(); n > 10 {
		t.Errorf("cache holds %d entries, bound 10", n)
	}
}

func TestAnswerFromDNS(t *testing.T) {
	pos := new(dns.Msg)
	pos.SetQuestion("2.0.0.127.bl.test.", dns.TypeA)
	a1, _ := dns.NewRR("2.0.0.127.bl.test. 2100 IN A 127.0.0.2")
	a2, _ := dns.NewRR("2.0.0.127.bl.test. 300 IN A 127.0.0.4")
	pos.Answer = []dns.RR{a1, a2}
	got, err := answer(pos)
	if err != nil || len(got.Addrs) != 2 || got.TTL != 300*time.Second || !got.HasTTL {
		t.Errorf("positive: %+v, %v", got, err)
	}
	neg := new(dns.Msg)
	neg.Rcode = dns.RcodeNameError
	soa, _ := dns.NewRR("bl.test. 3600 IN SOA ns.bl.test. hostmaster.bl.test. 1 3600 600 86400 120")
	neg.Ns = []dns.RR{soa}
	got, err = answer(neg)
	if err != nil || len(got.Addrs) != 0 || got.TTL != 120*time.Second {
		t.Errorf("NXDOMAIN with SOA: %+v, %v (want TTL 2m, the SOA minimum)", got, err)
	}
	neg.Ns = nil
	got, err = answer(neg)
	if err != nil || got.HasTTL {
		t.Errorf("NXDOMAIN without SOA: %+v, %v", got, err)
	}
	fail := new(dns.Msg)
	fail.Rcode = dns.RcodeServerFailure
	if _, err := answer(fail); err == nil || err.Error() != "DNS server answered SERVFAIL" {
		t.Errorf("SERVFAIL: %v", err)
	}
}

func TestCheck(t *testing.T) {
	f := &fakeResolver{answers: map[string]Answer{
		"2.0.0.127.one.test.": {Addrs: []netip.Addr{addr("127.0.0.3")}, TTL: time.Minute, HasTTL: true},
		"2.0.0.127.two.test.": {Addrs: []netip.Addr{addr("127.0.0.2")}, TTL: time.Minute, HasTTL: true},
		"3.0.0.127.one.test.": {Addrs: []netip.Addr{addr("127.255.255.254")}, TTL: time.Minute, HasTTL: true},
	}, errs: map[string]error{"3.0.0.127.two.test.": errors.New("i/o timeout")}}
	c := &Connection{Lookup: NewLookup(f), Timeout: time.Second, Providers: []Provider{
		{Name: "one", Zone: "one.test", Codes: []netip.Addr{addr("127.0.0.2")}},
		{Name: "two", Zone: "two.test"},
	}, Accept: IPList{netip.MustParsePrefix("127.0.0.9/32")}}
	ctx := context.Background()
	r := c.Start(ctx, addr("127.0.0.2")).Wait()
	if r.Listed == nil || r.Listed.Name != "two" || r.Code != addr("127.0.0.2") || len(r.Failed) != 0 {
		t.Errorf("127.0.0.2: %+v (one answers a code that does not count, two lists it)", r)
	}
	if got := c.Refusal(addr("127.0.0.2"), r).String(); got != "550 5.7.1 Service unavailable; client [127.0.0.2] blocked using two.test (127.0.0.2)" {
		t.Errorf("refusal: %s", got)
	}
	r = c.Start(ctx, addr("127.0.0.3")).Wait()
	if r.Listed != nil || len(r.Failed) != 2 || r.Error() != "one: the list refused the query (answer 127.255.255.254); two: i/o timeout" {
		t.Errorf("127.0.0.3: %+v, %q", r, r.Error())
	}
	if r := c.Start(ctx, addr("127.0.0.4")).Wait(); r.Listed != nil || len(r.Failed) != 0 {
		t.Errorf("127.0.0.4 (in no list): %+v", r)
	}
	if c.Start(ctx, addr("127.0.0.9")) != nil {
		t.Error("an address on the accept list was looked up")
	}
	// The answers for 127.0.0.2 are cached now: a finished Check, no query.
	before := f.count("2.0.0.127.two.test.")
	ch := c.Start(ctx, addr("127.0.0.2"))
	select {
	case <-ch.done:
	default:
		t.Error("a Check over cached answers is not finished at once")
	}
	if f.count("2.0.0.127.two.test.") != before {
		t.Error("a cached answer was asked again")
	}
}

func TestCheckTimeout(t *testing.T) {
	f := &fakeResolver{block: make(chan struct{})}
	defer close(f.block)
	c := &Connection{Lookup: NewLookup(f), Timeout: 50 * time.Millisecond, Providers: []Provider{{Name: "slow", Zone: "slow.test"}}}
	done := make(chan Result)
	go func() { done <- c.Start(context.Background(), addr("192.0.2.1")).Wait() }()
	select {
	case r := <-done:
		if r.Listed != nil || len(r.Failed) != 1 || !errors.Is(r.Failed[0].Err, context.DeadlineExceeded) {
			t.Errorf("timed-out lookup: %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not end at the lookup timeout")
	}
}

func TestExpandAndTemplates(t *testing.T) {
	p := Provider{Name: "zen", Zone: "zen.spamhaus.example."}
	got := Expand("{ip} is on {provider} ({zone}) with {code}; {ip} again", addr("192.0.2.1"), p, addr("127.0.0.4"))
	if got != "192.0.2.1 is on zen (zen.spamhaus.example) with 127.0.0.4; 192.0.2.1 again" {
		t.Errorf("Expand: %q", got)
	}
	if err := CheckTemplate(DefaultMessage); err != nil {
		t.Error(err)
	}
	if err := CheckTemplate("listed by {list}"); err == nil || err.Error() != `message "listed by {list}": unknown placeholder {list} (known: {ip} {provider} {zone} {code})` {
		t.Errorf("unknown placeholder: %v", err)
	}
	if err := CheckTemplate("two\r\nlines"); err == nil {
		t.Error("a line break passed")
	}
}

func TestExceptions(t *testing.T) {
	c := &Connection{Exceptions: []string{"postmaster", "abuse@example.test"}}
	for rcpt, want := range map[[2]string]bool{
		{"postmaster", "example.test"}: true, {"PostMaster", "other.test"}: true,
		{"abuse", "example.test"}: true, {"Abuse", "EXAMPLE.test"}: true, {"abuse", "other.test"}: false,
		{"alice", "example.test"}: false,
	} {
		if got := c.Excepted(rcpt[0], rcpt[1]); got != want {
			t.Errorf("%s@%s excepted: %v, want %v", rcpt[0], rcpt[1], got, want)
		}
	}
}

func TestSenderMatch(t *testing.T) {
	s := &Sender{Blocked: []string{"spammer@bad.test", "*@junk.test", "*@*.spam.test"}}
	for from, want := range map[string]string{
		"spammer@bad.test": "spammer@bad.test", "Spammer@Bad.Test": "spammer@bad.test", "other@bad.test": "",
		"anyone@junk.test": "*@junk.test", "anyone@sub.junk.test": "",
		"x@a.spam.test": "*@*.spam.test", "x@a.b.spam.test": "*@*.spam.test", "x@spam.test": "", "x@notspam.test": "",
		"": "",
	} {
		p, ok := s.Match(from)
		if ok != (want != "") || p != want && ok {
			t.Errorf("%q: %q %v, want %q", from, p, ok, want)
		}
	}
	s.RefuseNull = true
	if p, ok := s.Match(""); !ok || p != NullPattern {
		t.Errorf("null sender with RefuseNull: %q %v", p, ok)
	}
	for p, want := range map[string]bool{"a@b.test": true, "*@b.test": true, "*@*.b.test": true,
		"a*@b.test": false, "*@b.*.test": false, "b.test": false, "@b.test": false, "a@": false, "*@**.b": false} {
		if got := CheckPattern(p) == ""; got != want {
			t.Errorf("CheckPattern(%q) ok=%v, want %v (%s)", p, got, want, CheckPattern(p))
		}
	}
}

func TestDenied(t *testing.T) {
	pfx := func(s ...string) IPList {
		l, err := ParseIPList(s)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	c := &Connection{Deny: pfx("192.0.2.0/24"), Accept: pfx("192.0.2.7")}
	for ip, want := range map[string]string{
		"192.0.2.1":    "the address is in 192.0.2.0/24 of the deny list",
		"192.0.2.7":    "", // accept wins
		"198.51.100.1": "",
	} {
		if why, _ := c.Denied(addr(ip)); why != want {
			t.Errorf("deny list, %s: %q, want %q", ip, why, want)
		}
	}
	c = &Connection{Grant: pfx("10.0.0.0/8"), Deny: pfx("10.9.0.0/16"), Accept: pfx("192.0.2.7")}
	for ip, want := range map[string]string{
		"10.1.2.3":  "",
		"10.9.1.1":  "the address is in 10.9.0.0/16 of the deny list",
		"192.0.2.1": "the address is not in the grant list",
		"192.0.2.7": "", // accept wins over grant too
	} {
		if why, _ := c.Denied(addr(ip)); why != want {
			t.Errorf("grant list, %s: %q, want %q", ip, why, want)
		}
	}
}
