#!/usr/bin/env bash
# Stops what start-engines.sh started (the same ENGINES_DIR): each
# engine's whole process group, rspamd's workers with it.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${ENGINES_DIR:-$here/data/engines}
status=0
for p in rspamd rbldnsd; do
	f="$dir/$p.pid"
	[ -f "$f" ] || continue
	pid=$(cat "$f")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
		for _ in $(seq 1 50); do # 5 s, then KILL
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
		echo "$p stopped"
	fi
	rm -f "$f"
done
exit $status
