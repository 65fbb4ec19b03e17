#!/usr/bin/env bash
# Group expansion: one message to a distribution group of N local
# mailboxes, mailward against Debian's Postfix, same run, same machine.
# Not a Go test: it needs root, Postfix and a couple of minutes.
#
#   bench/group.sh [--members N] [--runs N] [--size BYTES] [--timeout SECS]
#                  [--only postfix|mailward] [--mailward BINARY] [--copies]
#
# mailward is a one-server organization: the domain example.test, N
# mailboxes homed on this server and group@example.test with the N
# mailboxes as members ([[organization.distribution_group]]). Postfix
# gets the N mailboxes as virtual(8) Maildirs and a virtual_alias_maps
# entry expanding group@example.test into them. Both durable as shipped:
# mailward's syncfs group commit, Postfix's fsync of every Maildir file.
#
# Each run sends one message (smtp-source, one session) and the clock
# runs from the start of sending until every one of the N Maildirs holds
# its copy in new/ and the MTA has finished the message (its queue file
# is gone: every copy delivered, and so durable, by the MTA's own
# account -- a file in new/ may be visible before it is on disk).
# bench/cmd/maildirwait watches the Maildirs with inotify, so the waiting
# costs neither MTA any CPU. The first message of each side
# also creates the N Maildirs and is reported apart; then --runs timed
# messages per side, alternating mailward and Postfix, each once the
# previous message has left its queue. Medians and their ratio at the end.
#
# --mailward runs a given binary instead of building this tree (e.g. an
# older build, for a before/after comparison). mailward stores one
# instance of the message for the members, hard-linked into each Maildir
# ([categorizer] single_instance, the default); --copies writes a copy
# each instead, as Postfix does.
#
# Everything listens on 127.0.0.1 only; every wait is bounded.
set -euo pipefail

MEMBERS=1000
RUNS=5
SIZE=4096
TIMEOUT=120
ONLY=""
MAILWARD=""
SINGLE=true

die() { echo "group.sh: $*" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
	case "$1" in
	--members) MEMBERS="${2:-}"; shift 2 ;;
	--runs) RUNS="${2:-}"; shift 2 ;;
	--size) SIZE="${2:-}"; shift 2 ;;
	--timeout) TIMEOUT="${2:-}"; shift 2 ;;
	--only) ONLY="${2:-}"; shift 2 ;;
	--mailward) MAILWARD="${2:-}"; shift 2 ;;
	--copies) SINGLE=false; shift ;;
	-h|--help) sed -n '2,31p' "$0"; exit 0 ;;
	*) die "unknown argument $1 (try --help)" ;;
	esac
done
case "$ONLY" in ""|postfix|mailward) ;; *) die "--only wants postfix or mailward" ;; esac
for v in MEMBERS RUNS SIZE TIMEOUT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v,,} wants a positive integer"
done
((MEMBERS <= 99999)) || die "--members wants at most 99999"
[[ $(id -u) -eq 0 ]] || die "must run as root (Postfix's master(8) and virtual(8) need it)"
export PATH="$PATH:/usr/sbin:/sbin"
for p in smtp-source postfix; do
	command -v "$p" >/dev/null 2>&1 || die "$p missing; install with: apt-get install -y postfix"
done

cd "$(dirname "$0")/.."
# Each side creates a thousand Maildirs, in the block groups that the
# last run's cleanup has just emptied: ext4 skips inodes deleted in the
# last 60 s (see settle in lib.sh), so the pause is longer here.
SETTLE=${SETTLE:-65}
MEDIAN_FORMAT="%.3f" # seconds
# shellcheck source=bench/lib.sh
. bench/lib.sh
TMP=$(mktemp -d /tmp/mailward-group.XXXXXX)
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

members=()
for ((i = 1; i <= MEMBERS; i++)); do members+=("$(printf 'u%05d' "$i")"); done
printf '%s@example.test\n' "${members[@]}" >"$TMP/members"

# ---- mailward: a one-server organization --------------------------------
start_mailward() {
	local port data="$TMP/mwdata" m
	port=$("$TMP/postfixpeer" freeport)
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
			address = "127.0.0.1:$port"
			tls = "none"
			[categorizer]
			max_expanded_recipients = $((MEMBERS > 10000 ? MEMBERS : 10000))
			single_instance = $SINGLE
			[organization]
			name = "Bench"
			self = "mx1"
			[[organization.server]]
			name = "mx1"
			fqdn = "mx1.example.test"
			spns = ["SMTP/mx1", "SMTP/mx1.example.test", "SMTPSVC/mx1", "SMTPSVC/mx1.example.test"]
			[[organization.domain]]
			name = "example.test"
		EOF
		for m in "${members[@]}"; do
			printf '[[organization.mailbox]]\naddress = "%s@example.test"\nhome_server = "mx1"\n' "$m"
		done
		printf '[[organization.distribution_group]]\naddress = "group@example.test"\nmembers = [\n'
		printf '  "%s@example.test",\n' "${members[@]}"
		printf ']\n'
	} >"$TMP/mailward.toml"
	"$MAILWARD" config check --config "$TMP/mailward.toml" >"$TMP/check.log" 2>&1 ||
		{ cat "$TMP/check.log" >&2; return 1; }
	"$MAILWARD" serve --config "$TMP/mailward.toml" >"$TMP/mailward.log" 2>&1 &
	MW_PID=$!
	if ! wait_220 "$port" 30; then
		echo "mailward: no 220 on 127.0.0.1:$port within 30s; log:" >&2
		tail -20 "$TMP/mailward.log" >&2
		return 1
	fi
	MW_PORT=$port
	MW_QUEUE=("$data/queue/active")
	printf "$data/mailboxes/%s@example.test/Maildir\n" "${members[@]}" >"$TMP/mailward.maildirs"
}

