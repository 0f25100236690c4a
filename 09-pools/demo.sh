#!/usr/bin/env bash
# demo.sh - lesson 09 in one command: pools of threads and of processes.
#
# 1. The Python notes' pool listings (futures): 20 tasks of n**n on 5 workers,
#    first on threads with the results in order, then on processes with
#    done-callbacks. The tasks start five at a time.
# 2. The echo server with a pool of 2 threads: clients 1 and 2 are served
#    at once, client 3 waits until client 1 leaves. ps shows the threads.
# 3. The same with 2 pre-forked worker processes. ps shows the processes.
#    A worker killed with SIGKILL is replaced at once.
# 4. SIGTERM: every worker ends with the server.
# Every line is labelled with who printed it. Ctrl-C at any time stops
# everything the demo started.
#
# Usage: ./demo.sh        (or from the top folder: make demo L=09-pools)
#        DEMO_PAUSE=0.3 ./demo.sh    (faster)
set -u
cd "$(dirname "$0")" || exit 1
[ -x ./server ] && [ -x ./client ] && [ -x ./futures ] || { echo "demo: run 'make' first" >&2; exit 1; }
. ../lib/demo.bash          # label, say, pause, $work, cleanup at exit

# label NAME [LOG] - prefix each line of stdin with [NAME]; once a line is
# on the screen, also append it to LOG
label() {
  while IFS= read -r line; do
    printf '%-12s %s\n' "[$1]" "$line"
    [ -z "${2:-}" ] || printf '%s\n' "$line" >>"$2"
  done
}

# label_after N NAME - label a client's output, but print nothing before
# the server's Nth "connection from" line is on the screen: the client's
# reply and the server's line travel through different pipes, and the
# screen must show the worker taking the client before the reply
label_after() {
  local i
  for i in $(seq 600); do
    [ "$(grep -c 'connection from' "$server_log" 2>/dev/null)" -ge "$1" ] && break
    sleep 0.05
  done
  label "$2"
}

# start_server ARGS... - start ./server -p 0 ARGS, wait for its ready line
# (in a fresh file for each start); sets server_pid, port and server_log
starts=0
start_server() {
  local out="$work/server.$((++starts)).out"
  server_log="$work/server.$starts.log"
  : >"$out"
  : >"$server_log"
  # (the order matters: the labeller must start before stdout goes to the file)
  ./server -p 0 "$@" 2> >(label server "$server_log") >"$out" &
  server_pid=$!
  port=""
  for _ in $(seq 200); do
    read -r ready <"$out" && port=${ready##*:} && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$port" ] || { say "the server did not start"; exit 1; }
  label server <<<"$ready"
}

# stop_server - SIGTERM the server alone; it ends its own workers
stop_server() {
  local workers status left=0 pid
  workers=$(pgrep -x -P "$server_pid" server)
  say "SIGTERM to the server (pid $server_pid) only"
  kill -TERM "$server_pid"
  wait "$server_pid"
  status=$?
  for pid in $workers; do kill -0 "$pid" 2>/dev/null && left=$((left + 1)); done
  say "server exited with status $status; worker processes left: $left"
}

# three_clients - clients 1 and 2 stay a while (client 1 leaves at 5 pauses,
# client 2 at 6); client 3 comes third, at 1.5, and is served when 1 leaves
three_clients() {
  { echo "hello from client 1"; pause 5; } | ./client -p "$port" 2>&1 | label_after 1 "client 1" &
  pause 0.3
  { echo "hello from client 2"; pause 5.7; } | ./client -p "$port" 2>&1 | label_after 2 "client 2" &
  pause 1.5
  say "two workers, two clients: both answered at once. Now client 3..."
  { echo "hello from client 3"; pause 1; } | ./client -p "$port" 2>&1 | label_after 3 "client 3" &
  pause 1.5
  say "...no answer for client 3: both workers are busy with clients 1 and 2."
}

say "part 1: the Python notes' pools, 20 tasks of n**n on 5 workers"
pause
./futures -d 400 2>&1 | label futures
pause 2

say "part 2: echo server, --pool threads -w 2 (the main thread accepts, 2 threads serve)"
start_server --pool threads -w 2
three_clients
say "threads of the server (ps -L): one process, main + 2 workers:"
ps -L -o pid=,lwp=,comm= -p "$server_pid" | label ps
say "client 1 will leave in a moment; its worker then takes client 3."
pause 3.5
stop_server
wait
pause

say "part 3: echo server, --pool processes -w 2 (2 pre-forked workers, each accepting)"
start_server --pool processes -w 2
three_clients
say "processes of the server (ps): the parent + 2 workers, children of it:"
ps -o pid=,ppid=,comm= -p "$server_pid" --ppid "$server_pid" | awk '$3 == "server"' | label ps
say "client 1 will leave in a moment; a worker then accepts client 3."
pause 3.5
victim=$(pgrep -x -P "$server_pid" server | head -n 1)
say "SIGKILL to worker pid $victim: the parent reaps it, says so, and forks another"
kill -KILL "$victim"
pause
ps -o pid=,ppid=,comm= -p "$server_pid" --ppid "$server_pid" | awk '$3 == "server"' | label ps
stop_server
wait
say "done: the same three clients, a fixed pool of 2, threads or processes"
