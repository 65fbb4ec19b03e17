package setup

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"mailward/config"
)

// The loop and bounce-reflection settings reach the stages that act on
// them: server.max_hops the categorizer, queue.bounce_size_limit the
// bouncer, and this server's names and listening addresses remote
// delivery (which refuses a next hop that is this server).
func TestLoopSettingsWired(t *testing.T) {
	dir := t.TempDir()
	conf := `
[server]
fqdn = "MX1.Example.Test"
data_dir = "data"
max_hops = 12
[queue]
bounce_size_limit = 7000
[[domain]]
name = "example.test"
[[virtual_server]]
name = "default"
address = "127.0.0.1:2525"
tls = "none"
[[virtual_server]]
name = "submission"
address = "0.0.0.0:2587"
fqdn = "submit.example.test"
tls = "none"
`
	path := filepath.Join(dir, "mailward.toml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Categorizer.MaxHops != 12 {
		t.Errorf("categorizer MaxHops %d, want server.max_hops 12", s.Categorizer.MaxHops)
	}
	if s.Bouncer.SizeLimit != 7000 {
		t.Errorf("bouncer SizeLimit %d, want queue.bounce_size_limit 7000", s.Bouncer.SizeLimit)
	}
	if want := []string{"mx1.example.test", "submit.example.test"}; !slices.Equal(s.Remote.LocalNames, want) {
		t.Errorf("remote delivery's own names %v, want %v", s.Remote.LocalNames, want)
	}
	if want := []string{"127.0.0.1:2525", "0.0.0.0:2587"}; !slices.Equal(s.Remote.LocalAddrs, want) {
		t.Errorf("remote delivery's own addresses %v, want %v", s.Remote.LocalAddrs, want)
	}
}
