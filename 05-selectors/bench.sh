#!/usr/bin/env bash
# bench.sh - select vs poll vs epoll as idle connections grow, and the
# system calls epoll spends per echoed message
#
# Part 1, the table Kerrisk gives in The Linux Programming Interface
# (section 63.4.5), redone here: for each server, a fresh start, then the
# lab's load generator (tests/tools/load) with 10 active clients (64-byte
# requests, each waiting for its reply before the next) while 0, 100,
# 1,000 and 10,000 idle connections stay open and silent. It prints
# load's line of figures (requests per second, latency percentiles, the
# server's CPU time per request and memory), then a summary with each
# row's throughput and CPU per request relative to the same server with
# no idle connections (the CPU ratio is the steadier figure on a busy
# machine: it does not depend on how much CPU the load generator got).
# Servers: ../03-select/server and ../04-poll/server when they are built,
# then this lesson's server on each backend (select, poll, epoll, epoll
# --edge), the floor: a plain epoll loop with no selector layer
# (tests/tools/05-epoll-echo), and BASE_SERVER if given (another build of
# this server, e.g. an older commit's, run with --backend epoll).
# select cannot watch descriptors >= FD_SETSIZE (1024), so its
# 10,000 rows are skipped (1,000 idle + 10 active + the listener and a
# few more stay just below 1024).
#
# Part 2: 05's server on epoll (level-triggered, then --edge) under
# strace -c -f, then under perf stat counting the syscall tracepoints,
# for a fixed number of requests: recvfrom, sendto and epoll_wait calls
# per request. strace slows the server down; the counts are exact anyway.
#
# Usage: ./bench.sh                      (about 4 minutes)
#        BENCH_SECS=2 BENCH_IDLE="0 1000" ./bench.sh    (shorter)
#        BENCH_PART=1 ./bench.sh   (only the table; BENCH_PART=2: only the counts)
#        LOAD=path SELECT_SERVER=path POLL_SERVER=path ./bench.sh   (other builds)
#        BASE_SERVER=/tmp/old/server ./bench.sh   (adds its epoll rows)
# Figures are printed, never judged: the script fails only if a program
# cannot run. The load generator runs on the same machine as the server,
# so both share its cores; run it on a quiet machine.
set -u
cd "$(dirname "$0")" || exit 1
lab=$(cd .. && pwd)
load=${LOAD:-$lab/tests/tools/load}
select_server=${SELECT_SERVER:-../03-select/server}
poll_server=${POLL_SERVER:-../04-poll/server}
plain_server=${PLAIN_SERVER:-$lab/tests/tools/05-epoll-echo}
base_server=${BASE_SERVER:-}
[ -x ./server ] && [ -x "$load" ] || { echo "bench: run 'make' first (needs ./server and $load)" >&2; exit 1; }
secs=${BENCH_SECS:-5}
idles=${BENCH_IDLE:-0 100 1000 10000}
part=${BENCH_PART:-all}
requests=${BENCH_REQUESTS:-20000}
work=$(mktemp -d)
server_pid=""

