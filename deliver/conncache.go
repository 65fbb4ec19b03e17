package deliver

import (
	"sync"
	"time"

	"mailward/smtpclient"
)

// connCache keeps idle sessions for reuse: "several messages per
// connection", without holding a connection open for long.
type connCache struct {
	mu   sync.Mutex
	idle map[string][]idleConn
}

type idleConn struct {
	c     *smtpclient.Conn
	since time.Time
}

const (
	maxIdle     = 10 * time.Second
	maxIdlePerH = 8
)

func (cc *connCache) get(addr string) *smtpclient.Conn {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	list := cc.idle[addr]
	for len(list) > 0 {
		ic := list[len(list)-1]
		list = list[:len(list)-1]
		cc.idle[addr] = list
		if time.Since(ic.since) < maxIdle {
			return ic.c
		}
		go ic.c.Quit()
	}
	return nil
}

func (cc *connCache) put(addr string, c *smtpclient.Conn) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.idle == nil {
		cc.idle = map[string][]idleConn{}
		go cc.janitor()
	}
	if len(cc.idle[addr]) >= maxIdlePerH {
		go c.Quit()
		return
	}
	cc.idle[addr] = append(cc.idle[addr], idleConn{c, time.Now()})
}

// janitor closes sessions idle for longer than maxIdle.
func (cc *connCache) janitor() {
	for {
		time.Sleep(maxIdle / 2)
		cc.mu.Lock()
		for addr, list := range cc.idle {
			keep := list[:0]
			for _, ic := range list {
				if time.Since(ic.since) < maxIdle {
					keep = append(keep, ic)
				} else {
					go ic.c.Quit()
				}
			}
			cc.idle[addr] = keep
		}
		cc.mu.Unlock()
	}
}

func (cc *connCache) closeAll() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for _, list := range cc.idle {
		for _, ic := range list {
			ic.c.Quit()
		}
	}
	cc.idle = map[string][]idleConn{}
}
