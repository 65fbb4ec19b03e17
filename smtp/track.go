package smtp

import (
	"strings"

	"mailward/queue"
)

// rcptList is the envelope's recipients for event 2000's rcpts field,
// which message tracking filters on (docs/tracking.md).
func rcptList(env *queue.Envelope) string {
	out := make([]string, len(env.Recipients))
	for i, r := range env.Recipients {
		out[i] = r.Addr
	}
	return strings.Join(out, ",")
}
