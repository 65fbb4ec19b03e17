#!/usr/bin/env bash
# The cost of DNS block list checks: the deliver workload of bench/run.sh
# (4 KiB messages, 20 sessions, one message per connection) to one
# mailbox, without a connection filter and with one block list asked
# for every connection, in the same run. The list is Debian's rbldnsd on
# a loopback port; the client (smtp-source, from 127.0.0.1) is not
# listed, and its negative answer is cached by the SOA minimum (1h), so
# this measures the filter with its answers cached: what a busy server
# sees from returning clients. Not a Go test: it needs root, Postfix's
# smtp-source, rbldnsd and minutes.
#
#   bench/dnsbl.sh [--messages N] [--sessions N] [--size BYTES]
#                  [--runs N] [--timeout SECS] [--mailward BINARY]
#
# The clock runs from the start of sending until the mailbox holds N
# messages and the queue is empty (bench/cmd/maildirwait). Each
# measurement starts a fresh server (so the first connection of "on"
# asks rbldnsd; the rest hit the cache). The cost printed is
# 1 - on/off throughput (target: under 10 %).
#
# Everything listens on 127.0.0.1 only; every wait is bounded.
set -euo pipefail

MESSAGES=5000
SESSIONS=20
SIZE=4096
RUNS=1
TIMEOUT=300
MAILWARD=""

die() { echo "dnsbl.sh: $*" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
	case "$1" in
	--messages) MESSAGES="${2:-}"; shift 2 ;;
	--sessions) SESSIONS="${2:-}"; shift 2 ;;
	--size) SIZE="${2:-}"; shift 2 ;;
	--runs) RUNS="${2:-}"; shift 2 ;;
	--timeout) TIMEOUT="${2:-}"; shift 2 ;;
	--mailward) MAILWARD="${2:-}"; shift 2 ;;
	-h|--help) sed -n '2,21p' "$0"; exit 0 ;;
	*) die "unknown argument $1 (try --help)" ;;
	esac
done
for v in MESSAGES SESSIONS SIZE RUNS TIMEOUT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v,,} wants a positive integer"
done
[[ $(id -u) -eq 0 ]] || die "must run as root (rbldnsd chroots into its zone's directory)"
export PATH="$PATH:/usr/sbin:/sbin"
command -v smtp-source >/dev/null 2>&1 || die "smtp-source missing; install with: apt-get install -y postfix"
command -v rbldnsd >/dev/null 2>&1 || die "rbldnsd missing; install with: apt-get install -y rbldnsd"

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
TMP=$(mktemp -d /tmp/mailward-dnsbl.XXXXXX)
chmod 755 "$TMP"

