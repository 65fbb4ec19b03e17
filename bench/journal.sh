#!/usr/bin/env bash
# The cost of journaling: the deliver workload of bench/run.sh (4 KiB
# messages, 20 sessions, one message per connection) to a mailbox of a
# one-server organization, without journaling and with every recipient
# journaled, in the same run; Debian's Postfix beside it, without and
# with always_bcc (Postfix's nearest equivalent: a plain copy, not an
# envelope report). Not a Go test: it needs root, Postfix and minutes.
#
#   bench/journal.sh [--messages N] [--sessions N] [--size BYTES]
#                    [--runs N] [--timeout SECS] [--only postfix|mailward]
#                    [--mailward BINARY]
#
# mailward: the domain example.test, the mailboxes user@ and journal@,
# both homed on this server; "journaled" adds the rule
#   [[organization.journal_rule]] domain = "example.test",
#   recipient = "journal@example.test"
# so every message gets an envelope journal report (docs/journaling.md).
# Postfix: user and journal as virtual(8) Maildirs; "journaled" sets
# always_bcc = journal@example.test.
#
# The clock runs from the start of sending until user's Maildir holds N
# messages -- and, journaled, journal's Maildir N reports too -- and the
# MTA's queue is empty (bench/cmd/maildirwait: every copy delivered by
# the MTA's own account). Each measurement starts a fresh server. The
# cost printed is 1 - journaled/plain throughput, per MTA (target for
# mailward: under 30 %).
#
# Everything listens on 127.0.0.1 only; every wait is bounded.
set -euo pipefail

MESSAGES=5000
SESSIONS=20
SIZE=4096
RUNS=1
TIMEOUT=300
ONLY=""
MAILWARD=""

die() { echo "journal.sh: $*" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
	case "$1" in
	--messages) MESSAGES="${2:-}"; shift 2 ;;
	--sessions) SESSIONS="${2:-}"; shift 2 ;;
	--size) SIZE="${2:-}"; shift 2 ;;
	--runs) RUNS="${2:-}"; shift 2 ;;
	--timeout) TIMEOUT="${2:-}"; shift 2 ;;
	--only) ONLY="${2:-}"; shift 2 ;;
	--mailward) MAILWARD="${2:-}"; shift 2 ;;
	-h|--help) sed -n '2,27p' "$0"; exit 0 ;;
	*) die "unknown argument $1 (try --help)" ;;
	esac
done
case "$ONLY" in ""|postfix|mailward) ;; *) die "--only wants postfix or mailward" ;; esac
for v in MESSAGES SESSIONS SIZE RUNS TIMEOUT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v,,} wants a positive integer"
done
[[ $(id -u) -eq 0 ]] || die "must run as root (Postfix's master(8) and virtual(8) need it)"
export PATH="$PATH:/usr/sbin:/sbin"
for p in smtp-source postfix; do
	command -v "$p" >/dev/null 2>&1 || die "$p missing; install with: apt-get install -y postfix"
done

cd "$(dirname "$0")/.."
# Each measurement follows the cleanup of the last one's 5,000-10,000
# files: ext4 skips inodes deleted in the last 60 s (see settle in
# lib.sh), so the pause is longer here, as in group.sh.
SETTLE=${SETTLE:-65}
# shellcheck source=bench/lib.sh
. bench/lib.sh
TMP=$(mktemp -d /tmp/mailward-journal.XXXXXX)
chmod 755 "$TMP"

