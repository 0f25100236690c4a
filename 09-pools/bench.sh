#!/usr/bin/env bash
# bench.sh - new connections per second: pools against a worker per client
#
# Every server gets the same load: CONNS clients at a time, each doing
# connect, one 64-byte message, read the reply, close, again and again for
# SECS seconds (tests/tools/load --short). Measured for this lesson's
# server with a thread pool and with a pre-forked process pool, and for
# 06-processes' fork-per-client and 07-threads' thread-per-client servers
# when they are built. load --pid sums the CPU time of the server's whole
# process group, so cpu_us_per_req is what one connection costs the server,
# forks and thread starts included (UNP chapter 30's "process control" CPU).
#
# Prints one line per server and the ratios against fork-per-client. It
# never fails on a number: figures depend on the machine and its load.
# It compiles its own copies of the servers and of load with plain -O2
# into a temporary folder, so that a sanitizer build in the tree (make
# SANITIZE=...) cannot slow one of them down.
#
# Usage: ./bench.sh                  (from this folder, after make)
#        BENCH_SECS=10 BENCH_CONNS=16 ./bench.sh
set -u
cd "$(dirname "$0")" || exit 1
LAB=$(cd .. && pwd)
SECS=${BENCH_SECS:-5}
CONNS=${BENCH_CONNS:-8}
CC=${CC:-cc}
work=$(mktemp -d)
server_pid=""

# cleanup - stop the server still running, if any, and remove our files
cleanup() {
  [ -n "$server_pid" ] && kill -TERM -- "-$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# build NAME SOURCE - compile SOURCE into $work/NAME; false if it fails
build() {
  [ -f "$2" ] && "$CC" -std=c11 -O2 -o "$work/$1" "$2" -pthread 2>"$work/$1.log"
}

build load "$LAB/tests/tools/load.c" || { echo "bench: cannot build tests/tools/load.c" >&2; exit 1; }
build pool-server server.c || { echo "bench: cannot build server.c" >&2; exit 1; }
build fork-server ../06-processes/server.c
build thread-server ../07-threads/server.c
LOAD=$work/load

# measure LABEL PROGRAM [ARGS...] - start PROGRAM -p 0 ARGS in a process
# group of its own, put the load on it, print load's line, stop it
measure() {
  local label=$1 port="" ready; shift
  setsid "$@" -p 0 </dev/null >"$work/out" 2>/dev/null &
  server_pid=$!
  for _ in $(seq 200); do
    read -r ready <"$work/out" 2>/dev/null && port=${ready##*:} && break
    sleep 0.05
  done
  if [ -z "$port" ]; then
    echo "label=$label (did not start)"
  else
    "$LOAD" -p "$port" --short -c "$CONNS" -s 64 -d "$SECS" --pid "$server_pid" --label "$label"
  fi
  kill -TERM -- "-$server_pid" 2>/dev/null
  wait "$server_pid" 2>/dev/null
  server_pid=""
}

echo "# $(nproc) cpus, $(uname -sr); load --short -c $CONNS -s 64 -d $SECS"
{
  [ -x "$work/fork-server" ] && measure fork-per-client "$work/fork-server"
  [ -x "$work/thread-server" ] && measure thread-per-client "$work/thread-server"
  measure "pool-threads-w$(( $(nproc) + 4 ))" "$work/pool-server" --pool threads
  measure "pool-processes-w$(nproc)" "$work/pool-server" --pool processes
  measure pool-processes-w8 "$work/pool-server" --pool processes -w 8
} | tee "$work/results"

# ratios against the first line (fork-per-client when it was measured)
awk '
  { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    if (v["rps"] == "") next
    if (base_rps == "") { base = v["label"]; base_rps = v["rps"]; base_cpu = v["cpu_us_per_req"] }
    printf "# %-22s %8.0f conn/s  %6.1f us CPU/conn  x%.2f conn/s, x%.2f CPU/conn vs %s\n",
           v["label"], v["rps"], v["cpu_us_per_req"], v["rps"] / base_rps,
           (base_cpu > 0 ? v["cpu_us_per_req"] / base_cpu : 0), base
  }' "$work/results"
