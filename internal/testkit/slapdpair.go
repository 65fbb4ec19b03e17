package testkit

// Two slapds with syncrepl between them, as a site replicates its
// directory: a provider (the syncprov overlay) and a consumer
// (refreshAndPersist) that reaches the provider through a relay the
// test can cut, so that replication can be paused and resumed while
// both servers keep answering their clients (KB979174's replication
// lag).

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// SlapdPair is a provider and its consumer.
type SlapdPair struct {
	Provider, Consumer *Slapd
	link               *relay
}

// StartSlapdPair starts the provider, then the consumer replicating
// all of the provider's suffix, and returns once the consumer holds
// the base entry. Both stop when the test ends.
func StartSlapdPair(t testing.TB) *SlapdPair {
	t.Helper()
	p := &SlapdPair{}
	p.Provider = StartSlapd(t, SlapdOptions{Modules: []string{"syncprov"},
		DatabaseConfig: "olcDbIndex: entryCSN eq\nolcDbIndex: entryUUID eq",
		ExtraConfig: `dn: olcOverlay=syncprov,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: syncprov
olcSpCheckpoint: 10 1

`})
	p.link = startRelay(t, p.Provider.URL[len("ldap://"):])
	// retry "1 +": after a cut the consumer tries again every second,
	// forever; timeout and network-timeout keep a dead link from
	// hanging it.
	p.Consumer = StartSlapd(t, SlapdOptions{NoBaseEntry: true, DatabaseConfig: fmt.Sprintf(
		`olcSyncrepl: {0}rid=001 provider=ldap://%s bindmethod=simple binddn="%s" credentials=%s searchbase="%s" type=refreshAndPersist retry="1 +" timeout=2 network-timeout=2`,
		p.link.addr, p.Provider.RootDN, p.Provider.RootPW, p.Provider.Suffix)})
	p.WaitReplicated(t, p.Provider.Suffix)
	return p
}

// PauseReplication cuts the link: the consumer's session with the
// provider ends and new ones are refused until ResumeReplication.
// Both servers keep answering their own clients.
func (p *SlapdPair) PauseReplication() { p.link.pause() }

// ResumeReplication lets the consumer reconnect (within about a
// second) and catch up.
func (p *SlapdPair) ResumeReplication() { p.link.resume() }

// WaitReplicated waits until the consumer holds the entry dn.
func (p *SlapdPair) WaitReplicated(t testing.TB, dn string) {
	t.Helper()
	WaitFor(t, 15*time.Second, "the consumer to hold "+dn, func() bool { return p.Consumer.Has(dn) })
}

// Has reports whether the entry dn exists.
func (s *Slapd) Has(dn string) bool {
	c, err := s.Conn()
	if err != nil {
		return false
	}
	defer c.Close()
	res, err := c.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 2, false,
		"(objectClass=*)", []string{"dn"}, nil))
	return err == nil && len(res.Entries) == 1
}

// relay forwards TCP connections to target until paused.
type relay struct {
	addr, target string
	ln           net.Listener
	mu           sync.Mutex
	paused       bool
	conns        map[net.Conn]bool
}

func startRelay(t testing.TB, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]bool{}}
	go r.serve()
	t.Cleanup(func() { ln.Close(); r.pause() })
	return r
}

func (r *relay) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		paused := r.paused
		r.mu.Unlock()
		if paused {
			c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", r.target, 2*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		r.mu.Lock()
		r.conns[c], r.conns[up] = true, true
		r.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			io.Copy(dst, src)
			dst.Close()
			src.Close()
			r.mu.Lock()
			delete(r.conns, dst)
			delete(r.conns, src)
			r.mu.Unlock()
		}
		go pipe(up, c)
		go pipe(c, up)
	}
}

func (r *relay) pause() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.paused = true
	for c := range r.conns {
		c.Close()
	}
}

func (r *relay) resume() {
	r.mu.Lock()
	r.paused = false
	r.mu.Unlock()
}