# ---- Postfix: virtual(8) mailboxes and a virtual alias ------------------
start_postfix() {
	local out k v args=()
	for m in "${members[@]}"; do args+=(--mailbox "$m"); done
	# virtual_alias_expansion_limit (default 1000) refuses an expansion
	# into *more* than that many addresses: raised to N when N is larger.
	# virtual_alias_recursion_limit (1000) counts nesting levels: one here.
	out=$("$TMP/postfixpeer" start "${args[@]}" --alias "group@example.test=$TMP/members" \
		--main "virtual_alias_expansion_limit=$((MEMBERS > 1000 ? MEMBERS : 1000))") || return 1
	while IFS='=' read -r k v; do
		case "$k" in dir|port|log) printf -v "PF_$k" '%s' "$v" ;; esac
	done <<<"$out"
	printf "$PF_dir/maildirs/example.test/%s\n" "${members[@]}" >"$TMP/postfix.maildirs"
	PF_QUEUE=("$PF_dir/queue/"{maildrop,incoming,active})
}

# measure NAME PORT MAILDIRS COPIES QUEUEDIR...: one message to the
# group; prints "<seconds until all copies and an empty queue> <seconds
# until smtp-source is done>" (the 250 and the reply to QUIT: mailward
# starts delivering before it answers QUIT).
measure() {
	local name=$1 port=$2 list=$3 copies=$4 start accepted all q qs=()
	shift 4
	for q in "$@"; do qs+=(--queue "$q"); done
	start=$(now)
	if ! timeout "$TIMEOUT" smtp-source -m 1 -s 1 -l "$SIZE" -M client.test -f bench@sender.test \
		-t group@example.test "127.0.0.1:$port" >"$TMP/$name-source.log" 2>&1; then
		echo "$name: smtp-source failed:" >&2
		tail -5 "$TMP/$name-source.log" >&2
		return 1
	fi
	accepted=$(elapsed "$start")
	all=$("$TMP/maildirwait" --files "$copies" --timeout "${TIMEOUT}s" --since "$start" --list "$list" "${qs[@]}") || return 1
	echo "$all $accepted"
}


FAILED=0
sides=()
[[ $ONLY == postfix ]] || sides+=(mailward)
[[ $ONLY == mailward ]] || sides+=(postfix)
for s in "${sides[@]}"; do
	"start_$s" || { echo "$s: start failed" >&2; exit 1; }
done
echo "group: 1 message of ${SIZE} bytes to group@example.test, $MEMBERS members; $RUNS runs per side; mailward single_instance = $SINGLE; $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); load $(loadavg)"
settle

declare -A FIRST TIMES
run_side() { # run_side SIDE COPIES LABEL
	local s=$1 copies=$2 out port list queue
	if [[ $s == mailward ]]; then
		port=$MW_PORT list=$TMP/mailward.maildirs queue=("${MW_QUEUE[@]}")
	else
		port=$PF_port list=$TMP/postfix.maildirs queue=("${PF_QUEUE[@]}")
	fi
	# Both MTAs share one file system: what the other one (or the last
	# run) left unwritten -- Postfix does not fsync the new/ directories
	# it links into, mailward's event log -- is written now, not by the
	# next syncfs of mailward (or the next fsync of Postfix) inside this
	# measurement. With a single MTA on the machine the flusher would
	# have written it long before the next group message.
	timeout "$TIMEOUT" sync || echo "warning: sync took more than ${TIMEOUT}s" >&2
	if ! out=$(measure "$s" "$port" "$list" "$copies" "${queue[@]}"); then
		FAILED=1
		[[ $s == postfix ]] && { grep -E 'warning|error|fatal' "$PF_log" | tail -5 >&2 || true; }
		return 1
	fi
	printf '%-9s %-22s %d copies delivered in %6ss  (smtp-source done after %ss)\n' "$s" "$3" "$MEMBERS" "${out% *}" "${out#* }"
	if [[ $3 == first* ]]; then FIRST[$s]=${out% *}; else TIMES[$s]+="${out% *} "; fi
	sleep 0.5 # the MTA's own bookkeeping after the message (logs, notices)
}

for s in "${sides[@]}"; do run_side "$s" 1 "first (new Maildirs)" || exit 1; done
for ((r = 1; r <= RUNS; r++)); do
	for s in "${sides[@]}"; do run_side "$s" $((r + 1)) "run $r" || exit 1; done
done

echo
echo "== results ($MEMBERS members; load average now: $(loadavg))"
declare -A MED
for s in "${sides[@]}"; do
	# shellcheck disable=SC2086 # the list of times, split on purpose
	MED[$s]=$(median ${TIMES[$s]})
	printf '%-9s median %6ss over %d runs (%s); first, creating the Maildirs: %ss\n' \
		"$s" "${MED[$s]}" "$RUNS" "$(echo ${TIMES[$s]} | tr ' ' '/')" "${FIRST[$s]}"
done
if [[ -n ${MED[mailward]:-} && -n ${MED[postfix]:-} ]]; then
	awk -v m="${MED[mailward]}" -v p="${MED[postfix]}" -v fm="${FIRST[mailward]}" -v fp="${FIRST[postfix]}" 'BEGIN {
		printf "ratio postfix/mailward (medians): %.2f (target 3); first messages: %.2f\n", p / m, fp / fm }'
fi
exit "$FAILED"
