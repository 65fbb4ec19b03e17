# Helpers shared by the benchmark scripts (bench/*.sh);
# sourced, not run. Every wait here is bounded.

# stop_pid PID NAME: TERM, wait up to 15 s, then KILL -- only our own child.
stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 150; i++)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
		sleep 0.1
	done
	echo "warning: $2 (pid $pid) ignored SIGTERM for 15s; killing" >&2
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f\n", b - a }'; } # seconds since $1

# wait_220 PORT SECS: until something on 127.0.0.1:PORT greets with 220.
wait_220() {
	local port=$1 secs=$2 i
	for ((i = 0; i < secs * 10; i++)); do
		if timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && IFS= read -r l <&3 && printf 'QUIT\r\n' >&3 && [[ \$l == 220* ]]" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# Other work on the machine skews every figure: print the load with them.
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# settle: on ext4 without a journal (this machine's), allocating an inode
# scans past every free inode deleted recently (recently_deleted() in
# fs/ext4/ialloc.c: the last 60 s, 5 min more while its inode table block
# is not yet written back), so whichever MTA runs right after a cleanup
# (or after a test suite) starts slower. Each measurement waits SETTLE
# seconds first (15 unless the script sets more).
SETTLE=${SETTLE:-15}
settle() { sleep "$SETTLE"; }

# median VALUE...: the median of the values; the mean of the middle two
# of an even count is printed with MEDIAN_FORMAT (default %.1f, rates;
# group.sh sets %.3f for seconds).
median() {
	printf '%s\n' "$@" | sort -g | awk -v f="${MEDIAN_FORMAT:-%.1f}" '{ v[NR] = $1 }
		END { if (NR % 2) print v[(NR + 1) / 2]; else printf f "\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
