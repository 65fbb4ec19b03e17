#!/usr/bin/env bash
# The LDAP directory's cost: w1 (4 KiB messages, 20 sessions, one message
# per connection) to 1,000 distinct mailboxes, mailward with the
# organization in LDAP (a private slapd) against the same organization
# in the TOML file, in the same run. Not a Go test: it needs slapd and
# minutes (no root: nothing here needs Postfix's privileges).
#
#   bench/ldap.sh [--messages N] [--mailboxes N] [--sessions N] [--size BYTES]
#                 [--runs N] [--timeout SECS] [--cache-ttl DUR] [--mailward BINARY]
#
# One organization, one file (org.toml): the server mx1, the domain
# example.test and N mailboxes u00001@... homed on mx1. "file" serves it
# with [organization] file = "org.toml"; "ldap" imports the same file
# into a fresh slapd (mailward directory import) and serves it with
# directory = "ldap", cache_ttl --cache-ttl (default 10s, so that the
# directory is read again during each measurement, as in production).
# The LDAP backend keeps a snapshot read at start and every cache_ttl
# (docs/directory.md), so "with the cache warm" is every lookup after
# the start: the figure measures the backend's steady state, refreshes
# included.
#
# The load is bench/cmd/rcptsource, not smtp-source: smtp-source sends
# every message to its one -t recipient, and a run must touch every
# mailbox (message i goes to mailbox i mod N). It is smtp-source's w1
# otherwise (one message per connection, --sessions at a time), and it
# fails the run if any message is not accepted with 250.
#
# The clock runs from the start of sending until each of the N Maildirs
# holds messages/N messages and the queue is empty (bench/cmd/maildirwait).
# Each measurement starts a fresh server after SETTLE (65) seconds, the
# order alternating from run to run (an even --runs puts each backend
# first as often as second). Target: ldap at least 90 % of file.
# Everything listens on 127.0.0.1 only; every wait is bounded.
set -euo pipefail

MESSAGES=5000
MAILBOXES=1000
SESSIONS=20
SIZE=4096
RUNS=2
TIMEOUT=300
CACHE_TTL=10s
MAILWARD=""

die() { echo "ldap.sh: $*" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
	case "$1" in
	--messages) MESSAGES="${2:-}"; shift 2 ;;
	--mailboxes) MAILBOXES="${2:-}"; shift 2 ;;
	--sessions) SESSIONS="${2:-}"; shift 2 ;;
	--size) SIZE="${2:-}"; shift 2 ;;
	--runs) RUNS="${2:-}"; shift 2 ;;
	--timeout) TIMEOUT="${2:-}"; shift 2 ;;
	--cache-ttl) CACHE_TTL="${2:-}"; shift 2 ;;
	--mailward) MAILWARD="${2:-}"; shift 2 ;;
	-h|--help) sed -n '2,32p' "$0"; exit 0 ;;
	*) die "unknown argument $1 (try --help)" ;;
	esac
done
for v in MESSAGES MAILBOXES SESSIONS SIZE RUNS TIMEOUT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v,,} wants a positive integer"
done
((MAILBOXES <= 99999)) || die "--mailboxes wants at most 99999"
((MESSAGES % MAILBOXES == 0)) || die "--messages must be a multiple of --mailboxes (each Maildir gets the same count)"
export PATH="$PATH:/usr/sbin:/sbin"
for p in slapd slapadd; do
	command -v "$p" >/dev/null 2>&1 || die "$p missing; install with: apt-get install -y --no-install-recommends slapd"
done

cd "$(dirname "$0")/.."
REPO=$(pwd)
# Each measurement creates a thousand Maildirs and five thousand files
# after the last one's cleanup (see settle in lib.sh).
SETTLE=${SETTLE:-65}
# shellcheck source=bench/lib.sh
. bench/lib.sh
TMP=$(mktemp -d /tmp/mailward-ldap.XXXXXX)

