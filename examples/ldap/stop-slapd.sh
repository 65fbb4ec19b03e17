#!/usr/bin/env bash
# Stops the slapd examples/ldap/start-slapd.sh started (its pid file).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pidfile=$here/slapd-data/slapd.pid
[ -f "$pidfile" ] || { echo "stop-slapd: not running (no $pidfile)"; exit 0; }
pid=$(cat "$pidfile")
kill "$pid" 2>/dev/null || { echo "stop-slapd: not running"; rm -f "$pidfile"; exit 0; }
for _ in $(seq 1 100); do # at most 10 s
	kill -0 "$pid" 2>/dev/null || { echo "slapd stopped"; exit 0; }
	sleep 0.1
done
echo "stop-slapd: slapd (pid $pid) did not stop within 10 s" >&2
exit 1
