#!/usr/bin/env bash
# Content filtering with rspamd, mailward against Debian's Postfix, side
# by side in one run: the deliver workload of bench/run.sh (w1: 4 KiB
# messages from smtp-source, 20 sessions, one message per connection, to
# one mailbox), every message scanned by the same rspamd before it is
# accepted. mailward asks rspamd's normal worker over HTTP
# ([content_filter]); Postfix asks it through rspamd's proxy worker in
# milter mode (smtpd_milters = inet:..., milter_default_action = accept),
# the proxy passing each message on to the same normal worker (the
# shipped worker-proxy.inc's set-up). Not a Go test: it needs root,
# Postfix, rspamd and minutes.
#
#   bench/rspamd.sh [--messages N] [--sessions N] [--size BYTES]
#                   [--runs N] [--timeout SECS] [--mailward BINARY]
#
# rspamd runs the tests' minimal configuration (internal/testkit
# StartRspamd's: no rules beyond GTUBE, no DNS, no Redis), so that the
# figures measure the MTAs and their way of asking rspamd, not rspamd's
# rules, which cost both the same. Each side's scans are counted by
# rspamd's controller (/stat): a run in which an MTA did not have every
# message scanned fails. The clock runs from the start of sending until
# the mailbox holds N messages (bench/cmd/maildirwait; for mailward also
# until its queue is empty). The ratio printed is mailward's throughput
# over Postfix's (target: at least 1).
#
# Everything listens on 127.0.0.1 only; every wait is bounded.
set -euo pipefail

MESSAGES=5000
SESSIONS=20
SIZE=4096
RUNS=1
TIMEOUT=300
MAILWARD=""

die() { echo "rspamd.sh: $*" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
	case "$1" in
	--messages) MESSAGES="${2:-}"; shift 2 ;;
	--sessions) SESSIONS="${2:-}"; shift 2 ;;
	--size) SIZE="${2:-}"; shift 2 ;;
	--runs) RUNS="${2:-}"; shift 2 ;;
	--timeout) TIMEOUT="${2:-}"; shift 2 ;;
	--mailward) MAILWARD="${2:-}"; shift 2 ;;
	-h|--help) sed -n '2,25p' "$0"; exit 0 ;;
	*) die "unknown argument $1 (try --help)" ;;
	esac
done
for v in MESSAGES SESSIONS SIZE RUNS TIMEOUT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v,,} wants a positive integer"
done
[[ $(id -u) -eq 0 ]] || die "must run as root (Postfix's master(8); rspamd becomes _rspamd)"
export PATH="$PATH:/usr/sbin:/sbin"
command -v smtp-source >/dev/null 2>&1 || die "smtp-source missing; install with: apt-get install -y postfix"
command -v rspamd >/dev/null 2>&1 || die "rspamd missing; install with: apt-get install -y --no-install-recommends rspamd"

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
TMP=$(mktemp -d /tmp/mailward-rspamd.XXXXXX)
chmod 755 "$TMP"

