#!/usr/bin/env bash
# Throughput harness: mailward against Debian's Postfix, same workload, same
# run, same machine. Not a Go test: it needs root, Postfix and minutes.
#
#   bench/run.sh [--only postfix|mailward] [--messages N] [--sessions N]
#                [--size BYTES] [--timeout SECS] [--workload deliver|relay|all]
#
# Workloads
#   deliver  smtp-source -> MTA -> Maildir of user@example.test. The clock
#            runs from the start of sending until all N messages are files
#            in Maildir/new (what a user would see), not until the MTA has
#            merely said 250 -- a queue that accepts fast and delivers late
#            must not look fast.
#   relay    smtp-source -> MTA -> smtp-sink (next hop, a smart host /
#            relayhost). The clock stops when smtp-sink has received all N
#            (it exits after N with -M).
#
# Everything listens on 127.0.0.1 only; every wait is bounded.
set -euo pipefail

ONLY=""
MESSAGES=5000
SESSIONS=20
SIZE=4096
TIMEOUT=300
WORKLOAD="deliver"

die() { echo "run.sh: $*" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
	case "$1" in
	--only) ONLY="${2:-}"; shift 2 ;;
	--messages) MESSAGES="${2:-}"; shift 2 ;;
	--sessions) SESSIONS="${2:-}"; shift 2 ;;
	--size) SIZE="${2:-}"; shift 2 ;;
	--timeout) TIMEOUT="${2:-}"; shift 2 ;;
	--workload) WORKLOAD="${2:-}"; shift 2 ;;
	-h|--help) sed -n '2,20p' "$0"; exit 0 ;;
	*) die "unknown argument $1 (try --help)" ;;
	esac
done
case "$ONLY" in ""|postfix|mailward) ;; *) die "--only wants postfix or mailward" ;; esac
case "$WORKLOAD" in deliver|relay|all) ;; *) die "--workload wants deliver, relay or all" ;; esac
for v in MESSAGES SESSIONS SIZE TIMEOUT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v,,} wants a positive integer"
done
[[ $(id -u) -eq 0 ]] || die "must run as root (Postfix's master(8) and virtual(8) need it)"
for p in smtp-source smtp-sink postfix; do
	command -v "$p" >/dev/null 2>&1 || [[ -x /usr/sbin/$p ]] || die "$p missing; install with: apt-get install -y postfix"
done
export PATH="$PATH:/usr/sbin:/sbin"

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
TMP=$(mktemp -d /tmp/mailward-bench.XXXXXX)
chmod 755 "$TMP"

