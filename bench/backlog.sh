#!/usr/bin/env bash
# Restart with a big backlog: how soon does mailward answer, and how fast
# does the backlog drain once its next hop is back? Not a Go test: it
# needs Postfix's smtp-source and smtp-sink, root for smtp-sink -u, and
# (at 100,000 messages) several minutes.
#
#   bench/backlog.sh [--messages N] [--sessions N] [--size BYTES]
#                    [--timeout SECS] [--mailward BINARY] [--restart-with BINARY]
#
#  1. mailward relays everything to [delivery] smart_host, a loopback port
#     where nothing listens (the next hop is down); retry_schedule = 1h, so
#     each message is tried once on arrival and then waits.
#  2. smtp-source queues N messages (default 100,000) of SIZE bytes.
#  3. mailward is stopped and started again. Measured from the start:
#     the first 220 greeting, the first answer on the admin socket, the
#     first "mailward queue list" (and how long it took), the end of the
#     spool load (event 2002), and "queue list" / "queue show" once loaded.
#  4. smtp-sink starts on the smart host's port, "mailward queue retry"
#     makes every message ready, and the clock runs until the spool's
#     active/ is empty: every message delivered, acknowledged by smtp-sink
#     (smtp-sink -M N would exit on the Nth message before its 250, so
#     the last one would stay queued): the drain rate.
#
# --mailward runs a given binary instead of building this tree;
# --restart-with runs another one from the restart on (e.g. an older
# build, for comparison: the figures it lacks are shown as "-"). Everything listens on 127.0.0.1 only;
# every wait is bounded by --timeout seconds (default 900) per phase.
set -euo pipefail

MESSAGES=100000
SESSIONS=20
SIZE=1024
TIMEOUT=900
MAILWARD=""
RESTART=""

die() { echo "backlog.sh: $*" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
	case "$1" in
	--messages) MESSAGES="${2:-}"; shift 2 ;;
	--sessions) SESSIONS="${2:-}"; shift 2 ;;
	--size) SIZE="${2:-}"; shift 2 ;;
	--timeout) TIMEOUT="${2:-}"; shift 2 ;;
	--mailward) MAILWARD="${2:-}"; shift 2 ;;
	--restart-with) RESTART="${2:-}"; shift 2 ;;
	-h|--help) sed -n '2,25p' "$0"; exit 0 ;;
	*) die "unknown argument $1 (try --help)" ;;
	esac
done
for v in MESSAGES SESSIONS SIZE TIMEOUT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v,,} wants a positive integer"
done
[[ $(id -u) -eq 0 ]] || die "must run as root (smtp-sink -u nobody)"
export PATH="$PATH:/usr/sbin:/sbin"
for p in smtp-source smtp-sink curl; do
	command -v "$p" >/dev/null 2>&1 || die "$p missing; install with: apt-get install -y postfix curl"
done

cd "$(dirname "$0")/.."
TMP=$(mktemp -d /tmp/mailward-backlog.XXXXXX)
chmod 755 "$TMP"
MW_PID=""
SINK_PID=""
cleanup() {
	set +e
	[[ -n $MW_PID ]] && stop_pid "$MW_PID" mailward
	[[ -n $SINK_PID ]] && stop_pid "$SINK_PID" smtp-sink
	if [[ -n ${KEEP:-} ]]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stop_pid PID NAME: TERM, wait up to 60 s, then KILL -- only our own child.
stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 600; i++)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.1
	done
	echo "warning: $2 (pid $pid) ignored SIGTERM for 60s; killing" >&2
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN { printf "%.3f", b - a }'; }

# greets PORT: something on 127.0.0.1:PORT answers 220 within 5 s.
greets() {
	timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && IFS= read -r l <&3 && printf 'QUIT\r\n' >&3 && [[ \$l == 220* ]]" 2>/dev/null
}

# admin PATH: GET PATH on the admin socket (the body on stdout).
admin() { curl -sf --max-time 30 --unix-socket "$DATA/admin.sock" "http://mailward$1"; }

# until_true SECS WHAT CMD...: poll CMD every 0.05 s for at most SECS.
until_true() {
	local secs=$1 what=$2 end
	shift 2
	end=$(awk -v s="$secs" -v n="$(now)" 'BEGIN { printf "%.0f", n + s }')
	until "$@"; do
		if (($(date +%s) >= end)); then
			echo "backlog.sh: timeout after ${secs}s waiting for $what" >&2
			return 1
		fi
		sleep 0.05
	done
}

