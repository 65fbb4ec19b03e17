package setup

import (
	"os"
	"path/filepath"
	"testing"

	"mailward/internal/testkit"
)

// The switches reach the stages: only the virtual server with
// protocol_log gets the inbound log, delivery gets the outbound one when
// [delivery] has it, both in [protocol_log] directory; with everything
// off there is no file and no log.
func TestProtocolLogWiring(t *testing.T) {
	for _, on := range []bool{true, false} {
		dir := t.TempDir()
		c := testkit.NewConfig()
		c.VirtualServers = append(c.VirtualServers, testkit.VirtualServer{Name: "quiet", TLS: "none"})
		c.ListenOnFreePorts(t)
		c.VirtualServers[0].ProtocolLog = on
		c.Delivery = &testkit.Delivery{ProtocolLog: on}
		c.ProtocolLog = &testkit.ProtocolLog{Directory: "plog", MaxFiles: 3}
		st, err := Build(loadConfig(t, dir, c.TOML()))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Open(); err != nil {
			t.Fatal(err)
		}
		plog := filepath.Join(dir, "plog")
		_, inErr := os.Stat(filepath.Join(plog, "smtp-in.log"))
		_, outErr := os.Stat(filepath.Join(plog, "smtp-out.log"))
		loud, quiet := st.SMTP(0), st.SMTP(1)
		switch {
		case on && (inErr != nil || outErr != nil):
			t.Errorf("on: smtp-in.log %v, smtp-out.log %v", inErr, outErr)
		case on && (loud.ProtocolLog == nil || loud.ProtocolLog != st.ProtoIn || st.Remote.ProtocolLog == nil || st.Remote.ProtocolLog != st.ProtoOut):
			t.Errorf("on: the logs are not wired: %v %v", loud.ProtocolLog, st.Remote.ProtocolLog)
		case quiet.ProtocolLog != nil:
			t.Errorf("on=%v: the virtual server without protocol_log logs", on)
		case !on && (!os.IsNotExist(inErr) || !os.IsNotExist(outErr) || loud.ProtocolLog != nil || st.Remote.ProtocolLog != nil):
			t.Errorf("off: files %v %v, logs %v %v", inErr, outErr, loud.ProtocolLog, st.Remote.ProtocolLog)
		}
		st.Close()
	}
}