MW_PID=""
SINK_PID=""
PF_DIRS=()
cleanup() {
	set +e
	if [[ -n $MW_PID ]]; then stop_pid "$MW_PID" mailward; fi
	if [[ -n $SINK_PID ]]; then stop_pid "$SINK_PID" smtp-sink; fi
	for d in "${PF_DIRS[@]}"; do "$TMP/postfixpeer" stop "$d" || echo "warning: could not stop Postfix in $d" >&2; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

count_files() { # count_files DIR: regular files directly in DIR (0 if absent)
	[[ -d $1 ]] || { echo 0; return; }
	find "$1" -maxdepth 1 -type f | wc -l
}

# wait_count DIR N START SECS: wait until DIR holds N files; prints the
# elapsed seconds since START, or fails after SECS with what arrived.
wait_count() {
	local dir=$1 n=$2 start=$3 secs=$4 c=0 i
	for ((i = 0; i < secs * 10; i++)); do
		c=$(count_files "$dir")
		if ((c >= n)); then
			elapsed "$start"
			return 0
		fi
		sleep 0.1
	done
	echo "timeout: only $c of $n messages in $dir after ${secs}s" >&2
	return 1
}

# send_load PORT RCPT LOG: the smtp-source workload, bounded in time.
send_load() {
	timeout "$TIMEOUT" smtp-source -A -c -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" \
		-M client.test -f bench@sender.test -t "$2" "127.0.0.1:$1" >"$3" 2>&1
}

declare -A RATE SECS
FAILED=0
record() { # record KEY ELAPSED
	SECS[$1]=$(printf '%.2f' "$2")
	RATE[$1]=$(awk -v n="$MESSAGES" -v t="$2" 'BEGIN { printf "%.1f", n / t }')
	printf '%-18s %6d messages in %8ss = %8s msg/s\n' "$1" "$MESSAGES" "${SECS[$1]}" "${RATE[$1]}"
}

echo "building helpers in $TMP ..."
go build -o "$TMP/postfixpeer" ./bench/cmd/postfixpeer
"$TMP/postfixpeer" check

# ---- mailward -----------------------------------------------------------
build_mailward() {
	[[ -x $TMP/mailward ]] && return 0
	if ! go build -o "$TMP/mailward" ./cmd/mailward 2>"$TMP/mailward-build.log"; then
		echo "mailward: build failed:" >&2
		sed 's/^/  /' "$TMP/mailward-build.log" >&2
		return 1
	fi
}

bench_mailward_deliver() {
	settle
	build_mailward || { FAILED=1; return 0; }
	local port
	port=$("$TMP/postfixpeer" freeport)
	mkdir -p "$TMP/mwdata"
	cat >"$TMP/mailward.toml" <<-EOF
		[server]
		fqdn = "mx1.example.test"
		default_domain = "example.test"
		data_dir = "$TMP/mwdata"
		[log]
		level = "warn"
		[[domain]]
		name = "example.test"
		[[mailbox]]
		address = "user@example.test"
		[[virtual_server]]
		name = "default"
		address = "127.0.0.1:$port"
		tls = "none"
		max_connections_per_ip = 100
	EOF
	"$TMP/mailward" serve --config "$TMP/mailward.toml" >"$TMP/mailward.log" 2>&1 &
	MW_PID=$!
	if ! wait_220 "$port" 30; then
		echo "mailward: no 220 on 127.0.0.1:$port within 30s; log:" >&2
		tail -20 "$TMP/mailward.log" >&2
		stop_pid "$MW_PID" mailward; MW_PID=""
		FAILED=1
		return 0
	fi
	local new="$TMP/mwdata/mailboxes/user@example.test/Maildir/new" start el
	echo "mailward: 127.0.0.1:$port, sending $MESSAGES x ${SIZE}B over $SESSIONS sessions ..."
	start=$(now)
	if ! send_load "$port" user@example.test "$TMP/mw-source.log"; then
		echo "mailward: smtp-source failed:" >&2; tail -5 "$TMP/mw-source.log" >&2
	fi
	if el=$(wait_count "$new" "$MESSAGES" "$start" "$TIMEOUT"); then
		record "deliver/mailward" "$el"
	else
		FAILED=1
	fi
	stop_pid "$MW_PID" mailward; MW_PID=""
}

# ---- Postfix --------------------------------------------------------------
# start_postfix VAR ARGS...: starts a peer, sets PF_<key> variables.
start_postfix() {
	local out k v
	out=$("$TMP/postfixpeer" start "$@") || return 1
	while IFS='=' read -r k v; do
		case "$k" in dir|port|maildir|log) printf -v "PF_$k" '%s' "$v" ;; esac
	done <<<"$out"
	PF_DIRS+=("$PF_dir")
}

stop_postfix() {
	"$TMP/postfixpeer" stop "$PF_dir" || echo "warning: could not stop Postfix in $PF_dir" >&2
	local keep=()
	for d in "${PF_DIRS[@]}"; do [[ $d == "$PF_dir" ]] || keep+=("$d"); done
	PF_DIRS=("${keep[@]+"${keep[@]}"}")
}

bench_postfix_deliver() {
	settle
	start_postfix --mailbox user || { echo "postfix: start failed" >&2; FAILED=1; return 0; }
	local start el
	echo "postfix: 127.0.0.1:$PF_port, sending $MESSAGES x ${SIZE}B over $SESSIONS sessions ..."
	start=$(now)
	if ! send_load "$PF_port" user@example.test "$TMP/pf-source.log"; then
		echo "postfix: smtp-source failed:" >&2; tail -5 "$TMP/pf-source.log" >&2
	fi
	if el=$(wait_count "$PF_maildir/new" "$MESSAGES" "$start" "$TIMEOUT"); then
		record "deliver/postfix" "$el"
	else
		FAILED=1
		grep -E 'warning|error|fatal' "$PF_log" | tail -5 >&2 || true
	fi
	stop_postfix
}

# start_sink: an smtp-sink next hop that exits after N messages.
start_sink() {
	sinkport=$("$TMP/postfixpeer" freeport)
	smtp-sink -u nobody -M "$MESSAGES" "127.0.0.1:$sinkport" 256 >"$TMP/sink.log" 2>&1 &
	SINK_PID=$!
	wait_220 "$sinkport" 10 || { echo "smtp-sink did not start" >&2; return 1; }
}