cleanup() {
  [ -n "$server_pid" ] && kill -TERM -- "-$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD... - start a server command line (it gets -p 0 added) in
# its own process group with a descriptor limit for 10,000+ connections;
# sets server_pid and port
start() {
  local name=$1; shift
  rm -f "$work/out"             # never read the previous server's ready line
  setsid bash -c 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@" -p 0' \
    bench "$@" >"$work/out" 2>"$work/$name.err" </dev/null &
  server_pid=$!
  port=""
  for _ in $(seq 200); do
    read -r ready 2>/dev/null <"$work/out" && port=${ready##*:} && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "bench: $name did not start" >&2; cat "$work/$name.err" >&2; exit 1; }
}

# stop - SIGTERM the server's group and wait for it
stop() {
  kill -TERM -- "-$server_pid" 2>/dev/null
  wait "$server_pid" 2>/dev/null
  server_pid=""
}

# row NAME IDLE CMD... - one line of the table
row() {
  local name=$1 idle=$2; shift 2
  if [[ "$name" == *select* ]] && [ $((idle + 10 + 8)) -gt 1024 ]; then
    echo "label=$name idle=$idle skipped: select() cannot watch descriptors >= FD_SETSIZE (1024)" |
      tee -a "$work/table"
    return
  fi
  start "$name" "$@"
  "$load" -p "$port" -c 10 -s 64 -d "$secs" --idle "$idle" --pid "$server_pid" \
    --label "$name" | tee -a "$work/table"
  stop
}

# summary - rps and CPU per request per server and idle count, each also
# as a multiple of the same server's figure at idle=0
summary() {
  echo
  echo "summary (10 active clients, 64-byte requests, ${secs} s per row)"
  awk '
    { delete kv; for (i = 1; i <= NF; i++) if (split($i, p, "=") == 2) kv[p[1]] = p[2] }
    kv["rps"] == "" { printf "%-18s idle=%-6s %s\n", kv["label"], kv["idle"], "skipped (FD_SETSIZE)"; next }
    {
      if (kv["idle"] == 0) { base[kv["label"]] = kv["rps"]; cpu0[kv["label"]] = kv["cpu_us_per_req"] }
      ratio = (base[kv["label"]] > 0) ? sprintf("%.2f", kv["rps"] / base[kv["label"]]) : "-"
      cpu = (cpu0[kv["label"]] > 0) ? sprintf("%.1f", kv["cpu_us_per_req"] / cpu0[kv["label"]]) : "-"
      printf "%-14s idle=%-6s rps=%-7s cpu_us_per_req=%-6s p99_us=%-6s rps x%s cpu/req x%s\n",
             kv["label"], kv["idle"], kv["rps"], kv["cpu_us_per_req"], kv["p99_us"], ratio, cpu
    }' "$work/table"
}

# part_table - the select/poll/epoll scaling table
part_table() {
  echo "== part 1: 10 active clients, 0 to 10,000 idle connections"
  : >"$work/table"
  for idle in $idles; do
    [ -x "$select_server" ] && row 03-select "$idle" "$select_server"
    [ -x "$poll_server" ] && row 04-poll "$idle" "$poll_server"
    row 05-select "$idle" ./server --backend select
    row 05-poll "$idle" ./server --backend poll
    row 05-epoll "$idle" ./server --backend epoll
    row 05-epoll-edge "$idle" ./server --edge
    [ -x "$plain_server" ] && row plain-epoll "$idle" "$plain_server"
    [ -n "$base_server" ] && row 05-epoll-base "$idle" "$base_server" --backend epoll
  done
  summary
}

# count_calls NAME ARGS... - syscalls per request of ./server ARGS
count_calls() {
  local name=$1; shift
  if command -v strace >/dev/null && strace -o /dev/null true 2>/dev/null; then
    start "$name" strace -c -f -o "$work/$name.strace" ./server "$@"
    "$load" -p "$port" -c 10 -s 64 -n "$requests" --label "$name under strace" >"$work/$name.load"
    stop
    awk -v n="$requests" -v name="$name" '
      $NF ~ /^(recvfrom|sendto|epoll_wait|epoll_ctl|accept4)$/ {
        printf "%-14s strace -c: %-10s %8d calls  %.3f per request\n", name, $NF, $4, $4 / n
      }' "$work/$name.strace"
  else
    echo "$name: strace is not available or cannot trace here"
  fi
  if command -v perf >/dev/null && perf stat -e syscalls:sys_enter_recvfrom true >/dev/null 2>&1; then
    start "$name" ./server "$@"
    perf stat -x, -o "$work/$name.perf" -p "$server_pid" \
      -e syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_wait &
    perf_pid=$!
    sleep 0.5                           # perf attaches before the load starts
    "$load" -p "$port" -c 10 -s 64 -n "$requests" --label "$name" >"$work/$name.load"
    kill -INT "$perf_pid"
    wait "$perf_pid"
    stop
    awk -F, -v n="$requests" -v name="$name" '
      $3 ~ /sys_enter/ { sub(/.*sys_enter_/, "", $3)
        printf "%-14s perf stat: %-10s %8d calls  %.3f per request\n", name, $3, $1, $1 / n }' \
      "$work/$name.perf"
  else
    echo "$name: perf cannot count syscall tracepoints here"
  fi
}

# part_calls - recv/send/epoll_wait per echoed message
part_calls() {
  echo
  echo "== part 2: system calls per request, 10 clients, $requests requests of 64 bytes"
  count_calls 05-epoll --backend epoll
  count_calls 05-epoll-edge --edge
}

echo "machine: $(nproc) cores, $(uname -sr); load and server on the same machine"
[ "$part" = 2 ] || part_table
[ "$part" = 1 ] || part_calls
