#!/usr/bin/env bash
# sample-cost.sh [N=1000] [INTERVAL=1s] [SECS=30]: hsu's own CPU while it
# supervises N sleeping workers sampled every INTERVAL, measured from
# /proc/PID/stat (utime+stime) over SECS after a 5 s settle. Builds bin/
# with make build if needed. Prints one line: N, interval, CPU seconds,
# percent of one core.
set -euo pipefail
n=${1:-1000} iv=${2:-1s} secs=${3:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$root/bin/hsu" ] || make -C "$root" build >/dev/null
dir=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill -INT "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
cat > "$dir/hsu.yaml" <<Y
version: 1
workers:
  w:
    command: [sleep, "100000"]
    replicas: $n
    logs: {console: false}
    resources: {monitor_interval: $iv}
Y
"$root/bin/hsu" run -f "$dir/hsu.yaml" --state-dir "$dir/state" >"$dir/out.log" 2>"$dir/err.log" &
pid=$!
HSU_SOCKET=$dir/state/hsu.sock "$root/bin/hsu" wait w --for running --timeout 300s >/dev/null
sleep 5
ticks() { read -r -a f < "/proc/$pid/stat"; echo $(( f[13] + f[14] )); }
t0=$(ticks)
sleep "$secs"
t1=$(ticks)
hz=$(getconf CLK_TCK)
awk -v n="$n" -v iv="$iv" -v d=$((t1 - t0)) -v hz="$hz" -v s="$secs" \
	'BEGIN { printf "workers=%d monitor_interval=%s cpu=%.2fs/%ds core=%.2f%%\n", n, iv, d/hz, s, 100*d/hz/s }'
