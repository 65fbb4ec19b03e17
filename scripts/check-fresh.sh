#!/usr/bin/env bash
# check-fresh.sh: run the README's test command (./scripts/test.sh, which
# .ci/run calls) on a freshly bootstrapped Debian 12 (bookworm), as CI does
# on a fresh machine. Run it before every release, and whenever a test
# starts to use another system component: it finds what a developer's
# machine hides (a package that is only a Recommends, a program in
# /usr/sbin, a user or group, HOME, locale, ...).
#
#   sudo scripts/check-fresh.sh [--rev REV] [--bare] [--keep] [--log FILE]
#
#   --rev REV   the commit to test (default HEAD). Only committed files are
#               tested: the repository is cloned into the new system.
#   --bare      first run plain `go test ./...` on the system *before*
#               scripts/install-deps.sh, to check that tests without their
#               components skip (naming the package) instead of failing.
#               Costs one more test run.
#   --keep      keep the system (printed at the end) instead of removing it.
#   --log FILE  where the transcript goes (default
#               /var/tmp/mailward-check-fresh-<time>.log); it is kept.
#
# What it does: `debootstrap --variant=minbase --include=ca-certificates,git
# bookworm` into a new directory (the mirror is this machine's, from
# /etc/apt/sources.list.d/debian.sources, or MIRROR=...), clones the
# repository into /src/mailward there, and in a private mount namespace
# (unshare -m: nothing is mounted on this machine's side) bind-mounts this
# machine's Go (its GOROOT) read-only at /usr/local/go, mounts /proc and
# /dev, then chroots and runs ./scripts/test.sh as root with a login-like
# environment (HOME=/root, Debian's root PATH plus /usr/local/go/bin,
# nothing else). The Go modules come through GOPROXY (this machine's
# setting), into the new system's own module cache. Downloaded .deb files
# are cached in /var/cache/mailward-check-fresh (CACHE=...), so a second run
# bootstraps faster; the installed system is new every time.
#
# Needs: root (debootstrap, chroot, mounts), debootstrap
# (apt-get install -y debootstrap), util-linux's unshare, Go 1.26 on this
# machine, and network access to the Debian mirror and the Go module proxy.
# The network configuration of this machine is copied in: /etc/resolv.conf,
# /etc/hosts, /usr/local/share/ca-certificates/* and the CA bundle ($SSL_CERT_FILE,
# default /etc/ssl/certs/ca-certificates.crt), for machines that reach the
# registries through a proxy with its own CA.
#
# Takes: about a minute to bootstrap (about 340 MB, in /var/tmp), then the
# whole suite as ./scripts/test.sh runs it (package installation, go vet,
# go test, the fuzz targets): 5 to 7 minutes in all on 2 busy cores;
# --bare adds one or two.
#
# Exit status: that of ./scripts/test.sh (0: the README's test command
# passes on a fresh machine); 2 for a problem of this script itself.
set -euo pipefail

LOG=""
say() { echo "check-fresh: $*" >&2; [[ -z $LOG ]] || echo "check-fresh: $*" >>"$LOG"; }
die() { say "$*"; exit 2; }

REV=HEAD BARE=0 KEEP=0 logarg=""
while [[ $# -gt 0 ]]; do
	case "$1" in
	--rev) REV="${2:?--rev wants a commit}"; shift 2 ;;
	--bare) BARE=1; shift ;;
	--keep) KEEP=1; shift ;;
	--log) logarg="${2:?--log wants a file}"; shift 2 ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument $1 (try --help)" ;;
	esac
done

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, chroot and mounts need it)"
command -v debootstrap >/dev/null || [[ -x /usr/sbin/debootstrap ]] || die "debootstrap missing: apt-get install -y debootstrap"
command -v unshare >/dev/null || die "unshare missing: apt-get install -y util-linux"
command -v go >/dev/null || die "go not on PATH (Go 1.26 is needed)"
export PATH="$PATH:/usr/sbin:/sbin"

REPO=$(cd "$(dirname "$0")/.." && pwd)
COMMIT=$(git -C "$REPO" rev-parse --verify "$REV^{commit}") || die "no commit $REV"
if [[ $REV == HEAD && -n $(git -C "$REPO" status --porcelain --untracked-files=no) ]]; then
	say "warning: uncommitted changes in $REPO are NOT tested (only commit $COMMIT is)"
fi
GOROOT_HOST=$(go env GOROOT)
GOPROXY_HOST=$(go env GOPROXY) GOSUMDB_HOST=$(go env GOSUMDB)
GONOSUMDB_HOST=$(go env GONOSUMDB) GOPRIVATE_HOST=$(go env GOPRIVATE)

# The mirror: the first URIs: of this machine's deb822 sources, else the
# first deb line of sources.list, else Debian's CDN.
MIRROR=${MIRROR:-}
if [[ -z $MIRROR && -f /etc/apt/sources.list.d/debian.sources ]]; then
	MIRROR=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
fi
if [[ -z $MIRROR && -f /etc/apt/sources.list ]]; then
	MIRROR=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
fi
MIRROR=${MIRROR:-http://deb.debian.org/debian}
CACHE=${CACHE:-/var/cache/mailward-check-fresh}
CA_BUNDLE=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}

WORK=$(mktemp -d /var/tmp/mailward-check-fresh.XXXXXX)
ROOT=$WORK/root
LOG=${logarg:-/var/tmp/mailward-check-fresh-$(date +%Y%m%dT%H%M%S).log}
: >"$LOG"