settled() { # every message tried and waiting: nothing ready, nothing in flight
	[[ $(admin /summary 2>/dev/null) == *'"ready":0,"in_flight":0'* ]]
}
active_count() { find "$DATA/queue/active" -maxdepth 1 -type f ! -name '*.state' | wc -l; }

echo "building in $TMP ..."
go build -o "$TMP/postfixpeer" ./bench/cmd/postfixpeer
if [[ -z $MAILWARD ]]; then
	go build -o "$TMP/mailward" ./cmd/mailward
	MAILWARD="$TMP/mailward"
fi
RESTART=${RESTART:-$MAILWARD}
PORT=$("$TMP/postfixpeer" freeport)
SINKPORT=$("$TMP/postfixpeer" freeport)
HOP="127.0.0.1:$SINKPORT"
DATA="$TMP/data"
CFG="$TMP/mailward.toml"
mkdir -p "$DATA"
cat >"$CFG" <<-EOF
	[server]
	fqdn = "mx1.example.test"
	default_domain = "example.test"
	data_dir = "$DATA"
	[log]
	level = "warn"
	[queue]
	retry_schedule = ["1h"]
	[[domain]]
	name = "example.test"
	[[virtual_server]]
	name = "default"
	address = "127.0.0.1:$PORT"
	tls = "none"
	relay_networks = ["127.0.0.0/8"]
	max_connections_per_ip = 100
	[delivery]
	smart_host = "$HOP"
EOF