MW_PID=""
RS_PID=""
PF_DIRS=()
cleanup() {
	set +e
	[[ -n $MW_PID ]] && stop_pid "$MW_PID" mailward
	for d in "${PF_DIRS[@]}"; do "$TMP/postfixpeer" stop "$d" || echo "warning: could not stop Postfix in $d" >&2; done
	# rspamd's own process group: its workers go with it.
	[[ -n $RS_PID ]] && { kill -TERM -- "-$RS_PID" 2>/dev/null; sleep 1; kill -KILL -- "-$RS_PID" 2>/dev/null; }
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building in $TMP ..."
go build -o "$TMP/postfixpeer" ./bench/cmd/postfixpeer
go build -o "$TMP/maildirwait" ./bench/cmd/maildirwait
"$TMP/postfixpeer" check
if [[ -z $MAILWARD ]]; then
	go build -o "$TMP/mailward" ./cmd/mailward
	MAILWARD="$TMP/mailward"
fi

# ---- rspamd ---------------------------------------------------------------
RS_NORMAL=$("$TMP/postfixpeer" freeport)
RS_CTL=$("$TMP/postfixpeer" freeport)
RS_PROXY=$("$TMP/postfixpeer" freeport)
mkdir -p "$TMP/rspamd/run" "$TMP/rspamd/db"
printf 'com\nnet\norg\ntest\n' >"$TMP/rspamd/tld.dat"
cat >"$TMP/rspamd/rspamd.conf" <<EOF
options {
    pidfile = "\$RUNDIR/rspamd.pid";
    dns { nameserver = ["127.0.0.1:1"]; timeout = 0.5s; retransmits = 1; }
    filters = "";
    url_tld = "$TMP/rspamd/tld.dat";
}
logging { type = "file"; filename = "$TMP/rspamd/rspamd.log"; level = "warning"; }
actions { reject = 15; add_header = 6; greylist = 4; }
worker "normal" { bind_socket = "127.0.0.1:$RS_NORMAL"; count = 1; mime = true; }
worker "controller" { bind_socket = "127.0.0.1:$RS_CTL"; count = 1; password = "x"; secure_ip = "127.0.0.1"; }
worker "rspamd_proxy" {
    bind_socket = "127.0.0.1:$RS_PROXY";
    milter = yes;
    timeout = 120s;
    upstream "local" { default = yes; hosts = "127.0.0.1:$RS_NORMAL"; }
    count = 1;
}
EOF
chown -R _rspamd:_rspamd "$TMP/rspamd"
setsid rspamd -f -u _rspamd -g _rspamd -c "$TMP/rspamd/rspamd.conf" "--var=RUNDIR=$TMP/rspamd/run" "--var=DBDIR=$TMP/rspamd/db" \
	>"$TMP/rspamd/out" 2>&1 </dev/null &
RS_PID=$!

# http PORT METHOD PATH [BODY]: one HTTP/1.0 exchange over bash's /dev/tcp
# (in a subshell: a refused connection ends it, not the script).
http() (
	local port=$1 method=$2 path=$3 body=${4:-}
	exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
	printf '%s %s HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s' "$method" "$path" "${#body}" "$body" >&3
	timeout 5 cat <&3 || true
	exec 3<&-
)
scanned() { http "$RS_CTL" GET /stat | grep -o '"scanned":[0-9]*' | cut -d: -f2; }
for ((i = 0; i < 300; i++)); do # a real check: /ping answers before rspamd can scan
	http "$RS_NORMAL" POST /checkv2 $'Subject: ready\r\n\r\nready\r\n' 2>/dev/null | grep -q '"action"' && break
	kill -0 "$RS_PID" 2>/dev/null || die "rspamd exited: $(tail -n 5 "$TMP/rspamd/out" "$TMP/rspamd/rspamd.log")"
	sleep 0.1
done
[[ -n $(scanned) ]] || die "rspamd did not answer within 30 s"

# ---- the two MTAs ---------------------------------------------------------
start_mailward() { # start_mailward NAME: sets PORT, QUEUE
	local data=$TMP/$1
	PORT=$("$TMP/postfixpeer" freeport)
	mkdir -p "$data"
	cat >"$data.toml" <<-EOF
		[server]
		fqdn = "mx1.example.test"
		data_dir = "$data"
		[log]
		level = "warn"
		[[domain]]
		name = "example.test"
		[[mailbox]]
		address = "user@example.test"
		[content_filter]
		rspamd_url = "http://127.0.0.1:$RS_NORMAL"
		on_failure = "tempfail"
		[[virtual_server]]
		name = "default"
		address = "127.0.0.1:$PORT"
		tls = "none"
		max_connections_per_ip = 100
	EOF
	"$MAILWARD" serve --config "$data.toml" >"$data.log" 2>&1 &
	MW_PID=$!
	wait_220 "$PORT" 30 || { echo "mailward: no 220 within 30s:" >&2; tail -n 20 "$data.log" >&2; return 1; }
	echo "$data/mailboxes/user@example.test/Maildir" >"$TMP/$1.maildirs"
	QUEUE=(--queue "$data/queue/active")
}

start_postfix() { # start_postfix NAME: sets PORT, QUEUE
	local out k v dir="" maildir=""
	out=$("$TMP/postfixpeer" start --mailbox user --main "smtpd_milters=inet:127.0.0.1:$RS_PROXY" \
		--main milter_default_action=accept --main milter_protocol=6) || return 1
	while IFS='=' read -r k v; do
		case "$k" in dir) dir=$v ;; port) PORT=$v ;; maildir) maildir=$v ;; esac
	done <<<"$out"
	PF_DIRS+=("$dir")
	echo "$maildir" >"$TMP/$1.maildirs"
	QUEUE=()
}

