package setup

import (
	"testing"

	"mailward/config"
)

// chunking reaches both sides: on by default, and each off on its own
// (a virtual server's offer, and remote delivery's use of BDAT).
func TestChunkingWired(t *testing.T) {
	for _, tc := range []struct {
		name, toml       string
		receive, sending bool
	}{
		{"defaults", "", true, true},
		{"virtual server off", "chunking = false\n", false, true},
		{"delivery off", "[delivery]\nchunking = false\n", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := "[server]\nfqdn = \"mx1.example.test\"\ndata_dir = \"data\"\n[[domain]]\nname = \"example.test\"\n" +
				"[[virtual_server]]\nname = \"default\"\naddress = \"127.0.0.1:2525\"\ntls = \"none\"\n"
			if tc.name == "delivery off" {
				conf = tc.toml + conf
			} else {
				conf += tc.toml
			}
			cfg, err := config.Parse([]byte(conf))
			if err != nil {
				t.Fatal(err)
			}
			if got := VirtualServerSettings(cfg, cfg.VirtualServers[0]).Chunking; got != tc.receive {
				t.Errorf("virtual server Chunking %v, want %v", got, tc.receive)
			}
			if got := !Remote(cfg, nil).NoChunking; got != tc.sending {
				t.Errorf("remote delivery uses BDAT: %v, want %v", got, tc.sending)
			}
		})
	}
}
