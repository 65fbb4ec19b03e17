package setup

import (
	"slices"
	"testing"

	"mailward/config"
)

// A changed [categorizer] is applied by a restart only (the categorizer
// is built once), and the reload says so instead of keeping silent.
func TestReloadNamesCategorizerForRestart(t *testing.T) {
	old := &config.Config{}
	cfg := &config.Config{Categorizer: config.Categorizer{MaxExpandedRecipients: 5}}
	if got := restartOnly(old, cfg); !slices.Contains(got, "[categorizer]") {
		t.Errorf("restart-only sections %v, want [categorizer] among them", got)
	}
}