stop_mta() {
	if [[ -n $MW_PID ]]; then stop_pid "$MW_PID" mailward; MW_PID=""; fi
	for d in "${PF_DIRS[@]}"; do "$TMP/postfixpeer" stop "$d" || echo "warning: could not stop Postfix in $d" >&2; done
	PF_DIRS=()
}

declare -A RATES
FAILED=0
# measure MTA RUN: one fresh MTA, the whole workload, its scans counted.
measure() {
	local mta=$1 run=$2 name="$1-$2" start el before after rate
	settle
	if ! "start_$mta" "$name"; then
		echo "$name: start failed" >&2
		FAILED=1; stop_mta; return 1
	fi
	before=$(scanned)
	start=$(now)
	if ! timeout "$TIMEOUT" smtp-source -A -c -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" \
		-M client.test -f bench@sender.test -t user@example.test "127.0.0.1:$PORT" >"$TMP/$name-source.log" 2>&1; then
		echo "$name: smtp-source failed:" >&2; tail -n 5 "$TMP/$name-source.log" >&2
	fi
	if el=$("$TMP/maildirwait" --files "$MESSAGES" --timeout "${TIMEOUT}s" --since "$start" --list "$TMP/$name.maildirs" "${QUEUE[@]}"); then
		after=$(scanned)
		rate=$(awk -v n="$MESSAGES" -v t="$el" 'BEGIN { printf "%.1f", n / t }')
		printf '%-8s rspamd run %d: %d messages in %7.2fs = %8s msg/s (%d scans)\n' "$mta" "$run" "$MESSAGES" "$el" "$rate" "$((after - before))"
		if ((after - before < MESSAGES)); then
			echo "$name: rspamd scanned $((after - before)) of $MESSAGES messages" >&2
			FAILED=1
		else
			RATES[$mta]+="$rate "
		fi
	else
		FAILED=1
	fi
	stop_mta
}


echo "rspamd: $MESSAGES messages of ${SIZE} bytes, $SESSIONS sessions, $RUNS run(s); $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); load $(loadavg)"
for ((r = 1; r <= RUNS; r++)); do
	# Alternate the order from run to run.
	if ((r % 2)); then order=(mailward postfix); else order=(postfix mailward); fi
	for m in "${order[@]}"; do measure "$m" "$r" || true; done
done

echo
echo "== results (msg/s, medians over $RUNS run(s); load average now: $(loadavg))"
if [[ -n ${RATES[mailward]:-} && -n ${RATES[postfix]:-} ]]; then
	# shellcheck disable=SC2086 # the list of rates, split on purpose
	mw=$(median ${RATES[mailward]}) pf=$(median ${RATES[postfix]})
	awk -v a="$mw" -v b="$pf" 'BEGIN { printf "with rspamd: mailward %8.1f  postfix (milter) %8.1f  ratio %.2f (target: at least 1)\n", a, b, a / b }'
fi
exit "$FAILED"
