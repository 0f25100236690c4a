#!/usr/bin/env bash
# bench.sh - a process per client (06) against a thread per client (07):
# new connections per second, and memory per idle connection.
#
# 1. Short connections: tests/tools/load --short opens a connection, sends
#    one 64-byte message, reads the reply, closes, and starts again, from
#    CONNS connections at once for SECS seconds. Every connection costs the
#    forking server a fork() and a wait, the threaded one a
#    pthread_create(): rps is new connections per second.
# 2. Idle connections: IDLE clients connect and stay silent
#    (tests/tools/peer hold). The server's memory is summed over its
#    process group before and while they are held: RSS (resident pages,
#    counting a page shared by several processes once in each of them) and
#    PSS (proportional: a page shared by N processes counts 1/N in each,
#    from /proc/PID/smaps_rollup). The difference divided by IDLE is the
#    memory one idle connection costs. RSS overstates the forking server:
#    its children share most of their pages with the parent.
#
# Prints figures; never fails on a number. Build first (without
# sanitizers): make 06-processes 07-threads
#
# Usage: 07-threads/bench.sh      (BENCH_SECS=5 BENCH_CONNS=8 BENCH_IDLE=500)
# Linux-specific: /proc/PID/smaps_rollup.
set -u
cd "$(dirname "$0")/.." || exit 1
SECS=${BENCH_SECS:-5}
CONNS=${BENCH_CONNS:-8}
IDLE=${BENCH_IDLE:-500}
LOAD=tests/tools/load PEER=tests/tools/peer
for prog in 06-processes/server 07-threads/server "$LOAD" "$PEER"; do
  [ -x "$prog" ] || { echo "bench: $prog is missing: run make first" >&2; exit 1; }
done
work=$(mktemp -d)
server_pid="" hold_pid=""

# cleanup - stop what the bench started (by pid / process group)
cleanup() {
  [ -n "$hold_pid" ] && kill "$hold_pid" 2>/dev/null
  [ -n "$server_pid" ] && kill -TERM -- "-$server_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start SERVER - start it in its own process group, wait for the ready line
start() {
  setsid "$1" -p 0 -m $((IDLE + 100)) >"$work/out" 2>/dev/null </dev/null &
  server_pid=$!
  port=""
  for _ in $(seq 200); do
    read -r ready 2>/dev/null <"$work/out" && port=${ready##*:} && return 0
    sleep 0.05
  done
  echo "bench: $1 did not start" >&2
  exit 1
}

# stop - SIGTERM the server's group and wait for it
stop() {
  kill -TERM -- "-$server_pid" 2>/dev/null
  wait "$server_pid" 2>/dev/null
  server_pid=""
}

# group_kib FIELD - sum of FIELD (Rss or Pss) in kB over the server's group
group_kib() {
  local pid total=0 kib
  for pid in $(ps -o pid= -g "$server_pid"); do
    kib=$(awk -v f="$1:" '$1 == f { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null)
    total=$((total + ${kib:-0}))
  done
  echo "$total"
}

# workers - children plus threads of the server beyond its main thread
workers() {
  local kids tasks
  kids=$(ps -o pid= --ppid "$server_pid" | wc -l)
  tasks=$(ls "/proc/$server_pid/task" | wc -l)
  echo $((kids + tasks - 1))
}

# measure NAME SERVER - both figures for one server
measure() {
  local name=$1 rss0 pss0 rss1 pss1
  start "$2"
  line=$("$LOAD" -p "$port" --short -c "$CONNS" -d "$SECS" --pid "$server_pid" --label "$name")
  echo "$line"
  eval "rps_$name=$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"$line")"
  stop

  start "$2"
  rss0=$(group_kib Rss) pss0=$(group_kib Pss)
  mkfifo "$work/hold"
  "$PEER" hold -p "$port" -n "$IDLE" <"$work/hold" >"$work/hold.out" &
  hold_pid=$!
  exec {feed}>"$work/hold"
  for _ in $(seq 600); do
    [ "$(workers)" -ge "$IDLE" ] && break
    sleep 0.05
  done
  sleep 0.5                                 # let the last workers settle in recv()
  rss1=$(group_kib Rss) pss1=$(group_kib Pss)
  exec {feed}>&-
  wait "$hold_pid"
  hold_pid=""
  rm -f "$work/hold"
  stop
  printf '%s: %d idle connections: group RSS %d -> %d KiB (%.1f KiB each), PSS %d -> %d KiB (%.1f KiB each)\n' \
    "$name" "$IDLE" "$rss0" "$rss1" "$(awk -v a="$rss0" -v b="$rss1" -v n="$IDLE" 'BEGIN { print (b - a) / n }')" \
    "$pss0" "$pss1" "$(awk -v a="$pss0" -v b="$pss1" -v n="$IDLE" 'BEGIN { print (b - a) / n }')"
  eval "rss_$name=$(awk -v a="$rss0" -v b="$rss1" -v n="$IDLE" 'BEGIN { print (b - a) / n }')"
  eval "pss_$name=$(awk -v a="$pss0" -v b="$pss1" -v n="$IDLE" 'BEGIN { print (b - a) / n }')"
}

echo "machine: $(nproc) cores, $(uname -sr); load --short -c $CONNS -d $SECS; $IDLE idle connections"
measure fork 06-processes/server
measure thread 07-threads/server
awk -v rf="$rps_fork" -v rt="$rps_thread" -v mf="$rss_fork" -v mt="$rss_thread" \
    -v pf="$pss_fork" -v pt="$pss_thread" 'BEGIN {
  printf "ratios: new connections/s thread/fork = %.1f; memory per idle connection fork/thread = %.1f (RSS), %.1f (PSS)\n",
         rt / rf, (mt > 0 ? mf / mt : 0), (pt > 0 ? pf / pt : 0) }'