start_mailward() {
	"$MAILWARD" serve --config "$CFG" >>"$TMP/mailward.log" 2>&1 &
	MW_PID=$!
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
echo "backlog: $MESSAGES messages of ${SIZE} bytes over $SESSIONS sessions; next hop $HOP down; $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); load $(loadavg)"
df -h "$TMP" | tail -1 | awk '{ print "disk: " $4 " free on " $6 }'

# ---- 1-2: queue the backlog ----------------------------------------------
start_mailward
until_true 30 "mailward's first 220" greets "$PORT" || exit 1
t=$(now)
timeout "$TIMEOUT" smtp-source -A -c -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -M client.test \
	-f bench@sender.test -t user@remote.test "127.0.0.1:$PORT" >"$TMP/source.log" 2>&1 ||
	{ echo "smtp-source failed:" >&2; tail -5 "$TMP/source.log" >&2; exit 1; }
INTAKE=$(since "$t")
n=$(active_count)
echo "queued: $n messages in ${INTAKE}s ($(awk -v n="$n" -v s="$INTAKE" 'BEGIN { printf "%.0f", n / s }') msg/s, each tried once against the down hop)"
((n == MESSAGES)) || { echo "backlog.sh: $n of $MESSAGES messages in the spool" >&2; exit 1; }
until_true "$TIMEOUT" "every message's first attempt" settled || exit 1
du -sh "$DATA/queue" | awk '{ print "spool: " $1 }'
t=$(now)
stop_pid "$MW_PID" mailward
MW_PID=""
echo "stopped in $(since "$t")s"
sleep "${SETTLE:-15}" # let ext4's recently-deleted-inode window pass (see README)

# ---- 3: restart -----------------------------------------------------------
MAILWARD=$RESTART
# loaded: event 2002 in what the event log gained since the restart (read
# once: the log holds a line per attempt, ~100 MB at 100,000 messages).
EVOFF=$(stat -c %s "$DATA/events.log")
loaded() {
	local size
	size=$(stat -c %s "$DATA/events.log")
	(($(tail -c +$((EVOFF + 1)) "$DATA/events.log" | head -c $((size - EVOFF)) | grep -c '"id":2002,') > 0)) && return 0
	EVOFF=$((size > EVOFF + 4096 ? size - 4096 : EVOFF)) # a line cut by the last write is read whole next time
	return 1
}
T0=$(now)
start_mailward
(until_true "$TIMEOUT" "220 after the restart" greets "$PORT" && now >"$TMP/t220") &
P220=$!
until_true "$TIMEOUT" "the admin socket" admin /queues >/dev/null || exit 1
TADMIN=$(since "$T0")
t=$(now)
"$MAILWARD" queue list --config "$CFG" >"$TMP/list1.out" 2>&1 || { cat "$TMP/list1.out" >&2; exit 1; }
TLIST1=$(since "$T0")
DLIST1=$(since "$t")
wait "$P220" || exit 1
T220=$(since "$T0" "$(cat "$TMP/t220")")
# Once active/ is listed, the load's progress has a total: one more look
# at queue list, in the middle of the load. (A build without /summary
# loads before it answers: no such figure.)
listed() { [[ $(admin /summary 2>/dev/null) == *'"loading":{"loaded":'*'"total":'[0-9]* ]]; }
TLISTED="-"
DLISTMID="-"
if admin /summary >/dev/null 2>&1 && until_true 60 "the spool to be listed" listed; then
	TLISTED=$(since "$T0")
	sleep 2
	t=$(now)
	"$MAILWARD" queue list --config "$CFG" >"$TMP/listmid.out" 2>&1 || { cat "$TMP/listmid.out" >&2; exit 1; }
	DLISTMID=$(since "$t")
fi
until_true "$TIMEOUT" "the end of the spool load (event 2002)" loaded || exit 1
LOADSECS=$(grep '"id":2002,' "$DATA/events.log" | tail -1 | sed -n 's/.*"seconds":"\([0-9.]*\)".*/\1/p')
t=$(now)
"$MAILWARD" queue list --config "$CFG" >"$TMP/list2.out" 2>&1 || { cat "$TMP/list2.out" >&2; exit 1; }
DLIST2=$(since "$t")
t=$(now)
"$MAILWARD" queue show "$HOP" --config "$CFG" >"$TMP/show.out" 2>&1 || true
DSHOW=$(since "$t")
if admin /summary >/dev/null 2>&1; then
	until_true "$TIMEOUT" "every message's attempt after the restart" settled || exit 1
	TSETTLED=$(since "$T0")
else
	TSETTLED="-" # a build without /summary
fi

# ---- 4: the hop is back -----------------------------------------------------
smtp-sink -u nobody "127.0.0.1:$SINKPORT" 256 >"$TMP/sink.log" 2>&1 &
SINK_PID=$!
until_true 10 "smtp-sink" greets "$SINKPORT" || exit 1
t=$(now)
"$MAILWARD" queue retry "$HOP" --config "$CFG" >"$TMP/retry.out" 2>&1 || { cat "$TMP/retry.out" >&2; exit 1; }
drained=0
for ((i = 0; i < TIMEOUT * 4; i++)); do
	(($(find "$DATA/queue/active" -maxdepth 1 -type f | wc -l) == 0)) && { drained=1; break; }
	sleep 0.25
done
DRAIN=$(since "$t")
stop_pid "$SINK_PID" smtp-sink
SINK_PID=""
LEFT=$(active_count)

echo
echo "== queue list while loading (${DLIST1}s):"
sed 's/^/   /' "$TMP/list1.out" | head -12
if [[ -f $TMP/listmid.out ]]; then
	echo "== queue list during the load (${DLISTMID}s):"
	sed 's/^/   /' "$TMP/listmid.out" | head -12
fi
echo "== queue list once loaded (${DLIST2}s):"
sed 's/^/   /' "$TMP/list2.out" | head -12
echo "== queue show $HOP once loaded (${DSHOW}s): $(grep -c '^Message ' "$TMP/show.out" || true) messages shown; $(tail -1 "$TMP/show.out" | cut -c1-100)"
echo
echo "== results ($MESSAGES messages; load average now $(loadavg))"
printf '%-44s %8ss\n' "restart -> first 220" "$T220"
printf '%-44s %8ss\n' "restart -> admin socket answers" "$TADMIN"
printf '%-44s %8ss  (the command took %ss)\n' "restart -> first queue list done" "$TLIST1" "$DLIST1"
printf '%-44s %8ss\n' "restart -> spool listed (load total known)" "$TLISTED"
printf '%-44s %8ss\n' "queue list during the load" "$DLISTMID"
printf '%-44s %8ss\n' "spool load, start to end (event 2002)" "${LOADSECS:-?}"
printf '%-44s %8ss\n' "queue list, 100% loaded" "$DLIST2"
printf '%-44s %8ss\n' "queue show (first page), loaded" "$DSHOW"
printf '%-44s %8ss\n' "restart -> every message re-tried" "$TSETTLED"
if ((drained)); then
	printf '%-44s %8ss = %s msg/s\n' "drain to smtp-sink after queue retry" "$DRAIN" \
		"$(awk -v n="$MESSAGES" -v s="$DRAIN" 'BEGIN { printf "%.0f", n / s }')"
else
	echo "drain: $(active_count) messages still queued after ${TIMEOUT}s"
	exit 1
fi
((LEFT == 0)) || { echo "backlog.sh: $LEFT messages left in the spool after the drain" >&2; exit 1; }