# Processes still running inside the new root after the run (a Postfix
# master a failed test left behind, say) are ended by pid: they are ours.
cleanup() {
	local pids=() p
	for p in /proc/[0-9]*; do
		[[ $(readlink "$p/root" 2>/dev/null) == "$ROOT" ]] && pids+=("${p#/proc/}")
	done
	if [[ ${#pids[@]} -gt 0 ]]; then
		say "ending processes left in $ROOT: ${pids[*]}"
		kill -KILL "${pids[@]}" 2>/dev/null || true
		sleep 1
	fi
	if [[ $KEEP -eq 1 ]]; then
		say "kept the system in $ROOT (chroot $ROOT; remove with rm -rf $WORK)"
	elif findmnt -rn -o TARGET | grep -qF "$ROOT"; then
		say "something is still mounted under $ROOT: NOT removing $WORK"
	else
		rm -rf --one-file-system "$WORK"
	fi
	say "transcript: $LOG"
}
trap cleanup EXIT

start=$SECONDS
say "testing commit $COMMIT of $REPO on a fresh bookworm in $ROOT (mirror $MIRROR)"
mkdir -p "$ROOT" "$CACHE"
# A mktemp directory is 0700; as /, it would keep Postfix's daemons (user
# postfix) out of everything: "open lock file ... Permission denied".
chmod 755 "$WORK" "$ROOT"
debootstrap --variant=minbase --include=ca-certificates,git --cache-dir="$CACHE" \
	bookworm "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
	{ tail -n 30 "$WORK/debootstrap.log"; die "debootstrap failed (log above)"; }
say "bootstrapped in $((SECONDS - start)) s ($(du -sh --one-file-system "$ROOT" | cut -f1))"

# This machine's apt sources (updates and security too, as on an
# installed system) if it has deb822 ones; debootstrap's sources.list
# otherwise.
if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
	cp /etc/apt/sources.list.d/debian.sources "$ROOT/etc/apt/sources.list.d/"
	: >"$ROOT/etc/apt/sources.list"
fi
# The network: name resolution (the chroot keeps this machine's host
# name, so its /etc/hosts too) and the CAs this machine trusts.
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
cp -L /etc/hosts "$ROOT/etc/hosts"
if compgen -G '/usr/local/share/ca-certificates/*' >/dev/null; then
	cp -r /usr/local/share/ca-certificates/. "$ROOT/usr/local/share/ca-certificates/"
fi
[[ -f $CA_BUNDLE ]] && cp -L "$CA_BUNDLE" "$ROOT/etc/ssl/certs/ca-certificates.crt"

# The repository, as CI gets it: a clone at one commit.
git clone --quiet --no-hardlinks "$REPO" "$ROOT/src/mailward"
git -C "$ROOT/src/mailward" checkout --quiet --detach "$COMMIT"
mkdir -p "$ROOT/usr/local/go"

# Inside: the environment of a root login on a fresh machine, plus Go.
inner=$(cat <<'EOF'
set -uo pipefail
cd /src/mailward
if [ "$BARE" = 1 ]; then
	t0=$(date +%s)
	echo "check-fresh: --- bare: go test ./... without the components (each test using one must skip) ---"
	go test -count=1 -timeout 20m -json ./... >/tmp/bare.json 2>/tmp/bare.err
	bare=$?
	grep -h '"Action":"skip"' /tmp/bare.json | grep -o '"Test":"[^"]*"' | sort -u | sed 's/^/check-fresh: bare skip: /'
	grep -h 'missing component' /tmp/bare.json | grep -o 'missing component: [^"]*' | sed 's/\\n$//' | sort | uniq -c | sed 's/^/check-fresh: bare: /'
	grep -h '"Action":"fail"' /tmp/bare.json | grep -o '"Package":"[^"]*","Test":"[^"]*"' | sed 's/^/check-fresh: bare FAIL: /'
	cat /tmp/bare.err
	echo "check-fresh: bare go test exit status $bare ($(( $(date +%s) - t0 )) s)"
	[ $bare -eq 0 ] || echo "check-fresh: BARE RUN FAILED: a test fails without its component instead of skipping"
fi
echo "check-fresh: --- ./scripts/test.sh ---"
t0=$(date +%s)
./scripts/test.sh
rc=$?
echo "check-fresh: ./scripts/test.sh exit status $rc ($(( $(date +%s) - t0 )) s)"
exit $rc
EOF
)
say "running ./scripts/test.sh as root in the new system"
set +e
unshare -m -- bash -euc '
	mount --make-rprivate /
	mount --bind "$1" "$2/usr/local/go"
	mount -o remount,bind,ro "$2/usr/local/go"
	mount -t proc proc "$2/proc"
	mount --rbind /dev "$2/dev"
	mount --make-rslave "$2/dev"
	exec chroot "$2" /usr/bin/env -i HOME=/root \
		PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		GOPROXY="$3" GOSUMDB="$4" GONOSUMDB="$5" GOPRIVATE="$6" BARE="$7" \
		/bin/bash -c "$8"
' check-fresh "$GOROOT_HOST" "$ROOT" "$GOPROXY_HOST" "$GOSUMDB_HOST" "$GONOSUMDB_HOST" "$GOPRIVATE_HOST" "$BARE" "$inner" 2>&1 |
	tee -a "$LOG"
rc=${PIPESTATUS[0]}
set -e
if [[ $rc -eq 0 ]]; then
	say "PASS: ./scripts/test.sh passed on a fresh bookworm (commit $COMMIT, $((SECONDS - start)) s)"
else
	say "FAIL: ./scripts/test.sh exited $rc on a fresh bookworm (commit $COMMIT, $((SECONDS - start)) s); failures:"
	grep -E '^\s*--- FAIL|^FAIL|missing component|^check-fresh: BARE' "$LOG" | sed 's/^/    /' | tee -a "$LOG" >&2 || true
fi
exit $rc
