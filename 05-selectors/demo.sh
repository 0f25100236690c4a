#!/usr/bin/env bash
# demo.sh - lesson 05 in one command: one thread, a selector, many clients.
#
#   1. the server on the default backend (epoll): three clients talk at
#      once and each is answered at once, by one process with one thread;
#   2. a client that never reads: the server stops reading it at the cap
#      and goes on serving the others;
#   3. the select backend with 1,100 connections: descriptors from
#      FD_SETSIZE (1024) up are refused, never passed to FD_SET;
#   4. edge_level: level- vs edge-triggered wake-ups, counted;
#   5. aio: io_uring and POSIX AIO, the fifth IO model.
# Every line is labelled with who printed it. Ctrl-C at any time stops
# everything the demo started.
#
# Usage: ./demo.sh        (or from the top folder: make demo L=05-selectors)
#        DEMO_PAUSE=0.3 ./demo.sh    (faster)
set -u
cd "$(dirname "$0")" || exit 1
for prog in server client edge_level aio ../tests/tools/peer; do
  [ -x "$prog" ] || { echo "demo: run 'make' first (missing $prog)" >&2; exit 1; }
done
. ../lib/demo.bash          # label, say, pause, $work, cleanup at exit

# start_server NAME ARGS... - start ./server -p 0 ARGS with its stderr
# copied to $work/server.err and shown labelled NAME (NAME "-": not shown);
# sets server_pid and port. The descriptor limit is raised (as far as the
# hard limit allows) so that part 3 meets FD_SETSIZE, not the usual soft
# limit of 1024.
start_server() {
  local name=$1; shift
  : >"$work/server.err"
  # Emptied here, before the server starts: the ready line read below can
  # then only be this start's, never the one a previous part left behind.
  : >"$work/server.out"
  if [ "$name" = - ]; then
    (ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec ./server -p 0 "$@") \
      2>"$work/server.err" >"$work/server.out" &
  else
    # (the order matters: the labeller must start before stdout goes to the file)
    (ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec ./server -p 0 "$@") \
      2> >(tee -a "$work/server.err" | label "$name") >"$work/server.out" &
  fi
  server_pid=$!
  wait_ready
}

# wait_for TEST... - wait (up to 20 s) until the command TEST succeeds:
# the demo moves on when something has happened, not after a guess
wait_for() {
  for _ in $(seq 400); do "$@" && return 0; sleep 0.05; done
  say "gave up waiting for: $*"
}

# logged_at_least N REGEX - the server has logged N lines matching REGEX
logged_at_least() { [ "$(grep -cE -- "$2" "$work/server.err")" -ge "$1" ]; }

# wait_ready - wait for the ready line "listening on ADDR:PORT", take the port
wait_ready() {
  port=""
  for _ in $(seq 200); do
    read -r ready 2>/dev/null <"$work/server.out" && port=${ready##*:} && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$port" ] || { say "the server did not start"; exit 1; }
}

# stop_server - SIGTERM the server and report its exit status
stop_server() {
  kill -TERM "$server_pid"
  wait "$server_pid"
  say "server exited with status $?"
}

say "1. the echo server on a selector (default backend: the best there is)"
start_server server
label server <<<"$ready"
pause
say "three clients connect and talk at the same time"
for i in 1 2 3; do
  { echo "hello from client $i"; pause 2; echo "client $i again"; pause 1; } |
    ./client -p "$port" 2>&1 | label "client $i" &
done
pause 1
say "threads in the server: $(ls /proc/$server_pid/task | wc -l) - one loop, callbacks for each ready socket"
pause 3

say "2. a client that sends without end and never reads its replies"
../tests/tools/peer flood -p "$port" >/dev/null 2>&1 &
flood_pid=$!
wait_for logged_at_least 1 'reading paused'
pause 1
say "the server paused reading it at the cap; its memory: $(awk '/^VmRSS/ { print $2, $3 }' /proc/$server_pid/status)"
echo "served meanwhile" | ./client -p "$port" 2>&1 | label "client 4"
kill -TERM "$flood_pid"
wait "$flood_pid" 2>/dev/null
pause
stop_server
pause

say "3. the select backend and 1,100 connections (FD_SETSIZE is 1024)"
start_server - --backend select           # its 2,000 log lines: not shown
mkfifo "$work/hold.in"
../tests/tools/peer hold -n 1100 -p "$port" <"$work/hold.in" 2>&1 | label "1100 peers" &
exec {hold_feed}>"$work/hold.in"        # the peers hold on until this closes
wait_for logged_at_least 1100 'connection from|refused'
say "connections registered: $(grep -c 'connection from' "$work/server.err");" \
    "refused: $(grep -c 'refused' "$work/server.err"), the first of them:"
grep -m 1 'refused' "$work/server.err" | label server
pause 2
exec {hold_feed}>&-
wait_for logged_at_least "$(grep -c 'connection from' "$work/server.err")" 'closed'
stop_server
pause

say "4. level- vs edge-triggered, counted (./edge_level)"
./edge_level 2>&1 | label edge_level
pause 3

say "5. asynchronous IO: we submit, the kernel completes (./aio, then ./aio --posix)"
./aio 2>&1 | label io_uring
pause
./aio --posix 2>&1 | label "posix aio"
pause
say "done"
