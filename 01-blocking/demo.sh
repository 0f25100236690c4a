#!/usr/bin/env bash
# demo.sh - lesson 01 in one command: two clients, one blocking server.
#
# Starts the server, connects client 1, then client 2. Client 2's line
# gets no answer while client 1 is connected: the server is asleep in
# recv() for client 1 and never calls accept() for client 2. When client 1
# leaves, client 2 is answered at once. Every line is labelled with who
# printed it. Ctrl-C at any time stops everything the demo started.
#
# Usage: ./demo.sh        (or from the top folder: make demo L=01-blocking)
#        DEMO_PAUSE=0.3 ./demo.sh    (faster)
set -u
cd "$(dirname "$0")" || exit 1
[ -x ./server ] && [ -x ./client ] || { echo "demo: run 'make' first" >&2; exit 1; }
. ../lib/demo.bash          # label, say, pause, $work, cleanup at exit

say "starting the server (blocking sockets, one client at a time)"
# (the order matters: the labeller must start before stdout goes to the file)
./server -p 0 2> >(label server) >"$work/server.out" &
server_pid=$!

# Wait for the ready line ("listening on ADDR:PORT") and take the port.
port=""
for _ in $(seq 200); do
  read -r ready 2>/dev/null <"$work/server.out" && port=${ready##*:} && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.05
done
[ -n "$port" ] || { say "the server did not start"; exit 1; }
label server <<<"$ready"
pause

# Each client reads its lines from a small script of echo and sleep; the
# script ending is the client's end of input, and then the client leaves.
say "client 1 connects and says hello"
{ echo "hello from client 1"; pause 7; echo "goodbye"; pause 1; } |
  ./client -p "$port" 2>&1 | label "client 1" &
pause

say "client 2 connects and says hello too..."
{ echo "hello from client 2"; pause 9; } |
  ./client -p "$port" 2>&1 | label "client 2" &
pause 2
say "...no answer for client 2: the server sits in recv() for client 1."
say "The kernel has completed client 2's handshake and queued it, but the"
say "program will not call accept() again until client 1 leaves."
pause 3
say "client 1 says one more line, then leaves..."
pause 3
say "...and client 2 was answered the moment client 1 left."
pause 2

say "stopping the server with SIGTERM"
kill -TERM "$server_pid"
wait "$server_pid"
say "server exited with status $?"
