package contentfilter

// SCL values besides 0-9.
const (
	// SCLTrusted is the SCL of authenticated submissions and
	// organization mail, as Exchange gives them: never scanned.
	SCLTrusted = -1
)

// DefaultScores are the rspamd scores at which SCL 1 to 9 begin
// (docs/filtering.md): rspamd's default add_header score (6) is SCL 4,
// the default store (Junk) threshold, and its default reject score (15)
// is SCL 7, the default gateway threshold, so that the defaults act
// where rspamd's own defaults would.
var DefaultScores = []float64{1, 2, 4, 6, 8, 10, 15, 20, 30}

// Mapping turns an rspamd score into an SCL: the SCL is the number of
// thresholds at or below the score, 0 below the first.
type Mapping []float64

// SCL maps a score to 0-9.
func (m Mapping) SCL(score float64) int {
	n := 0
	for _, t := range m {
		if score >= t {
			n++
		}
	}
	return min(n, 9)
}