MW_PID=""
PF_dir=""
cleanup() {
	set +e
	[[ -n $MW_PID ]] && stop_pid "$MW_PID" mailward
	[[ -n $PF_dir ]] && { "$TMP/postfixpeer" stop "$PF_dir" || echo "warning: could not stop Postfix in $PF_dir" >&2; }
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building in $TMP ..."
go build -o "$TMP/postfixpeer" ./bench/cmd/postfixpeer
go build -o "$TMP/maildirwait" ./bench/cmd/maildirwait
"$TMP/postfixpeer" check
if [[ -z $MAILWARD && $ONLY != postfix ]]; then
	go build -o "$TMP/mailward" ./cmd/mailward
	MAILWARD="$TMP/mailward"
fi

# start_mailward DATA JOURNALED: sets PORT, LIST (the Maildirs to wait
# for) and QUEUE.
start_mailward() {
	local data=$1 journaled=$2
	PORT=$("$TMP/postfixpeer" freeport)
	mkdir -p "$data"
	{
		cat <<-EOF
			[server]
			fqdn = "mx1.example.test"
			default_domain = "example.test"
			data_dir = "$data"
			[log]
			level = "warn"
			[[virtual_server]]
			name = "default"
			address = "127.0.0.1:$PORT"
			tls = "none"
			max_connections_per_ip = 100
			[organization]
			name = "Bench"
			self = "mx1"
			[[organization.server]]
			name = "mx1"
			fqdn = "mx1.example.test"
			spns = ["SMTP/mx1", "SMTP/mx1.example.test", "SMTPSVC/mx1", "SMTPSVC/mx1.example.test"]
			[[organization.domain]]
			name = "example.test"
			[[organization.mailbox]]
			address = "user@example.test"
			home_server = "mx1"
			[[organization.mailbox]]
			address = "journal@example.test"
			home_server = "mx1"
		EOF
		if [[ $journaled == yes ]]; then
			cat <<-EOF
				[[organization.journal_rule]]
				name = "everyone"
				domain = "example.test"
				recipient = "journal@example.test"
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
	LIST=$data.maildirs
	echo "$data/mailboxes/user@example.test/Maildir" >"$LIST"
	[[ $journaled == yes ]] && echo "$data/mailboxes/journal@example.test/Maildir" >>"$LIST"
	QUEUE=("$data/queue/active")
}

stop_mailward() { stop_pid "$MW_PID" mailward; MW_PID=""; }

# start_postfix NAME JOURNALED: the same, for a private Postfix.
start_postfix() {
	local name=$1 journaled=$2 out k v args=(--mailbox user --mailbox journal)
	[[ $journaled == yes ]] && args+=(--main "always_bcc=journal@example.test")
	out=$("$TMP/postfixpeer" start "${args[@]}") || return 1
	while IFS='=' read -r k v; do
		case "$k" in dir|port|log) printf -v "PF_$k" '%s' "$v" ;; esac
	done <<<"$out"
	PORT=$PF_port
	LIST=$TMP/$name.maildirs
	echo "$PF_dir/maildirs/example.test/user" >"$LIST"
	[[ $journaled == yes ]] && echo "$PF_dir/maildirs/example.test/journal" >>"$LIST"
	QUEUE=("$PF_dir/queue/"{maildrop,incoming,active})
}

stop_postfix() {
	"$TMP/postfixpeer" stop "$PF_dir" || echo "warning: could not stop Postfix in $PF_dir" >&2
	PF_dir=""
}

declare -A RATES
FAILED=0
# measure SIDE JOURNALED RUN: one fresh server, the whole workload.
measure() {
	local side=$1 journaled=$2 run=$3 name="$1-$2-$3" start el q qs=()
	settle
	if [[ $side == mailward ]]; then
		start_mailward "$TMP/$name" "$journaled" || { FAILED=1; stop_mailward; return 1; }
	else
		start_postfix "$name" "$journaled" || { echo "postfix: start failed" >&2; FAILED=1; return 1; }
	fi
	for q in "${QUEUE[@]}"; do qs+=(--queue "$q"); done
	start=$(now)
	if ! timeout "$TIMEOUT" smtp-source -A -c -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" \
		-M client.test -f bench@sender.test -t user@example.test "127.0.0.1:$PORT" >"$TMP/$name-source.log" 2>&1; then
		echo "$name: smtp-source failed:" >&2; tail -5 "$TMP/$name-source.log" >&2
	fi
	if el=$("$TMP/maildirwait" --files "$MESSAGES" --timeout "${TIMEOUT}s" --since "$start" --list "$LIST" "${qs[@]}"); then
		local rate
		rate=$(awk -v n="$MESSAGES" -v t="$el" 'BEGIN { printf "%.1f", n / t }')
		RATES[$side-$journaled]+="$rate "
		printf '%-9s %-10s run %d: %d messages in %7.2fs = %8s msg/s\n' "$side" "$journaled" "$run" "$MESSAGES" "$el" "$rate"
	else
		FAILED=1
	fi
	if [[ $side == mailward ]]; then stop_mailward; else stop_postfix; fi
}


sides=()
[[ $ONLY == postfix ]] || sides+=(mailward)
[[ $ONLY == mailward ]] || sides+=(postfix)
echo "journal: $MESSAGES messages of ${SIZE} bytes, $SESSIONS sessions, $RUNS run(s); $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); load $(loadavg)"
for ((r = 1; r <= RUNS; r++)); do
	for s in "${sides[@]}"; do
		# Alternate the order from run to run, so that neither variant
		# always runs right after the other's cleanup.
		if ((r % 2)); then order=(no yes); else order=(yes no); fi
		for j in "${order[@]}"; do measure "$s" "$j" "$r" || true; done
	done
done

echo
echo "== results (msg/s, medians over $RUNS run(s); load average now: $(loadavg))"
for s in "${sides[@]}"; do
	[[ -n ${RATES[$s-no]:-} && -n ${RATES[$s-yes]:-} ]] || continue
	# shellcheck disable=SC2086 # the list of rates, split on purpose
	p=$(median ${RATES[$s-no]}) j=$(median ${RATES[$s-yes]})
	awk -v s="$s" -v p="$p" -v j="$j" 'BEGIN {
		printf "%-9s plain %8.1f  journaled %8.1f  cost %5.1f %%%s\n", s, p, j, 100 * (1 - j / p),
			(s == "mailward" ? " (target: under 30 %)" : " (always_bcc)") }'
	printf -v "MED_${s}_no" '%s' "$p"
	printf -v "MED_${s}_yes" '%s' "$j"
done
if [[ -n ${MED_mailward_yes:-} && -n ${MED_postfix_yes:-} ]]; then
	awk -v m="$MED_mailward_yes" -v p="$MED_postfix_yes" -v mp="$MED_mailward_no" -v pp="$MED_postfix_no" 'BEGIN {
		printf "ratio mailward/postfix: plain %.2f, journaled %.2f\n", mp / pp, m / p }'
fi
exit "$FAILED"
