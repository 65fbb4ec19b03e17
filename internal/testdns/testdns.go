// Package testdns is a real DNS server on a loopback port for tests: MX,
// A/AAAA and TXT records that a test sets and changes while mail flows,
// NXDOMAIN for unknown names, SERVFAIL on demand. Point a resolver at
// Server.Addr (deliver.NewResolver does).
package testdns

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// MX is one MX record. Host "." is a null MX (RFC 7505).
type MX struct {
	Pref uint16
	Host string
}

type entry struct {
	mx   []MX
	a    []net.IP // IPv4
	aaaa []net.IP // IPv6
	txt  []string
}

// Server answers UDP and TCP queries on the same loopback port.
type Server struct {
	Addr string // "127.0.0.1:port"

	mu       sync.RWMutex
	names    map[string]*entry // canonical (lower-case, fully-qualified) name
	servfail map[string]bool

	udp, tcp *dns.Server
}

// ttl is short: the Go resolver does not cache, but anything else
// pointed at us should not keep answers past a test's change.
const ttl = 1

// Start listens on a free loopback port, UDP and TCP alike.
func Start() (*Server, error) {
	s := &Server{names: map[string]*entry{}, servfail: map[string]bool{}}
	var lastErr error
	// The UDP port chosen by the kernel may be taken for TCP: try a few.
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("testdns: %w", err)
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			lastErr = err
			continue
		}
		s.Addr = pc.LocalAddr().String()
		h := dns.HandlerFunc(s.serve)
		s.udp = &dns.Server{PacketConn: pc, Handler: h}
		s.tcp = &dns.Server{Listener: l, Handler: h}
		if err := s.activate(); err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("testdns: no free port for both UDP and TCP: %w", lastErr)
}

// activate starts both servers and waits until they serve.
func (s *Server) activate() error {
	started := make(chan struct{}, 2)
	failed := make(chan error, 2)
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		srv.NotifyStartedFunc = func() { started <- struct{}{} }
		go func() {
			if err := srv.ActivateAndServe(); err != nil {
				failed <- err
			}
		}()
	}
	timeout := time.After(5 * time.Second)
	for n := 0; n < 2; {
		select {
		case <-started:
			n++
		case err := <-failed:
			return fmt.Errorf("testdns: %w", err)
		case <-timeout:
			return errors.New("testdns: server did not start within 5s")
		}
	}
	return nil
}

// Close stops both listeners.
func (s *Server) Close() {
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		if srv != nil {
			srv.Shutdown()
		}
	}
}

func canon(name string) string { return dns.CanonicalName(strings.TrimSpace(name)) }

// get returns the entry of a name, creating it. Callers hold mu.
func (s *Server) get(name string) *entry {
	n := canon(name)
	e, ok := s.names[n]
	if !ok {
		e = &entry{}
		s.names[n] = e
	}
	return e
}

// SetMX replaces the MX records of domain (none: the name exists
// without MX). Host "." is a null MX.
func (s *Server) SetMX(domain string, mx ...MX) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.get(domain).mx = append([]MX(nil), mx...)
}

// SetA replaces the addresses of host: A for IPv4, AAAA for IPv6. It
// panics on something that is not an IP address (a mistake in a test).
func (s *Server) SetA(host string, ips ...string) {
	var a, aaaa []net.IP
	for _, v := range ips {
		ip := net.ParseIP(v)
		switch {
		case ip == nil:
			panic(fmt.Sprintf("testdns: SetA(%q): %q is not an IP address", host, v))
		case ip.To4() != nil:
			a = append(a, ip.To4())
		default:
			aaaa = append(aaaa, ip)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.get(host)
	e.a, e.aaaa = a, aaaa
}

// SetTXT replaces the TXT records of name, one record per argument.
func (s *Server) SetTXT(name string, txt ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.get(name).txt = append([]string(nil), txt...)
}

// SetServFail makes every query for name answer SERVFAIL (on) or
// answer normally again (off). It does not create or remove the name.
func (s *Server) SetServFail(name string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.servfail[canon(name)] = true
	} else {
		delete(s.servfail, canon(name))
	}
}

// Remove deletes every record of name: it answers NXDOMAIN from now on.
func (s *Server) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.names, canon(name))
}

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	if req.Opcode != dns.OpcodeQuery || len(req.Question) != 1 {
		m.SetRcode(req, dns.RcodeNotImplemented)
		w.WriteMsg(m)
		return
	}
	m.SetReply(req)
	// Authoritative: the Go resolver takes an empty, non-authoritative
	// answer without recursion for a lame referral, not "no records".
	m.Authoritative = true
	m.RecursionAvailable = true
	q := req.Question[0]
	name := canon(q.Name)

	s.mu.RLock()
	fail := s.servfail[name]
	e, known := s.names[name]
	if known && !fail {
		m.Answer = e.answer(q)
	}
	s.mu.RUnlock()

	switch {
	case fail:
		m.Rcode = dns.RcodeServerFailure
	case !known:
		m.Rcode = dns.RcodeNameError
	}
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
		m.SetEdns0(uint16(size), false)
	}
	if w.LocalAddr().Network() == "udp" {
		m.Truncate(size) // sets TC: the resolver retries over TCP
	}
	w.WriteMsg(m)
}

// answer builds the records of e that answer q. Callers hold mu.
func (e *entry) answer(q dns.Question) []dns.RR {
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	var rrs []dns.RR
	switch q.Qtype {
	case dns.TypeMX:
		for _, mx := range e.mx {
			rrs = append(rrs, &dns.MX{Hdr: hdr(dns.TypeMX), Preference: mx.Pref, Mx: dns.Fqdn(mx.Host)})
		}
	case dns.TypeA:
		for _, ip := range e.a {
			rrs = append(rrs, &dns.A{Hdr: hdr(dns.TypeA), A: ip})
		}
	case dns.TypeAAAA:
		for _, ip := range e.aaaa {
			rrs = append(rrs, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: ip})
		}
	case dns.TypeTXT:
		for _, t := range e.txt {
			rrs = append(rrs, &dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: chunks(t)})
		}
	}
	return rrs
}

// chunks splits a TXT value into the 255-octet strings DNS carries
// (RFC 1035 §3.3.14); readers concatenate them. miekg/dns reads a
// backslash in them as an escape, so backslashes are escaped.
func chunks(s string) []string {
	var out []string
	for len(s) > 255 {
		out = append(out, escapeTXT(s[:255]))
		s = s[255:]
	}
	return append(out, escapeTXT(s))
}

func escapeTXT(s string) string { return strings.ReplaceAll(s, `\`, `\\`) }