MW_PID=""
SLAPD_PID=""
cleanup() {
	set +e
	[[ -n $MW_PID ]] && stop_pid "$MW_PID" mailward
	[[ -n $SLAPD_PID ]] && stop_detached "$SLAPD_PID"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stop_detached PID: slapd detaches, so it is not our child to wait for.
stop_detached() {
	local i
	kill -TERM "$1" 2>/dev/null || return 0
	for ((i = 0; i < 150; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	echo "warning: slapd (pid $1) ignored SIGTERM for 15s; killing" >&2
	kill -KILL "$1" 2>/dev/null || true
}

echo "building in $TMP ..."
go build -o "$TMP/postfixpeer" ./bench/cmd/postfixpeer
go build -o "$TMP/maildirwait" ./bench/cmd/maildirwait
go build -o "$TMP/rcptsource" ./bench/cmd/rcptsource
if [[ -z $MAILWARD ]]; then
	go build -o "$TMP/mailward" ./cmd/mailward
	MAILWARD="$TMP/mailward"
fi

# ---- the organization, one file for both backends ----------------------
for ((i = 1; i <= MAILBOXES; i++)); do printf 'u%05d@example.test\n' "$i"; done >"$TMP/rcpts"
{
	cat <<-EOF
		[[server]]
		name = "mx1"
		fqdn = "mx1.example.test"
		spns = ["SMTP/mx1", "SMTP/mx1.example.test", "SMTPSVC/mx1", "SMTPSVC/mx1.example.test"]
		[[domain]]
		name = "example.test"
	EOF
	while read -r a; do printf '[[mailbox]]\naddress = "%s"\nhome_server = "mx1"\n' "$a"; done <"$TMP/rcpts"
} >"$TMP/org.toml"

# ---- slapd: mailward's schema, one mdb database ------------------------
SUFFIX=dc=example,dc=test
LDAP_PORT=$("$TMP/postfixpeer" freeport)
start_slapd() {
	local d=$TMP/slapd
	mkdir -p "$d/slapd.d" "$d/db"
	echo bench-secret >"$TMP/ldap.secret"
	slapadd -q -n0 -F "$d/slapd.d" <<-LDIF
		dn: cn=config
		objectClass: olcGlobal
		cn: config
		olcPidFile: $d/slapd.pid

		dn: cn=module{0},cn=config
		objectClass: olcModuleList
		cn: module{0}
		olcModulePath: /usr/lib/ldap
		olcModuleLoad: back_mdb

		dn: cn=schema,cn=config
		objectClass: olcSchemaConfig
		cn: schema

		include: file:///etc/ldap/schema/core.ldif

		include: file:///etc/ldap/schema/cosine.ldif

		include: file:///etc/ldap/schema/inetorgperson.ldif

		include: file://$REPO/directory/ldapdir/schema/mailward.ldif

		dn: olcDatabase={-1}frontend,cn=config
		objectClass: olcDatabaseConfig
		objectClass: olcFrontendConfig
		olcDatabase: {-1}frontend

		dn: olcDatabase={0}config,cn=config
		objectClass: olcDatabaseConfig
		olcDatabase: {0}config

		dn: olcDatabase={1}mdb,cn=config
		objectClass: olcDatabaseConfig
		objectClass: olcMdbConfig
		olcDatabase: {1}mdb
		olcDbDirectory: $d/db
		olcSuffix: $SUFFIX
		olcRootDN: cn=admin,$SUFFIX
		olcRootPW: bench-secret
		olcDbIndex: objectClass eq
		olcDbIndex: mail eq
	LDIF
	slapadd -q -n1 -F "$d/slapd.d" <<-LDIF
		dn: $SUFFIX
		objectClass: dcObject
		objectClass: organization
		objectClass: mailwardOrganization
		dc: example
		o: Bench
	LDIF
	slapd -h "ldap://127.0.0.1:$LDAP_PORT/" -F "$d/slapd.d" # detaches
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -s $d/slapd.pid ]] && (exec 3<>"/dev/tcp/127.0.0.1/$LDAP_PORT") 2>/dev/null && break
		sleep 0.1
	done
	SLAPD_PID=$(cat "$d/slapd.pid" 2>/dev/null) || die "slapd did not start on 127.0.0.1:$LDAP_PORT"
}

# config BACKEND DATA PORT: a mailward configuration reading the directory.
config() {
	local backend=$1 data=$2 port=$3
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
		max_connections_per_ip = 100
		[organization]
		name = "Bench"
		self = "mx1"
	EOF
	if [[ $backend == file ]]; then
		printf 'file = "%s"\n' "$TMP/org.toml"
	else
		cat <<-EOF
			directory = "ldap"
			[organization.ldap]
			url = "ldap://127.0.0.1:$LDAP_PORT"
			bind_dn = "cn=admin,$SUFFIX"
			password_file = "$TMP/ldap.secret"
			base_dn = "$SUFFIX"
			cache_ttl = "$CACHE_TTL"
		EOF
	fi
}

start_slapd
config ldap "$TMP/import" 1 >"$TMP/import.toml"
"$MAILWARD" directory import "$TMP/org.toml" --config "$TMP/import.toml"

declare -A RATES
FAILED=0
# measure BACKEND RUN: a fresh server, the whole workload.
measure() {
	local backend=$1 run=$2 name="$1-$2" data port start el rate
	settle
	data=$TMP/$name
	port=$("$TMP/postfixpeer" freeport)
	mkdir -p "$data"
	config "$backend" "$data" "$port" >"$data.toml"
	"$MAILWARD" config check --config "$data.toml" >"$data.check" 2>&1 || { cat "$data.check" >&2; FAILED=1; return 1; }
	"$MAILWARD" serve --config "$data.toml" >"$data.log" 2>&1 &
	MW_PID=$!
	if ! wait_220 "$port" 30; then
		echo "$name: no 220 on 127.0.0.1:$port within 30s; log:" >&2
		tail -20 "$data.log" >&2
		FAILED=1; stop_pid "$MW_PID" mailward; MW_PID=""; return 1
	fi
	sed "s|^|$data/mailboxes/|; s|\$|/Maildir|" "$TMP/rcpts" >"$data.maildirs"
	start=$(now)
	if ! timeout "$TIMEOUT" "$TMP/rcptsource" -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -rcpts "$TMP/rcpts" \
		"127.0.0.1:$port" >"$data.source.log" 2>&1; then
		echo "$name: rcptsource failed:" >&2; tail -5 "$data.source.log" >&2
		FAILED=1
	elif el=$("$TMP/maildirwait" --files $((MESSAGES / MAILBOXES)) --timeout "${TIMEOUT}s" --since "$start" \
		--list "$data.maildirs" --queue "$data/queue/active"); then
		rate=$(awk -v n="$MESSAGES" -v t="$el" 'BEGIN { printf "%.1f", n / t }')
		RATES[$backend]+="$rate "
		printf '%-5s run %d: %d messages to %d mailboxes in %7.2fs = %8s msg/s\n' "$backend" "$run" "$MESSAGES" "$MAILBOXES" "$el" "$rate"
	else
		FAILED=1
	fi
	stop_pid "$MW_PID" mailward
	MW_PID=""
	# The data stays until the end: deleting 6,000 files here would slow
	# whichever backend runs next (see settle in lib.sh), more than the
	# 65 s settle hides on this machine.
}


echo "ldap: $MESSAGES messages of ${SIZE} bytes to $MAILBOXES mailboxes, $SESSIONS sessions, $RUNS run(s), cache_ttl $CACHE_TTL; $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); load $(loadavg)"
for ((r = 1; r <= RUNS; r++)); do
	if ((r % 2)); then order=(file ldap); else order=(ldap file); fi
	for b in "${order[@]}"; do measure "$b" "$r" || true; done
done

echo
echo "== results (msg/s, medians over $RUNS run(s); load average now: $(loadavg))"
if [[ -n ${RATES[file]:-} && -n ${RATES[ldap]:-} ]]; then
	# shellcheck disable=SC2086 # the list of rates, split on purpose
	f=$(median ${RATES[file]}) l=$(median ${RATES[ldap]})
	awk -v f="$f" -v l="$l" 'BEGIN {
		r = l / f
		printf "file %8.1f  ldap %8.1f  ldap/file %.2f (target: at least 0.90)%s\n", f, l, r, (r < 0.9 ? "  BELOW TARGET" : "") }'
	awk -v f="$f" -v l="$l" 'BEGIN { exit !(l / f < 0.9) }' && FAILED=1
fi
exit "$FAILED"
