#!/usr/bin/env bash
# bench.sh - what a coroutine costs: one switch, one idle connection, and
# 10,000 connections served by one thread
#
#   1. ./switches: nanoseconds per switch for ucontext, for green_yield,
#      and for threads and processes (pipe ping-pong on one CPU).
#   2. For each server - this lesson's coroutine server, 05-selectors'
#      epoll server and 07-threads' thread-per-client server, when their
#      sources exist:
#        idle: 10 active clients plus 10,000 idle connections (open, silent);
#              resident memory per idle connection = (server RSS with them
#              - RSS just after start) / 10,000, from load's rss_kib (the
#              kernel's RSS counter in /proc/PID/stat); and what the idle
#              connections alone add, counted page by page in
#              /proc/PID/smaps_rollup: before, after one second of the 10
#              active clients alone (the server's fixed costs: the active
#              clients' state, first-use pages); after, once every idle
#              connection is accepted
#        busy: 10,000 connections all echoing 64-byte requests at once,
#              three rounds with the servers taking turns (the machine's
#              noise is large), then the median of each
#        short: 10 clients, each request on a new connection (what a
#              connection costs: accept, a coroutine, its stack, close)
#      with the lab's load generator (tests/tools/load), which prints
#      requests/s, latency percentiles, the server's CPU time per request
#      and its resident memory (rss_kib).
#
# Every program measured (the servers, ./switches, the load generator) is
# compiled afresh with the Makefile's default flags into a temporary
# folder: the tree's binaries may be sanitizer builds, or be rebuilt as
# such by a `make SANITIZE=...` while the script runs.
#
# 10,000 connections need 10,000 descriptors in the server and in load:
# the script raises the soft limit (ulimit -n) to what it needs, within the
# hard limit. With two CPUs or more the server runs on CPU 0 and the load
# generator on CPU 1 (taskset), as in the lab's bench/run. Other work on
# the machine still adds noise: compare the servers with each other, in
# one run, not with another machine.
#
# Usage: ./bench.sh                 (about four minutes)
#        BENCH_SECS=10 BENCH_CONNS=5000 BENCH_ROUNDS=5 ./bench.sh
#        BENCH_ONLY="idle busy" BENCH_SERVERS="10-coroutines 05-selectors-epoll" ./bench.sh
#          (only those sections: switch idle busy short; only the servers
#          whose labels are listed: a short run, one thing at a time)
# Figures are printed, never judged: the script fails only if a program
# cannot run.
set -u
cd "$(dirname "$0")" || exit 1
lab=$(cd .. && pwd)
load=$lab/tests/tools/load
secs=${BENCH_SECS:-5}
conns=${BENCH_CONNS:-10000}
rounds=${BENCH_ROUNDS:-3}
only=${BENCH_ONLY:-switch idle busy short}
only_servers=${BENCH_SERVERS:-}
command -v "${CC:-cc}" >/dev/null ||
  { echo "bench: needs a C compiler (cc, or CC=...) to build its own copies" >&2; exit 1; }
work=$(mktemp -d)
server_pid=""

