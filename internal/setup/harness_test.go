package setup

import (
	"os"
	"path/filepath"
	"testing"

	"mailward/config"
)

// loadConfig loads conf written as mailward.toml in dir.
func loadConfig(t *testing.T, dir, conf string) *config.Config {
	t.Helper()
	path := filepath.Join(dir, "mailward.toml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
