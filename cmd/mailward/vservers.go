package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"mailward/config"
	"mailward/events"
	"mailward/internal/setup"
	"mailward/smtp"
)

// vservers are the running virtual servers, by the address they listen
// on. A reload gives a virtual server whose address is unchanged its new
// settings (smtp.Server.Update: no new socket, no gap); one with a new
// address (added, or moved) gets a new listener; a listener whose address
// is no longer configured is retired (its sessions finish). The address
// is the key, not the name: a socket belongs to an address, and a
// virtual server renamed on the same address keeps listening.
type vservers struct {
	ctx    context.Context
	st     *setup.Stages
	ev     *events.Log
	logger *slog.Logger
	wg     *sync.WaitGroup
	// No TCP keep-alive probes: idle_timeout already ends dead sessions,
	// and it saves setsockopt calls on every accepted connection.
	lc  net.ListenConfig
	run map[string]*vserver
}

type vserver struct {
	name string
	srv  *smtp.Server
	ln   net.Listener
}

func newVServers(ctx context.Context, st *setup.Stages, wg *sync.WaitGroup) *vservers {
	return &vservers{ctx: ctx, st: st, ev: st.Events, logger: st.Logger, wg: wg,
		lc: net.ListenConfig{KeepAlive: -1}, run: map[string]*vserver{}}
}

// listen opens a listener for every virtual server of cfg whose address
// none of the running ones has, before anything changes: an address in
// use fails the start, or refuses the reload, with nothing half done.
func (v *vservers) listen(cfg *config.Config) (map[string]net.Listener, error) {
	opened := map[string]net.Listener{}
	seen := map[string]string{}
	for _, l := range cfg.VirtualServers {
		if other, ok := seen[l.Address]; ok {
			closeAll(opened)
			return nil, fmt.Errorf("virtual servers %s and %s both have the address %s", other, l.Name, l.Address)
		}
		seen[l.Address] = l.Name
		if _, ok := v.run[l.Address]; ok {
			continue
		}
		ln, err := v.lc.Listen(v.ctx, "tcp", l.Address)
		if err != nil {
			v.ev.Emit(events.VirtualServerFailed, "virtual_server", l.Name, "address", l.Address, "error", err)
			closeAll(opened)
			return nil, fmt.Errorf("virtual server %s: %w", l.Name, err)
		}
		opened[l.Address] = ln
	}
	return opened, nil
}

func closeAll(lns map[string]net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}

// apply runs the stages' virtual servers (st.VirtualServers, after Build
// or Reload) on the running listeners and those listen opened, and
// retires the listeners no virtual server has any more. It says what
// changed, one line each ("" for the start, which ServiceStarted tells).
func (v *vservers) apply(opened map[string]net.Listener, reload bool) []string {
	var changes []string
	keep := map[string]bool{}
	oldAddr := map[string]string{} // name -> address, before
	for addr, r := range v.run {
		oldAddr[r.name] = addr
	}
	for i, l := range v.st.VirtualServers {
		opt := v.st.SMTP(i)
		if opt.Org != nil && opt.GSSAPI == nil && slices.Contains(l.Settings.OrgAuth, "GSSAPI") {
			v.logger.Warn("org_auth offers GSSAPI but organization.keytab is not set: it answers 454 (event 1035, NoKeytab)", "virtual_server", l.Settings.Name)
		}
		keep[l.Address] = true
		if r, ok := v.run[l.Address]; ok {
			r.srv.Update(opt)
			r.name = l.Settings.Name
			continue
		}
		r := &vserver{name: l.Settings.Name, srv: smtp.New(opt), ln: opened[l.Address]}
		v.run[l.Address] = r
		v.wg.Add(1)
		go func() {
			defer v.wg.Done()
			if err := r.srv.Serve(v.ctx, r.ln, 10*time.Second); err != nil {
				v.logger.Error("virtual server stopped", "virtual_server", r.name, "err", err)
			}
		}()
		if reload {
			change := "added"
			if from, ok := oldAddr[r.name]; ok {
				change = "moved from " + from
			}
			v.ev.Emit(events.VirtualServerListening, "virtual_server", r.name, "address", r.ln.Addr().String(), "change", change)
			changes = append(changes, fmt.Sprintf("virtual server %s on %s (%s)", r.name, r.ln.Addr(), change))
		}
	}
	newAddr := map[string]string{}
	for _, l := range v.st.VirtualServers {
		newAddr[l.Settings.Name] = l.Address
	}
	for addr, r := range v.run {
		if keep[addr] {
			continue
		}
		r.srv.Retire()
		delete(v.run, addr)
		change := "removed"
		if to, ok := newAddr[r.name]; ok {
			change = "moved to " + to
		}
		n := r.srv.Sessions()
		v.ev.Emit(events.VirtualServerClosed, "virtual_server", r.name, "address", r.ln.Addr().String(), "change", change, "sessions", n)
		changes = append(changes, fmt.Sprintf("virtual server %s closed on %s (%s; %d session(s) finish)", r.name, r.ln.Addr(), change, n))
	}
	return changes
}

// names are "name on address" for each listening virtual server, in the
// configuration's order, for ServiceStarted and the systemd STATUS.
func (v *vservers) names() []string {
	var out []string
	for _, l := range v.st.VirtualServers {
		if r, ok := v.run[l.Address]; ok {
			out = append(out, fmt.Sprintf("%s on %s", r.name, r.ln.Addr()))
		}
	}
	return out
}
