package main

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"mailward/admin"
	"mailward/config"
	"mailward/events"
	"mailward/internal/setup"
)

// reloader applies the configuration file again, for SIGHUP and for
// `mailward reload` (the admin socket), one reload at a time: what can
// change while the server runs changes; a file that no longer loads or
// validates, or a new address that cannot be listened on, changes
// nothing. Either way an event says what happened (1003, 1004).
type reloader struct {
	mu   sync.Mutex
	path string
	st   *setup.Stages
	vs   *vservers
}

// reload does one reload; by says who asked, for the event. It returns
// the report, or why the file was refused.
func (r *reloader) reload(by string) (setup.Reloaded, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Type=notify: systemd shows the unit "reloading" until READY=1
	// (RELOADING=1 with the CLOCK_MONOTONIC time; docs/service.md).
	if err := sdNotify(reloadingState()); err != nil {
		r.st.Logger.Error("sd_notify RELOADING=1 failed", "err", err)
	}
	defer func() {
		if err := sdNotify("READY=1\nSTATUS=serving " + strings.Join(r.vs.names(), ", ")); err != nil {
			r.st.Logger.Error("sd_notify READY=1 failed", "err", err)
		}
	}()
	rep, err := r.apply()
	if err != nil {
		r.st.Events.Emit(events.ConfigReloadFailed, "file", r.path, "by", by, "error", err)
		return rep, err
	}
	r.st.Events.Emit(events.ConfigReloaded, "file", r.path, "by", by, "report", rep.String())
	return rep, nil
}

func (r *reloader) apply() (setup.Reloaded, error) {
	cfg, err := config.Load(r.path)
	if err != nil {
		return setup.Reloaded{}, err
	}
	// The new addresses first: if one is in use, nothing has changed yet.
	opened, err := r.vs.listen(cfg)
	if err != nil {
		return setup.Reloaded{}, err
	}
	rep, err := r.st.Reload(cfg)
	if err != nil {
		closeAll(opened)
		return setup.Reloaded{}, err
	}
	rep.Applied = append(rep.Applied, r.vs.apply(opened, true)...)
	return rep, nil
}

// reloadingState is the notification that a reload starts.
func reloadingState() string {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", ts.Nano()/1000)
}

// adminReload is the admin socket's reload (mailward reload); nil until
// the virtual servers run, so that a reload during the start is refused
// rather than raced.
func adminReload(r func() *reloader) admin.Reloader {
	return func(ctx context.Context, who string) (admin.ReloadResult, error) {
		rl := r()
		if rl == nil {
			return admin.ReloadResult{}, fmt.Errorf("the server is still starting; try again in a moment")
		}
		rep, err := rl.reload("mailward reload by " + who)
		return admin.ReloadResult{File: rl.path, Applied: rep.Applied, NeedRestart: rep.NeedRestart}, err
	}
}
