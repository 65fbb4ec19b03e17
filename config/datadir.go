package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pelletier/go-toml/v2"
)

// DataDirOf is the data directory a configuration file names (resolved
// as Load resolves it), read leniently: unknown keys and invalid values
// are no obstacle. `mailward reload` needs it to reach the running
// server's admin socket precisely when the file no longer validates, so
// that the server itself says why it refuses the file (event 1004). A
// file that is not TOML at all is an error.
func DataDirOf(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	var c struct {
		Server struct {
			DataDir string `toml:"data_dir"`
		} `toml:"server"`
	}
	if err := toml.NewDecoder(bytes.NewReader(b)).Decode(&c); err != nil {
		return "", fmt.Errorf("config: %s: %w", path, err)
	}
	dir := c.Server.DataDir
	if dir == "" {
		dir = DefaultDataDir
	}
	if !filepath.IsAbs(dir) {
		abs, err := filepath.Abs(path)
		if err != nil {
			return "", fmt.Errorf("config: %w", err)
		}
		dir = filepath.Join(filepath.Dir(abs), dir)
	}
	return dir, nil
}
