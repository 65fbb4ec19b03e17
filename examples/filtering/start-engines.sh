#!/usr/bin/env bash
# Starts the filtering example's engines on loopback and returns once
# both answer: rbldnsd serving bl.example.test (bl.zone: 127.0.0.2 is
# listed) on 127.0.0.1:2553/udp, and rspamd (rspamd.conf) with its
# normal worker on 127.0.0.1:11343 and its controller on 127.0.0.1:11344.
# Stop them with stop-engines.sh. Needs the Debian packages rbldnsd and
# rspamd (scripts/install-deps.sh installs both).
#
# The environment can move them (the e2e test does, to free ports):
# BL_PORT, RSPAMD_PORT, RSPAMD_CONTROLLER_PORT, ENGINES_DIR (where the
# pid files, logs and rspamd's databases go; default data/engines here).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bl_port=${BL_PORT:-2553}
rspamd_port=${RSPAMD_PORT:-11343}
ctl_port=${RSPAMD_CONTROLLER_PORT:-11344}
dir=${ENGINES_DIR:-$here/data/engines}

for p in rbldnsd rspamd; do
	command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] || [ -x "/usr/bin/$p" ] || {
		echo "start-engines: $p is missing: apt-get install -y --no-install-recommends $p" >&2
		exit 1
	}
done
PATH=$PATH:/usr/sbin

mkdir -p "$dir/rbldnsd" "$dir/run" "$dir/db"
"$here/stop-engines.sh" >/dev/null 2>&1 || true

# rbldnsd: as root it chroots into its directory and becomes the rbldns
# user, who must read the zone.
cp "$here/bl.zone" "$dir/rbldnsd/zone"
chmod 0755 "$dir/rbldnsd"
chmod 0644 "$dir/rbldnsd/zone"
bl_args=(-n -b "127.0.0.1/$bl_port")
if [ "$(id -u)" -eq 0 ]; then
	bl_args+=(-r "$dir/rbldnsd" -w /)
else
	bl_args+=(-w "$dir/rbldnsd")
fi
setsid rbldnsd "${bl_args[@]}" bl.example.test:ip4set:zone >"$dir/rbldnsd.log" 2>&1 </dev/null &
echo $! >"$dir/rbldnsd.pid"

# rspamd refuses to run as root: there it becomes _rspamd (its package's
# user), who must write its directories.
rs_args=(-f -c "$here/rspamd.conf" "--var=RUNDIR=$dir/run" "--var=DBDIR=$dir/db" "--var=EXDIR=$here"
	"--var=NORMAL_PORT=$rspamd_port" "--var=CONTROLLER_PORT=$ctl_port")
if [ "$(id -u)" -eq 0 ]; then
	chown -R _rspamd:_rspamd "$dir/run" "$dir/db"
	rs_args+=(-u _rspamd -g _rspamd)
fi
setsid rspamd "${rs_args[@]}" >"$dir/rspamd.out" 2>&1 </dev/null &
echo $! >"$dir/rspamd.pid"

# A real check, not /ping, which answers before rspamd can scan. In a
# subshell: a refused connection ends it, not this script.
check() (
	local msg=$'Subject: ready\r\n\r\nready\r\n'
	exec 3<>"/dev/tcp/127.0.0.1/$rspamd_port" || return 1
	printf 'POST /checkv2 HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s' "${#msg}" "$msg" >&3
	local answer
	answer=$(timeout 5 cat <&3) || true
	exec 3<&-
	[[ $answer == *'"action"'* ]]
)

for _ in $(seq 1 300); do # 30 s
	bl_up=false rs_up=false
	grep -q ' started' "$dir/rbldnsd.log" 2>/dev/null && bl_up=true
	check 2>/dev/null && rs_up=true
	if $bl_up && $rs_up; then
		echo "rbldnsd: bl.example.test on 127.0.0.1:$bl_port/udp (127.0.0.2 listed)"
		echo "rspamd: normal worker http://127.0.0.1:$rspamd_port, controller http://127.0.0.1:$ctl_port"
		exit 0
	fi
	for p in rbldnsd rspamd; do
		kill -0 "$(cat "$dir/$p.pid")" 2>/dev/null || {
			echo "start-engines: $p exited:" >&2
			cat "$dir/$p".{log,out} "$dir/run/rspamd.log" 2>/dev/null | tail -20 >&2
			"$here/stop-engines.sh" >/dev/null 2>&1 || true
			exit 1
		}
	done
	sleep 0.1
done
echo "start-engines: no answer within 30 s (rbldnsd up: $bl_up, rspamd up: $rs_up)" >&2
"$here/stop-engines.sh" >/dev/null 2>&1 || true
exit 1
