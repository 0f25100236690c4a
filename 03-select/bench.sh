#!/usr/bin/env bash
# bench.sh - what select() costs as the number of watched connections grows
#
# For each configuration it starts a fresh server, runs the lab's load
# generator (tests/tools/load) with 10 active clients (64-byte requests,
# each waiting for its reply before sending the next) and 0, 100 or 1000
# idle connections that stay open and silent, and prints load's one line
# of figures: requests per second, latency percentiles, and the server's
# CPU time per request (cpu_us_per_req) and memory.
#
# The idle connections cost select() work on every call: the sets are
# rebuilt and handed to the kernel, which checks every descriptor in them,
# and the server scans them all for the answer. 10,000 idle connections
# cannot be measured here: select() cannot watch a descriptor at or above
# FD_SETSIZE (1024), so that line says "skipped".
#
# Usage: ./bench.sh            (or BENCH_SECS=10 BENCH_IDLE="0 100 1000" ./bench.sh)
#        SERVER=path LOAD=path ./bench.sh   (other builds of the two programs)
#        BENCH_CSV=1 ./bench.sh    (CSV lines, for a table)
# Figures are printed, never judged: the script fails only if a program
# cannot run.
set -u
cd "$(dirname "$0")" || exit 1
lab=$(cd .. && pwd)
load=${LOAD:-$lab/tests/tools/load}
server=${SERVER:-./server}
[ -x "$server" ] && [ -x "$load" ] || { echo "bench: run 'make' first (needs $load)" >&2; exit 1; }
secs=${BENCH_SECS:-5}
idles=${BENCH_IDLE:-0 100 1000 10000}
csv=()
[ "${BENCH_CSV:-0}" = 1 ] && csv=(--csv)
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-XXXXXX")
server_pid="" runs=0

cleanup() {
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for idle in $idles; do
  label="03-select"
  if [ "$idle" -ge 1000 ] && [ $((idle + 10 + 5)) -gt 1024 ]; then
    if [ ${#csv[@]} -gt 0 ]; then
      echo "$label,long,10,$idle,64,,,,,,,,,skipped: beyond FD_SETSIZE (1024)"
    else
      echo "label=$label mode=long conns=10 idle=$idle skipped: select() cannot watch descriptors >= FD_SETSIZE (1024)"
    fi
    continue
  fi
  # Fresh files for each server: the shell makes the redirections in the
  # child, so a reused file could still hold the previous server's ready
  # line (and its port, now closed) when the loop below reads it.
  runs=$((runs + 1)) && out=$work/out-$runs err=$work/err-$runs
  # Its own process group (setsid), so load's --pid counts exactly it.
  setsid "$server" -p 0 >"$out" 2>"$err" </dev/null &
  server_pid=$!
  port=""
  for _ in $(seq 200); do
    read -r ready 2>/dev/null <"$out" && port=${ready##*:} && break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "bench: the server did not start" >&2; cat "$err" >&2; exit 1; }
  "$load" -p "$port" -c 10 -s 64 -d "$secs" --idle "$idle" --pid "$server_pid" \
    --label "$label" "${csv[@]}" ||
    echo "label=$label mode=long conns=10 idle=$idle failed: the load generator stopped (see above)"
  kill -TERM "$server_pid" 2>/dev/null
  wait "$server_pid"
  server_pid=""
done
