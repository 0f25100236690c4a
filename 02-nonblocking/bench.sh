#!/usr/bin/env bash
# bench.sh - what busy polling costs: CPU while idle, and the latency the
# Python notes' sleep adds, for --sleep 0 (spin), 1, 10 and 100 ms.
#
# For each setting it starts the server on a free port and measures:
#   idle_cpu   share of one core the server uses with no client at all,
#              over IDLE_SECS (from /proc/PID/stat: utime + stime);
#   wasted/s   the wasted calls (EAGAIN) per second while idle (server -v);
#   p50/p99    latency of 64-byte requests, one connection, one request
#              at a time (tests/tools/load -c 1), requests per second, and
#              the server's CPU time per request.
# Prints figures only; never fails on a number.
#
# Usage: ./bench.sh            (or IDLE_SECS=5 LOAD_SECS=5 ./bench.sh)
set -u
cd "$(dirname "$0")" || exit 1
LOAD=../tests/tools/load
[ -x ./server ] && [ -x "$LOAD" ] || { echo "bench: run 'make' first" >&2; exit 1; }
IDLE_SECS=${IDLE_SECS:-3}
LOAD_SECS=${LOAD_SECS:-3}
HZ=$(getconf CLK_TCK)
work=$(mktemp -d)
server_pid=""

cleanup() {
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# cpu_ticks PID - user + system clock ticks the process has used so far
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# start_server ARGS... - server -p 0 -v ARGS in the background; sets server_pid, port
start_server() {
  ./server -p 0 -v "$@" >"$work/out" 2>"$work/err" &
  server_pid=$!
  port=""
  for _ in $(seq 200); do
    [ -s "$work/out" ] && read -r ready <"$work/out" && port=${ready##*:} && return 0
    sleep 0.05
  done
  echo "bench: the server did not start" >&2
  exit 1
}

stop_server() {
  kill -TERM "$server_pid"
  wait "$server_pid" 2>/dev/null
  server_pid=""
}

echo "# 02-nonblocking: idle CPU and latency of the polling server"
echo "# machine: $(nproc) cores, $(uname -sr); idle ${IDLE_SECS}s, load ${LOAD_SECS}s per row"
printf '%-10s %9s %12s %10s %10s %10s %12s\n' "sleep_ms" "idle_cpu" "wasted/s" "rps" "p50_us" "p99_us" "cpu_us/req"
for ms in 0 1 10 100; do
  start_server --sleep "$ms"
  sleep 1                                   # let it settle (first report)
  t0=$(cpu_ticks "$server_pid")
  sleep "$IDLE_SECS"
  t1=$(cpu_ticks "$server_pid")
  idle_pct=$(awk -v a="$t0" -v b="$t1" -v hz="$HZ" -v s="$IDLE_SECS" \
    'BEGIN { printf "%.0f%%", (b - a) / hz / s * 100 }')
  wasted=$(grep -oE 'last second: [0-9]+ wasted' "$work/err" | tail -1 | grep -oE '[0-9]+')
  figures=$("$LOAD" -p "$port" -c 1 -s 64 -d "$LOAD_SECS" --pid "$server_pid" --label "sleep=$ms")
  rps=$(grep -oE 'rps=[0-9.]+' <<<"$figures" | cut -d= -f2)
  p50=$(grep -oE 'p50_us=[0-9.]+' <<<"$figures" | cut -d= -f2)
  p99=$(grep -oE 'p99_us=[0-9.]+' <<<"$figures" | cut -d= -f2)
  cpu=$(grep -oE 'cpu_us_per_req=[0-9.]+' <<<"$figures" | cut -d= -f2)
  printf '%-10s %9s %12s %10s %10s %10s %12s\n' "$ms" "$idle_pct" "${wasted:-?}" "${rps:-?}" "${p50:-?}" "${p99:-?}" "${cpu:-?}"
  stop_server
done
echo "# idle_cpu: 100% = one whole core. Command: 02-nonblocking/bench.sh"