# build SOURCE NAME [FLAGS...] - compile SOURCE (a lesson's program, which
# includes its own folder's headers and lib/lab.h) with the Makefile's
# default flags into $work/NAME and print that path. The programs in the
# tree may be sanitizer builds, or be rebuilt as one during the run (make
# SANITIZE=...): their figures would not compare.
build() {
  local source=$1 name=$2 lib=()
  shift 2
  grep -q 'lib/lab.h' "$source" && lib=("$lab"/lib/*.c)
  ${CC:-cc} -std=c11 -O2 -g "$@" -o "$work/$name" "$source" "${lib[@]}" -pthread ||
    { echo "bench: cannot compile $source" >&2; exit 1; }
  echo "$work/$name"
}
load=$(build "$lab/tests/tools/load.c" load) || exit 1

cleanup() {
  if [ -n "$server_pid" ]; then
    kill -TERM -- "-$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need=$((conns + 100))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$need" ]; then
  echo "bench: $conns connections need $need descriptors; the hard limit (ulimit -Hn) is $hard" >&2
  exit 1
fi
ulimit -n "$need"       # for load (and inherited by the servers)
server_cpu=() load_cpu=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  server_cpu=(taskset -c 0) load_cpu=(taskset -c 1)
fi

# rss_kib PID - resident memory of one process, KiB
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# exact_rss_kib PID - the same, counted page by page (smaps walks the page
# tables; the RSS counters of stat and status may be a few pages off)
exact_rss_kib() { awk '/^Rss:/ { print $2 }' "/proc/$1/smaps_rollup"; }

# wanted WORD LIST - true if WORD is in the space-separated LIST
wanted() { [[ " $2 " == *" $1 "* ]]; }

# start - start a server (command line in "$@") on port 0 in its own
# process group; sets server_pid and port
start() {
  : >"$work/out"      # here, not in the child: never read the last server's line
  setsid "${server_cpu[@]}" "$@" -p 0 >"$work/out" 2>/dev/null </dev/null &
  server_pid=$!
  port=""
  for _ in $(seq 200); do
    read -r ready 2>/dev/null <"$work/out" && port=${ready##*:} && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "bench: $* did not start" >&2; exit 1; }
}

# stop - SIGTERM the server's process group and wait for it
stop() {
  kill -TERM -- "-$server_pid" 2>/dev/null
  wait "$server_pid" 2>/dev/null
  server_pid=""
}

# idle_run LABEL COMMAND... - 10 active clients plus $conns idle ones;
# prints load's line and the resident memory per idle connection
idle_run() {
  local label=$1 base exact_base exact="" line rss load_pid
  shift
  start "$@"
  base=$(rss_kib "$server_pid")
  "${load_cpu[@]}" "$load" -p "$port" -c 10 -s 64 -d 1 >/dev/null    # warm-up
  exact_base=$(exact_rss_kib "$server_pid")
  "${load_cpu[@]}" "$load" -p "$port" -c 10 -s 64 -d "$secs" --idle "$conns" --pid "$server_pid" \
    --label "$label" >"$work/idle" &
  load_pid=$!
  # Once the server holds every connection (a descriptor each), and a
  # second later (each client's first steps done), count its pages.
  while kill -0 "$load_pid" 2>/dev/null; do
    if [ "$(ls "/proc/$server_pid/fd" | wc -l)" -ge $((conns + 10)) ]; then
      sleep 1
      exact=$(exact_rss_kib "$server_pid")
      kill -0 "$load_pid" 2>/dev/null || exact=""    # too late: they closed
      break
    fi
    sleep 0.05
  done
  wait "$load_pid"
  line=$(cat "$work/idle")
  stop
  echo "idle: $line"
  rss=$(sed -n 's/.*rss_kib=\([0-9]*\).*/\1/p' <<<"$line")
  [ -n "$rss" ] && awk -v l="$label" -v r="$rss" -v b="$base" -v n="$conns" 'BEGIN {
    printf "idle: %s resident memory (stat): %d KiB at start, %d KiB with %d idle connections:" \
           " %.3f KiB per idle connection\n", l, b, r, n, (r - b) / n }'
  [ -n "$exact" ] && awk -v l="$label" -v r="$exact" -v b="$exact_base" -v n="$conns" 'BEGIN {
    printf "idle: %s resident memory (smaps): %d KiB after the warm-up, %d KiB with %d idle" \
           " connections more: %.3f KiB per idle connection\n", l, b, r, n, (r - b) / n }'
}

# busy_run LABEL COMMAND... - $conns connections all echoing
busy_run() {
  local label=$1
  shift
  start "$@"
  echo "busy: $("${load_cpu[@]}" "$load" -p "$port" -c "$conns" -s 64 -d "$secs" --pid "$server_pid" \
                  --label "$label")" | tee -a "$work/busy"
  stop
}