MW_PID=""
BL_PID=""
cleanup() {
	set +e
	[[ -n $MW_PID ]] && stop_pid "$MW_PID" mailward
	[[ -n $BL_PID ]] && stop_pid "$BL_PID" rbldnsd
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building in $TMP ..."
go build -o "$TMP/postfixpeer" ./bench/cmd/postfixpeer
go build -o "$TMP/maildirwait" ./bench/cmd/maildirwait
if [[ -z $MAILWARD ]]; then
	go build -o "$TMP/mailward" ./cmd/mailward
	MAILWARD="$TMP/mailward"
fi

# The block list: 127.0.0.2 listed; everything else NXDOMAIN with an SOA
# whose minimum (3600 s) is the negative TTL.
mkdir -p "$TMP/bl"
chmod 755 "$TMP/bl"
printf '$SOA 3600 ns.bl.example.test. hostmaster.bl.example.test. 1 3600 600 86400 3600\n127.0.0.2\n' >"$TMP/bl/zone"
chmod 644 "$TMP/bl/zone"
BL_PORT=$("$TMP/postfixpeer" freeport)
rbldnsd -n -b "127.0.0.1/$BL_PORT" -r "$TMP/bl" -w / bl.example.test:ip4set:zone >"$TMP/rbldnsd.log" 2>&1 &
BL_PID=$!
for ((i = 0; i < 100; i++)); do
	grep -q ' started' "$TMP/rbldnsd.log" && break
	kill -0 "$BL_PID" 2>/dev/null || die "rbldnsd exited: $(cat "$TMP/rbldnsd.log")"
	sleep 0.1
done
grep -q ' started' "$TMP/rbldnsd.log" || die "rbldnsd did not start within 10s: $(cat "$TMP/rbldnsd.log")"

# start_mailward DATA FILTER: sets PORT.
start_mailward() {
	local data=$1 filter=$2
	PORT=$("$TMP/postfixpeer" freeport)
	mkdir -p "$data"
	{
		cat <<-EOF
			[server]
			fqdn = "mx1.example.test"
			data_dir = "$data"
			[log]
			level = "warn"
			[dns]
			server = "127.0.0.1:$BL_PORT"
			[[domain]]
			name = "example.test"
			[[mailbox]]
			address = "user@example.test"
			[[dnsbl]]
			name = "bench"
			zone = "bl.example.test"
			codes = ["127.0.0.2"]
			[[virtual_server]]
			name = "default"
			address = "127.0.0.1:$PORT"
			tls = "none"
			max_connections_per_ip = 100
		EOF
		if [[ $filter == on ]]; then
			cat <<-EOF
				[virtual_server.connection_filter]
				dnsbl = ["bench"]
			EOF
		fi
	} >"$data.toml"
	"$MAILWARD" config check --config "$data.toml" >"$data.check" 2>&1 ||
		{ cat "$data.check" >&2; return 1; }
	"$MAILWARD" serve --config "$data.toml" >"$data.log" 2>&1 &
	MW_PID=$!
	if ! wait_220 "$PORT" 30; then
		echo "mailward: no 220 on 127.0.0.1:$PORT within 30s; log:" >&2
		tail -20 "$data.log" >&2
		return 1
	fi
}

stop_mailward() { stop_pid "$MW_PID" mailward; MW_PID=""; }

declare -A RATES
FAILED=0
# measure FILTER RUN: one fresh server, the whole workload.
measure() {
	local filter=$1 run=$2 name="mailward-$1-$2" start el
	settle
	start_mailward "$TMP/$name" "$filter" || { FAILED=1; stop_mailward; return 1; }
	echo "$TMP/$name/mailboxes/user@example.test/Maildir" >"$TMP/$name.maildirs"
	start=$(now)
	if ! timeout "$TIMEOUT" smtp-source -A -c -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" \
		-M client.test -f bench@sender.test -t user@example.test "127.0.0.1:$PORT" >"$TMP/$name-source.log" 2>&1; then
		echo "$name: smtp-source failed:" >&2; tail -5 "$TMP/$name-source.log" >&2
	fi
	if el=$("$TMP/maildirwait" --files "$MESSAGES" --timeout "${TIMEOUT}s" --since "$start" --list "$TMP/$name.maildirs" \
		--queue "$TMP/$name/queue/active"); then
		local rate
		rate=$(awk -v n="$MESSAGES" -v t="$el" 'BEGIN { printf "%.1f", n / t }')
		RATES[$filter]+="$rate "
		printf 'mailward dnsbl %-3s run %d: %d messages in %7.2fs = %8s msg/s\n' "$filter" "$run" "$MESSAGES" "$el" "$rate"
	else
		FAILED=1
	fi
	stop_mailward
}


echo "dnsbl: $MESSAGES messages of ${SIZE} bytes, $SESSIONS sessions, $RUNS run(s); $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); load $(loadavg)"
for ((r = 1; r <= RUNS; r++)); do
	# Alternate the order from run to run, so that neither variant
	# always runs right after the other's cleanup.
	if ((r % 2)); then order=(off on); else order=(on off); fi
	for f in "${order[@]}"; do measure "$f" "$r" || true; done
done

echo
echo "== results (msg/s, medians over $RUNS run(s); load average now: $(loadavg))"
if [[ -n ${RATES[off]:-} && -n ${RATES[on]:-} ]]; then
	# shellcheck disable=SC2086 # the list of rates, split on purpose
	off=$(median ${RATES[off]}) on=$(median ${RATES[on]})
	awk -v a="$off" -v b="$on" 'BEGIN { printf "mailward dnsbl off %8.1f  on (cached) %8.1f  cost %5.1f %% (target: under 10 %%)\n", a, b, 100 * (1 - b / a) }'
fi
exit "$FAILED"
