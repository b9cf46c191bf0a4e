#!/usr/bin/env bash
# bench/run.sh: the real-OS rows of DESIGN.md §7, measured on this machine.
#
#   bench/run.sh [N_WORKERS]        (default 100)
#
# Needs bash >= 5, coreutils, grep and awk; reads /proc directly (no ps, no
# python). Runs as root (hsu then puts every instance in its own cgroup) or
# not (process groups only). Builds bin/ with `make build` if a binary is
# missing. Environment knobs:
#
#   IDLE_SECS=20      length of the idle CPU measurement
#   CRASH_SAMPLES=50  restarts measured per side (hsu, bare bash loop)
#   KEEP=1            keep the temp dir (configs, hsu logs, date files)
#   STATE_BASE=DIR    put hsu's --state-dir (state file, FIFOs) under DIR
#                     instead of the temp dir, e.g. /dev/shm to see what
#                     this disk's file system costs
#
# Every process it starts carries HSU_BENCH_TAG=<temp dir> in its
# environment; the exit trap SIGKILLs whatever still carries it. Every wait
# has a timeout. No networking.
#
# Results go to stdout as a Markdown table; progress goes to stderr.

set -u
export LC_ALL=C

N=${1:-100}
IDLE_SECS=${IDLE_SECS:-20}
CRASH_SAMPLES=${CRASH_SAMPLES:-50}
EXIT_AFTER_MS=200

case $N in '' | *[!0-9]*) echo "usage: $0 [N_WORKERS]" >&2; exit 2 ;; esac
if [ "${BASH_VERSINFO[0]}" -lt 5 ]; then
	echo "bench/run.sh needs bash >= 5 (EPOCHREALTIME)" >&2
	exit 2
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/bin
HSU=$BIN/hsu
TW=$BIN/hsu-testworker
if [ ! -x "$HSU" ] || [ ! -x "$TW" ]; then
	echo "building hsu (make build)" >&2
	make -C "$ROOT" build >&2 || exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/hsu-bench.XXXXXX") || exit 1
T=$(cd "$T" && pwd -P)
STATE_BASE=${STATE_BASE:-}
TAG=$T    # the environment marker: HSU_BENCH_TAG=$TAG
RUNID=$$  # worker names end in _$RUNID: never collides with another hsu's
HSU_PID=
CUR_LOG=
CLK_TCK=$(getconf CLK_TCK)

log() { printf '%s bench: %s\n' "$(date +%T)" "$*" >&2; }

# ---------------------------------------------------------------- helpers

# now sets NOW to the wall clock in microseconds (no fork).
now() { NOW=${EPOCHREALTIME/./}; }

# msleep SECONDS sleeps without forking (read -t on a pipe nobody writes).
exec {SLEEPFD}<> <(:)
msleep() { read -r -t "$1" -u "$SLEEPFD" _ || true; }