echo "== machine: $(nproc) cores, $(uname -sr), $(date -u '+%Y-%m-%d %H:%M UTC')"
if wanted switch "$only"; then
  echo "== 1. the cost of one switch"
  switches=$(build switches.c switches) || exit 1
  "$switches" -n 1000000
fi

# The servers to compare: label, then command line.
servers=("10-coroutines $(build server.c server-10)")
if [ -f ../05-selectors/server.c ]; then
  servers+=("05-selectors-epoll $(build ../05-selectors/server.c server-05) --backend epoll")
else
  echo "(no 05-selectors/server.c: skipped)"
fi
if [ -f ../07-threads/server.c ]; then   # -m: a thread for every connection
  servers+=("07-threads $(build ../07-threads/server.c server-07) -m $((conns + 100))")
else
  echo "(no 07-threads/server.c: skipped)"
fi
if [ -n "$only_servers" ]; then
  chosen=()
  for entry in "${servers[@]}"; do
    wanted "${entry%% *}" "$only_servers" && chosen+=("$entry")
  done
  servers=("${chosen[@]}")
fi

if wanted idle "$only"; then
  echo
  echo "== 2. $conns idle connections ($secs s per run, 64-byte requests)"
  for entry in "${servers[@]}"; do
    # shellcheck disable=SC2086  # the entry is a label and a command line
    idle_run $entry
  done
fi

: >"$work/busy"
if wanted busy "$only"; then
  echo
  echo "== 3. $conns connections all echoing: $rounds rounds, the servers taking turns"
  for round in $(seq "$rounds"); do
    for entry in "${servers[@]}"; do
      # shellcheck disable=SC2086
      busy_run $entry
    done
  done
fi

if wanted short "$only"; then
  echo
  echo "== 4. short connections: 10 clients, a new connection for every request"
  for entry in "${servers[@]}"; do
    # shellcheck disable=SC2086
    set -- $entry
    label=$1
    shift
    start "$@"
    echo "short: $("${load_cpu[@]}" "$load" -p "$port" -c 10 -s 64 -d "$secs" --short \
                     --pid "$server_pid" --label "$label")"
    stop
  done
fi

wanted busy "$only" || exit 0
echo
echo "== medians of the $rounds rounds of section 3"
awk '{
  for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
  label = f["label"]
  if (f["requests"] + 0 == 0 || f["errors"] + 0 > 0) {   # a failed run: say so, skip it
    printf "busy: %s: a run with errors, left out of the median\n", label
    next
  }
  n[label]++
  rps[label, n[label]] = f["rps"]; cpu[label, n[label]] = f["cpu_us_per_req"]
  if (!(label in seen)) { seen[label] = 1; order[++count] = label }
}
function median(arr, label, k,   vals, i, j, t) {
  for (i = 1; i <= k; i++) vals[i] = arr[label, i] + 0
  for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++)
    if (vals[j] < vals[i]) { t = vals[i]; vals[i] = vals[j]; vals[j] = t }
  return k % 2 ? vals[(k + 1) / 2] : (vals[k / 2] + vals[k / 2 + 1]) / 2
}
END {
  ref = "05-selectors-epoll"
  if (ref in n) { ref_rps = median(rps, ref, n[ref]); ref_cpu = median(cpu, ref, n[ref]) }
  for (c = 1; c <= count; c++) {
    l = order[c]
    printf "busy median: %-26s rps=%.0f cpu_us_per_req=%.1f", l, median(rps, l, n[l]), median(cpu, l, n[l])
    if (ref in n && ref_rps > 0 && ref_cpu > 0)
      printf "  (%.0f%% of %s rps, %.2f times its cpu per request)", \
             100 * median(rps, l, n[l]) / ref_rps, ref, median(cpu, l, n[l]) / ref_cpu
    printf "\n"
  }
}' "$work/busy"