# wait_sink NAME START: the clock stops when smtp-sink has all N and exits.
wait_sink() {
	local i
	for ((i = 0; i < TIMEOUT * 10; i++)); do
		kill -0 "$SINK_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$SINK_PID" 2>/dev/null; then
		echo "$1: smtp-sink still waiting after ${TIMEOUT}s" >&2
		kill "$SINK_PID" 2>/dev/null || true
		FAILED=1
	else
		record "$1" "$(elapsed "$2")"
	fi
	wait "$SINK_PID" 2>/dev/null || true
	SINK_PID=""
}

bench_mailward_relay() {
	settle
	build_mailward || { FAILED=1; return 0; }
	local sinkport port start
	start_sink || { FAILED=1; return 0; }
	port=$("$TMP/postfixpeer" freeport)
	mkdir -p "$TMP/mwrelay"
	cat >"$TMP/mailward-relay.toml" <<-EOF
		[server]
		fqdn = "mx1.example.test"
		default_domain = "example.test"
		data_dir = "$TMP/mwrelay"
		[log]
		level = "warn"
		[[domain]]
		name = "example.test"
		[[virtual_server]]
		name = "default"
		address = "127.0.0.1:$port"
		tls = "none"
		relay_networks = ["127.0.0.0/8"]
		max_connections_per_ip = 100
		[delivery]
		smart_host = "127.0.0.1:$sinkport"
	EOF
	"$TMP/mailward" serve --config "$TMP/mailward-relay.toml" >"$TMP/mailward-relay.log" 2>&1 &
	MW_PID=$!
	if ! wait_220 "$port" 30; then
		echo "mailward relay: no 220 on 127.0.0.1:$port; log:" >&2
		tail -20 "$TMP/mailward-relay.log" >&2
		stop_pid "$MW_PID" mailward; MW_PID=""
		FAILED=1
		return 0
	fi
	echo "mailward relay: 127.0.0.1:$port -> smtp-sink 127.0.0.1:$sinkport, $MESSAGES messages ..."
	start=$(now)
	if ! send_load "$port" user@remote.test "$TMP/mw-relay-source.log"; then
		echo "mailward relay: smtp-source failed:" >&2; tail -5 "$TMP/mw-relay-source.log" >&2
	fi
	wait_sink relay/mailward "$start"
	stop_pid "$MW_PID" mailward; MW_PID=""
}

bench_postfix_relay() {
	settle
	local sinkport start el i
	start_sink || { FAILED=1; return 0; }
	# mynetworks includes loopback here: this instance is meant to relay.
	start_postfix --relayhost "[127.0.0.1]:$sinkport" --mynetworks 127.0.0.0/8 ||
		{ echo "postfix: start failed" >&2; FAILED=1; return 0; }
	echo "postfix relay: 127.0.0.1:$PF_port -> smtp-sink 127.0.0.1:$sinkport, $MESSAGES messages ..."
	start=$(now)
	if ! send_load "$PF_port" user@remote.test "$TMP/pf-relay-source.log"; then
		echo "postfix relay: smtp-source failed:" >&2; tail -5 "$TMP/pf-relay-source.log" >&2
	fi
	wait_sink relay/postfix "$start"
	stop_postfix
}

echo "workload: $MESSAGES messages of ${SIZE} bytes, $SESSIONS sessions; $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); load $(loadavg)"
if [[ $WORKLOAD == deliver || $WORKLOAD == all ]]; then
	[[ $ONLY == postfix ]] || bench_mailward_deliver
	[[ $ONLY == mailward ]] || bench_postfix_deliver
fi
if [[ $WORKLOAD == relay || $WORKLOAD == all ]]; then
	[[ $ONLY == postfix ]] || bench_mailward_relay
	[[ $ONLY == mailward ]] || bench_postfix_relay
fi

echo
echo "== results (load average now: $(loadavg))"
for k in deliver/mailward deliver/postfix relay/mailward relay/postfix; do
	[[ -n ${RATE[$k]:-} ]] && printf '%-18s %8s msg/s  (%ss)\n' "$k" "${RATE[$k]}" "${SECS[$k]}"
done
if [[ -n ${RATE[deliver/mailward]:-} && -n ${RATE[deliver/postfix]:-} ]]; then
	awk -v m="${RATE[deliver/mailward]}" -v p="${RATE[deliver/postfix]}" 'BEGIN { printf "ratio mailward/postfix (deliver): %.2f\n", m / p }'
fi
if [[ -n ${RATE[relay/mailward]:-} && -n ${RATE[relay/postfix]:-} ]]; then
	awk -v m="${RATE[relay/mailward]}" -v p="${RATE[relay/postfix]}" 'BEGIN { printf "ratio mailward/postfix (relay): %.2f\n", m / p }'
fi
exit "$FAILED"
