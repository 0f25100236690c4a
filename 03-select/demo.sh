#!/usr/bin/env bash
# demo.sh - lesson 03 in one command: one process, one select(), many clients.
#
# Part 1: the select() server with two clients. Client 2 is answered at
# once although client 1 is still connected (compare lesson 01, where it
# had to wait), and client 1 is still served afterwards. With -v the
# server also says when select() times out with nothing to do.
# Part 2: the Python notes 002 application (./server --log FILE runs
# ./logserver): it watches its terminal and its clients at once and
# appends both to a file.
# Every line is labelled with who printed it. Ctrl-C at any time stops
# everything the demo started.
#
# Usage: ./demo.sh        (or from the top folder: make demo L=03-select)
#        DEMO_PAUSE=0.3 ./demo.sh    (faster)
set -u
cd "$(dirname "$0")" || exit 1
[ -x ./server ] && [ -x ./client ] || { echo "demo: run 'make' first" >&2; exit 1; }
. ../lib/demo.bash          # label, say, pause, $work, cleanup at exit

# wait_ready FILE PID - wait for the ready line in FILE, print it, set port
wait_ready() {
  port=""
  for _ in $(seq 200); do
    read -r ready 2>/dev/null <"$1" && port=${ready##*:} && break
    kill -0 "$2" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$port" ] || { say "the server did not start"; exit 1; }
  label server <<<"$ready"
}

say "part 1: starting the select() server (-v: it also reports select timeouts)"
# (the order matters: the labeller must start before stdout goes to the file)
./server -v -p 0 2> >(label server) >"$work/server.out" &
server_pid=$!
wait_ready "$work/server.out" "$server_pid"
pause

# Each client reads its lines from a small script of echo and sleep; the
# script ending is the client's end of input, and then the client leaves.
say "client 1 connects and says hello"
{ echo "hello from client 1"; pause 6; echo "client 1 is still here"; pause 1; } |
  ./client -p "$port" 2>&1 | label "client 1" &
pause

say "client 2 connects while client 1 is still connected..."
{ echo "hello from client 2"; pause 1; } |
  ./client -p "$port" 2>&1 | label "client 2" &
pause 2
say "...and is answered at once: select() woke up for whichever socket"
say "was readable. One process, one thread, no waiting in line."
pause 2
say "client 1, connected all along, speaks again and is served too:"
pause 3
kill -TERM "$server_pid"
wait "$server_pid"
say "server exited with status $?"
pause

say "part 2: ./logserver FILE (or ./server --log FILE), the Python notes 002"
say "application: it watches its terminal (standard input) and its clients"
say "in the same select()"
log="$work/selectdemo.txt"
{ pause 2; echo "a line typed at the server's terminal"; pause 4; } |
  ./logserver -p 0 "$log" 2> >(label logserver) >"$work/server2.out" &
server_pid=$!
wait_ready "$work/server2.out" "$server_pid"
{ echo "hello, please save this"; echo "你好, 也保存这一行"; pause 1; } |
  ./client -p "$port" 2>&1 | label "client 3" &
pause 4
say "the file now holds both sources, in order of arrival:"
label file <"$log"
pause
kill -TERM "$server_pid"
wait "$server_pid"
say "server exited with status $?"
