package events

// Levels returns a copy of the diagnostic levels in force (category to
// level; a category not in the map logs at Minimum), for a viewer that
// shows them and changes one with SetLevels.
func (l *Log) Levels() map[string]Level {
	cur := *l.levels.Load()
	m := make(map[string]Level, len(cur))
	for k, v := range cur {
		m[k] = v
	}
	return m
}
