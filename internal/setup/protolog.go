package setup

import (
	"path/filepath"

	"mailward/events"
	"mailward/protolog"
)

// openProtocolLogs opens smtp-in.log when a virtual server has
// protocol_log and smtp-out.log when [delivery] has it, in
// [protocol_log] directory (docs/protocol-log.md). One file per
// direction, as Exchange's receive and send protocol logs: the first
// line of each session names its virtual server or next hop.
func (s *Stages) openProtocolLogs() error {
	cfg := s.Config
	p := cfg.ProtocolLog
	open := func(name string) (*protolog.Log, error) {
		l, err := protolog.Open(protolog.Options{Path: filepath.Join(cfg.ProtocolLogDir(), name),
			MaxSize: p.MaxSize, MaxAge: p.MaxAge.Duration, MaxFiles: p.MaxFiles,
			OnError: func(path string, err error) { s.Events.Emit(events.ProtocolLogFailed, "file", path, "error", err) }})
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, func() { l.Close() })
		return l, nil
	}
	for _, l := range s.VirtualServers {
		if l.ProtocolLog {
			in, err := open("smtp-in.log")
			if err != nil {
				return err
			}
			s.ProtoIn = in
			break
		}
	}
	if cfg.Delivery.ProtocolLog {
		out, err := open("smtp-out.log")
		if err != nil {
			return err
		}
		s.ProtoOut = out
		s.Remote.ProtocolLog = out
	}
	return nil
}