# proc_state PID sets PSTATE (R, S, Z, ...); fails if PID is gone.
proc_state() {
	local line
	PSTATE=
	{ read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
	line=${line##*) }
	PSTATE=${line%% *}
}

# cpu_ticks PID sets TICKS to utime+stime (fields 14, 15 of /proc/PID/stat).
cpu_ticks() {
	local line f
	TICKS=0
	{ read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
	line=${line##*) }
	read -r -a f <<<"$line"
	TICKS=$((f[11] + f[12]))
}

# marked_pids [workers] prints the live (non-zombie) processes carrying the
# marker; with "workers", only those hsu started (HSU_WORKER set), which
# excludes hsu itself.
marked_pids() {
	local f pid
	for f in $(grep -lzxF -- "HSU_BENCH_TAG=$TAG" /proc/[0-9]*/environ 2>/dev/null); do
		pid=${f#/proc/}
		pid=${pid%/environ}
		if [ "${1:-}" = workers ]; then
			grep -qz '^HSU_WORKER=' "$f" 2>/dev/null || continue
		fi
		proc_state "$pid" || continue
		[ "$PSTATE" = Z ] && continue
		echo "$pid"
	done
}
count_marked() { local p; p=$(marked_pids "$@"); set -- $p; COUNT=$#; }

kill_marked() {
	local p
	p=$(marked_pids)
	[ -n "$p" ] && kill -KILL $p 2>/dev/null
	return 0
}

lines() { local a=(); { mapfile -t a <"$1"; } 2>/dev/null; LINES_N=${#a[@]}; }

# wait_for TIMEOUT_S DESCRIPTION COMMAND...: polls COMMAND every 20 ms.
wait_for() {
	local timeout=$1 what=$2 deadline
	shift 2
	now
	deadline=$((NOW + timeout * 1000000))
	until "$@"; do
		now
		if ((NOW > deadline)); then
			log "TIMEOUT after ${timeout}s waiting for $what"
			return 1
		fi
		if [ -n "$HSU_PID" ]; then
			if ! proc_state "$HSU_PID" || [ "$PSTATE" = Z ]; then
				log "hsu exited while waiting for $what (see $CUR_LOG)"
				return 1
			fi
			if grep -q 'spawn failed' "$CUR_LOG" 2>/dev/null; then
				log "hsu cannot spawn: $(grep -m 1 'spawn failed' "$CUR_LOG")"
				return 1
			fi
		fi
		msleep 0.02
	done
}
file_has_lines() { lines "$1"; ((LINES_N >= $2)); }
running_count() { RUNNING=$(grep -c 'starting -> running' "$1" 2>/dev/null); RUNNING=${RUNNING:-0}; }
all_running() { running_count "$1"; ((RUNNING >= $2)); }
workers_alive() { count_marked workers; ((COUNT >= $1)); }

# wait_exit PID TIMEOUT_S: polls every ~1 ms until PID is a zombie or gone;
# sets NOW to the time it saw that.
wait_exit() {
	local pid=$1 deadline
	now
	deadline=$((NOW + $2 * 1000000))
	while proc_state "$pid" && [ "$PSTATE" != Z ]; do
		now
		((NOW > deadline)) && return 1
		msleep 0.001
	done
	now
}

# start_hsu DIR runs hsu on DIR/hsu.yaml in the background (HSU_PID).
start_hsu() {
	local state=$1/state
	[ -n "$STATE_BASE" ] && state=$STATE_BASE/$(basename "$T")-$(basename "$1")
	CUR_LOG=$1/hsu.err
	HSU_BENCH_TAG=$TAG "$HSU" run -f "$1/hsu.yaml" --state-dir "$state" >"$1/hsu.out" 2>"$1/hsu.err" &
	HSU_PID=$!
}

# stop_hsu SIG TIMEOUT_S: signals hsu and times its exit. Sets STOP_MS
# (or "timeout"), HSU_RC.
stop_hsu() {
	local t0
	now
	t0=$NOW
	kill -"$1" "$HSU_PID" 2>/dev/null
	if wait_exit "$HSU_PID" "$2"; then
		STOP_MS=$(ms $((NOW - t0)))
	else
		STOP_MS=timeout
		log "hsu did not exit within $2 s of SIG$1: killing it"
		kill -KILL "$HSU_PID" 2>/dev/null
	fi
	wait "$HSU_PID" 2>/dev/null
	HSU_RC=$?
	HSU_PID=
}

# ms MICROSECONDS prints milliseconds with one decimal.
ms() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }

# epoch_ns FILE converts RFC 3339 lines to nanoseconds since the epoch.
epoch_ns() { date -f "$1" +%s%N; }

# gap_stats FILE: consecutive start-time gaps minus the worker's own
# 200 ms lifetime, in ms: "p50 p99 min max mean n".
gap_stats() {
	epoch_ns "$1" | awk -v life="$EXIT_AFTER_MS" 'NR > 1 { printf "%.3f\n", ($1 - p) / 1e6 - life } { p = $1 }' |
		sort -g | awk '
			{ v[NR] = $1; s += $1 }
			END {
				if (NR == 0) { print "- - - - - 0"; exit }
				i50 = int(0.50 * NR); if (i50 < 0.50 * NR) i50++
				i99 = int(0.99 * NR); if (i99 < 0.99 * NR) i99++
				printf "%.1f %.1f %.1f %.1f %.1f %d\n", v[i50], v[i99], v[1], v[NR], s / NR, NR
			}'
}

cleanup() {
	set +e
	[ -n "$HSU_PID" ] && kill -KILL "$HSU_PID" 2>/dev/null
	kill_marked
	msleep 0.2
	local d
	for d in /sys/fs/cgroup/hsu/*_"$RUNID"-* /sys/fs/cgroup/unified/hsu/*_"$RUNID"-*; do
		[ -d "$d" ] && rmdir "$d" 2>/dev/null
	done
	if [ "${KEEP:-0}" = 1 ]; then
		log "kept $T"
	else
		rm -rf "$T"
		[ -n "$STATE_BASE" ] && rm -rf "$STATE_BASE/$(basename "$T")"-*
	fi
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM HUP

# leftovers PHASE: reports and kills processes a previous phase left.
leftovers() {
	count_marked
	if ((COUNT > 0)); then
		log "$COUNT marked processes still alive before $1: killing them"
		kill_marked
		msleep 0.5
	fi
}

# ---------------------------------------------------------------- machine

CPUS=$(getconf _NPROCESSORS_ONLN)
MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MEM=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
KERNEL=$(uname -r)
HSU_VERSION=$("$HSU" version 2>/dev/null | head -n 1)
CGROUPS="process groups only"
for b in /sys/fs/cgroup /sys/fs/cgroup/unified; do
	if [ -w "$b" ] && grep -qs cgroup2 /proc/mounts && awk -v b="$b" '$2 == b && $3 == "cgroup2" { f = 1 } END { exit !f }' /proc/mounts; then
		CGROUPS="cgroup v2 at $b"
		break
	fi
done
log "machine: $CPUS cpus ($MODEL), $MEM, Linux $KERNEL, uid $(id -u), $CGROUPS; $N workers; temp dir $T"

# ---------------------------------------------------------------- 1+3: cold start, idle

PH=$T/idle
mkdir -p "$PH"
cat >"$PH/hsu.yaml" <<EOF
version: 1
workers:
  idle_$RUNID:
    replicas: $N
    command: ["$TW", --sleep, --date-file, "$PH/starts"]
EOF
log "cold start + idle: $N sleeping workers"
now
T0=$NOW
start_hsu "$PH"
COLD_MS=timeout FIRST_MS=- RSS=- PSS=- CPU=- THREADS=- IDLE_STOP=- IDLE_SURV=-
if wait_for 60 "$N date lines" file_has_lines "$PH/starts" "$N"; then
	read -r MIN_NS MAX_NS < <(epoch_ns "$PH/starts" | sort -n | awk 'NR == 1 { a = $1 } { b = $1 } END { print a, b }')
	COLD_MS=$(ms $((MAX_NS / 1000 - T0)))
	FIRST_MS=$(ms $((MIN_NS / 1000 - T0)))
fi
log "cold start: first worker after $FIRST_MS ms, all $N after $COLD_MS ms"
if wait_for 60 "$N workers running" all_running "$PH/hsu.err" "$N"; then
	msleep 2 # let start-up garbage settle
	cpu_ticks "$HSU_PID"
	TK0=$TICKS
	now
	TM0=$NOW
	log "idle: measuring hsu's CPU for ${IDLE_SECS}s"
	msleep "$IDLE_SECS"
	cpu_ticks "$HSU_PID"
	TK1=$TICKS
	now
	TM1=$NOW
	CPU=$(awk -v t=$((TK1 - TK0)) -v hz="$CLK_TCK" -v us=$((TM1 - TM0)) 'BEGIN { printf "%.3f", 100 * t / hz / (us / 1e6) }')
	CPU_TICKS=$((TK1 - TK0))
	RSS=$(awk '/^Rss:/ { printf "%.1f", $2 / 1024 }' "/proc/$HSU_PID/smaps_rollup")
	PSS=$(awk '/^Pss:/ { printf "%.1f", $2 / 1024 }' "/proc/$HSU_PID/smaps_rollup")
	THREADS=$(awk '/^Threads:/ { print $2 }' "/proc/$HSU_PID/status")
	log "idle: hsu RSS $RSS MiB, PSS $PSS MiB, $THREADS threads, CPU $CPU % ($CPU_TICKS ticks in ${IDLE_SECS}s)"
fi
stop_hsu TERM 60
IDLE_STOP=$STOP_MS
count_marked workers
IDLE_SURV=$COUNT
log "idle: SIGTERM -> hsu exited (rc $HSU_RC) after $IDLE_STOP ms, $IDLE_SURV survivors"
leftovers "crash"

# ---------------------------------------------------------------- 2: crash -> respawn

PH=$T/crash
mkdir -p "$PH"
NEED=$((CRASH_SAMPLES + 1))
log "crash -> respawn: bare bash loop, $CRASH_SAMPLES restarts"
HSU_BENCH_TAG=$TAG timeout 120 bash -c '
	for ((i = 0; i < $3; i++)); do
		"$1" --date-file "$2" --exit-after 200ms --exit-code 1 >/dev/null
	done' bash "$TW" "$PH/bash.starts" "$NEED"
read -r B50 B99 BMIN BMAX BMEAN BN < <(gap_stats "$PH/bash.starts")
log "bash loop: p50 $B50 ms, p99 $B99 ms (min $BMIN, max $BMAX, mean $BMEAN, n $BN)"

SLEEPERS=$((N - 1))
{
	echo "version: 1"
	echo "workers:"
	echo "  crash_$RUNID:"
	echo "    command: [\"$TW\", --date-file, \"$PH/hsu.starts\", --exit-after, ${EXIT_AFTER_MS}ms, --exit-code, \"1\"]"
	echo "    restart: {policy: always, backoff: {initial: 0s, max: 0s}, max_restarts: 0, start_seconds: 0s}"
	if ((SLEEPERS > 0)); then
		echo "  sleep_$RUNID:"
		echo "    replicas: $SLEEPERS"
		echo "    command: [\"$TW\", --sleep]"
	fi
} >"$PH/hsu.yaml"
log "crash -> respawn: hsu, 1 crashing worker beside $SLEEPERS sleeping ones, $CRASH_SAMPLES restarts"
start_hsu "$PH"
# Restarts during the sleepers' start-up queue behind their spawns: count
# only those after every sleeper is running.
sleepers_running() { RUNNING=$(grep -c "sleep_$RUNID-[0-9]* starting -> running" "$PH/hsu.err"); ((RUNNING >= SLEEPERS)); }
SKIP=0
if wait_for 60 "$SLEEPERS sleepers running" sleepers_running; then
	lines "$PH/hsu.starts"
	SKIP=$LINES_N
fi
wait_for 120 "$NEED hsu restarts" file_has_lines "$PH/hsu.starts" $((SKIP + NEED))
stop_hsu TERM 60
tail -n +$((SKIP + 1)) "$PH/hsu.starts" >"$PH/hsu.starts.measured" 2>/dev/null
read -r H50 H99 HMIN HMAX HMEAN HN < <(gap_stats "$PH/hsu.starts.measured")
log "hsu: p50 $H50 ms, p99 $H99 ms (min $HMIN, max $HMAX, mean $HMEAN, n $HN); stop rc $HSU_RC"
leftovers "stop"

# ---------------------------------------------------------------- 4+5: stop all / shutdown

# stop_case NAME SIG: N workers, each with one grandchild, of kind NAME.
declare -A STOP_RES
stop_case() {
	local name=$1 sig=$2 cmd
	PH=$T/stop-$name-$sig
	mkdir -p "$PH"
	case $name in
	group) cmd="command: [\"$TW\", --sleep, --children, \"1\"]" ;;
	setsid) cmd="command: [\"$TW\", --sleep, --children, \"1\", --setsid-children]" ;;
	orphan) cmd="shell: setsid sleep 3600 </dev/null >/dev/null 2>&1 & exec \"$TW\" --sleep" ;;
	esac
	cat >"$PH/hsu.yaml" <<EOF
version: 1
workers:
  stop_$RUNID:
    replicas: $N
    $cmd
EOF
	log "stop ($name grandchildren, SIG$sig): starting $N workers"
	start_hsu "$PH"
	if ! wait_for 60 "$N running" all_running "$PH/hsu.err" "$N" ||
		! wait_for 30 "$((2 * N)) worker processes" workers_alive $((2 * N)); then
		STOP_RES[$name-$sig]="- - - -"
		stop_hsu KILL 10
		kill_marked
		return
	fi
	msleep 1
	count_marked workers
	local before=$COUNT
	stop_hsu "$sig" 60
	count_marked workers
	local surv0=$COUNT
	msleep 1
	count_marked workers
	local surv1=$COUNT
	local killed
	killed=$(grep -i 'kill' "$PH/hsu.err" | grep -vc 'send the signal again')
	STOP_RES[$name-$sig]="$STOP_MS $surv0 $surv1 $HSU_RC"
	log "stop ($name, SIG$sig): $before processes; hsu exited (rc $HSU_RC) after $STOP_MS ms; survivors $surv0 at exit, $surv1 one second later; $killed hsu log lines mention kill"
	leftovers "next case"
}
for c in group setsid orphan; do
	for s in INT TERM; do
		stop_case "$c" "$s"
	done
done

# ---------------------------------------------------------------- results

verdict() { awk -v v="$1" -v lim="$2" 'BEGIN { if (v == "-" || v == "timeout" || v + 0 >= lim) print "not met"; else print "met" }'; }
stopv() {
	local t s0 s1 rc
	read -r t s0 s1 rc <<<"$1"
	if [ "$t" = - ] || [ "$t" = timeout ] || [ "$s0" != 0 ] || [ "$s1" != 0 ]; then echo "not met"; else verdict "$t" 200; fi
}
stopcell() {
	local t s0 s1 rc
	read -r t s0 s1 rc <<<"$1"
	echo "$t ms, $s0 survivors (1 s later: $s1), rc $rc"
}
DIFF=$(awk -v h="$H50" -v b="$B50" 'BEGIN { if (h == "-" || b == "-") print "-"; else printf "%+.1f", h - b }')
DIFFV=$(awk -v d="$DIFF" 'BEGIN { if (d == "-" || d + 0 > 2) print "not met"; else print "met" }')

cat <<EOF

## hsu real-OS benchmark ($N workers)

Machine: $CPUS cpus ($MODEL), $MEM, Linux $KERNEL, uid $(id -u), $CGROUPS; $HSU_VERSION; state dirs on $(df -PT "${STATE_BASE:-$T}" | awk 'NR == 2 { print $2 }')

| row | measured | DESIGN.md §7 target | verdict |
|---|---|---|---|
| idle: hsu PSS (RSS) | $PSS MiB ($RSS MiB), $THREADS threads | < 10 MiB | $(verdict "$PSS" 10) |
| idle: hsu CPU over ${IDLE_SECS} s | $CPU % | < 0.1 % | $(verdict "$CPU" 0.1) |
| crash -> respawn, hsu, p50 / p99 (n $HN) | $H50 / $H99 ms (min $HMIN, max $HMAX) | | |
| crash -> respawn, bare bash loop, p50 / p99 (n $BN) | $B50 / $B99 ms (min $BMIN, max $BMAX) | | |
| crash -> respawn, hsu p50 - bash p50 | $DIFF ms | <= 2 ms | $DIFFV |
| cold start, all $N started | $COLD_MS ms (first: $FIRST_MS ms) | < 500 ms | $(verdict "$COLD_MS" 500) |
| stop $N sleeping workers, no grandchildren (SIGTERM) | $IDLE_STOP ms, $IDLE_SURV survivors | (no row) | |
| stop all (SIGINT), grandchild in the worker's group | $(stopcell "${STOP_RES[group-INT]}") | < 200 ms, 0 survivors | $(stopv "${STOP_RES[group-INT]}") |
| stop all (SIGINT), setsid grandchild, worker stops it | $(stopcell "${STOP_RES[setsid-INT]}") | < 200 ms, 0 survivors | $(stopv "${STOP_RES[setsid-INT]}") |
| stop all (SIGINT), setsid grandchild the worker ignores | $(stopcell "${STOP_RES[orphan-INT]}") | < 200 ms, 0 survivors | $(stopv "${STOP_RES[orphan-INT]}") |
| shutdown (SIGTERM), grandchild in the worker's group | $(stopcell "${STOP_RES[group-TERM]}") | < 200 ms, 0 survivors | $(stopv "${STOP_RES[group-TERM]}") |
| shutdown (SIGTERM), setsid grandchild, worker stops it | $(stopcell "${STOP_RES[setsid-TERM]}") | < 200 ms, 0 survivors | $(stopv "${STOP_RES[setsid-TERM]}") |
| shutdown (SIGTERM), setsid grandchild the worker ignores | $(stopcell "${STOP_RES[orphan-TERM]}") | < 200 ms, 0 survivors | $(stopv "${STOP_RES[orphan-TERM]}") |
EOF
