package config

import (
	"path/filepath"
	"time"
)

// ProtocolLog is [protocol_log]: where the protocol logs go and how they
// are rotated (docs/protocol-log.md). Which sessions are logged is said
// by [[virtual_server]] protocol_log and [delivery] protocol_log; this
// table alone turns nothing on.
type ProtocolLog struct {
	// Directory holds smtp-in.log (the virtual servers) and
	// smtp-out.log (outbound delivery); default <data_dir>/protocol-log.
	Directory string `toml:"directory"`
	// MaxSize: a file is rotated before a line would take it past this
	// many bytes.
	MaxSize int64 `toml:"max_size"`
	// MaxAge: a file is rotated when its first line is this old.
	MaxAge Duration `toml:"max_age"`
	// MaxFiles is the number of rotated files kept (smtp-in.log.1 to
	// .<max_files>).
	MaxFiles int `toml:"max_files"`
}

// Protocol log defaults: the event log's (a day a file, a week kept),
// so that one look-back covers both logs of a session.
const (
	DefaultProtocolLogMaxSize  = 10 << 20
	DefaultProtocolLogMaxAge   = 24 * time.Hour
	DefaultProtocolLogMaxFiles = 7
)

// ProtocolLogDir returns the protocol logs' directory.
func (c *Config) ProtocolLogDir() string {
	if c.ProtocolLog.Directory != "" {
		return c.ProtocolLog.Directory
	}
	return filepath.Join(c.Server.DataDir, "protocol-log")
}

// ProtocolLogOn reports whether any session is logged.
func (c *Config) ProtocolLogOn() bool {
	if c.Delivery.ProtocolLog {
		return true
	}
	for _, v := range c.VirtualServers {
		if v.ProtocolLog {
			return true
		}
	}
	return false
}

func (c *Config) applyProtocolLogDefaults() {
	p := &c.ProtocolLog
	if p.MaxSize == 0 {
		p.MaxSize = DefaultProtocolLogMaxSize
	}
	if p.MaxAge.Duration == 0 {
		p.MaxAge.Duration = DefaultProtocolLogMaxAge
	}
	if p.MaxFiles == 0 {
		p.MaxFiles = DefaultProtocolLogMaxFiles
	}
}

func (c *Config) validateProtocolLog(bad func(string, ...any)) {
	p := c.ProtocolLog
	if p.MaxSize < 64<<10 {
		bad("protocol_log.max_size %d is below %d (64 KiB)", p.MaxSize, 64<<10)
	}
	if p.MaxAge.Duration < time.Minute {
		bad("protocol_log.max_age %s is below 1m", p.MaxAge.Duration)
	}
	if p.MaxFiles < 1 || p.MaxFiles > 1000 {
		bad("protocol_log.max_files %d: want 1 to 1000", p.MaxFiles)
	}
}
