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
# Runs RUNS rounds (each server once per round, so that a busy moment of
# the machine hits every server alike), prints load's line for each run,
# then each server's median and the ratios against fork-per-client. It
# never fails on a number: figures depend on the machine and its load.
# It compiles its own copies of the servers and of load (each with lib/)
# with plain -O2 into a temporary folder, so that a sanitizer build in the
# tree (make SANITIZE=...) cannot slow one of them down.
#
# Usage: ./bench.sh                  (from this folder)
#        BENCH_SECS=10 BENCH_CONNS=16 BENCH_RUNS=5 ./bench.sh
#        (defaults: 5 seconds per run, 8 clients at a time, 3 rounds)
set -u
cd "$(dirname "$0")" || exit 1
LAB=$(cd .. && pwd)
SECS=${BENCH_SECS:-5}
CONNS=${BENCH_CONNS:-8}
RUNS=${BENCH_RUNS:-3}
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

# build NAME SOURCE - compile SOURCE, with the lab's lib/, into $work/NAME;
# false if it fails
build() {
  [ -f "$2" ] && "$CC" -std=c11 -O2 -o "$work/$1" "$2" "$LAB"/lib/*.c -pthread 2>"$work/$1.log"
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
    read -r ready 2>/dev/null <"$work/out" && port=${ready##*:} && break
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

echo "# $(nproc) cpus, $(uname -sr); load --short -c $CONNS -s 64 -d $SECS; $RUNS rounds"
for round in $(seq "$RUNS"); do
  [ -x "$work/fork-server" ] && measure fork-per-client "$work/fork-server"
  [ -x "$work/thread-server" ] && measure thread-per-client "$work/thread-server"
  measure "pool-threads-w$(( $(nproc) + 4 ))" "$work/pool-server" --pool threads
  measure "pool-processes-w$(nproc)" "$work/pool-server" --pool processes
  measure pool-processes-w8 "$work/pool-server" --pool processes -w 8
done | tee "$work/results"

# each server's median run, and ratios against the first server measured
# (fork-per-client when it was built)
awk '
  function median(list,    n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++)            # insertion sort: n is small
      for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return a[int((n + 1) / 2)]
  }
  { delete v
    for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    if (v["rps"] == "") next
    if (!(v["label"] in rps)) order[++count] = v["label"]
    rps[v["label"]] = rps[v["label"]] " " v["rps"]
    cpu[v["label"]] = cpu[v["label"]] " " v["cpu_us_per_req"]
  }
  END {
    print "# the median run of each server:"
    base_rps = median(rps[order[1]]); base_cpu = median(cpu[order[1]])
    for (k = 1; k <= count; k++) {
      l = order[k]; r = median(rps[l]); c = median(cpu[l])
      printf "# %-22s %8.0f conn/s  %6.1f us CPU/conn   x%.2f conn/s, x%.2f CPU/conn vs %s\n",
             l, r, c, r / base_rps, (base_cpu > 0 ? c / base_cpu : 0), order[1]
    }
  }' "$work/results"
