#!/usr/bin/env bash
# demo.sh - lesson 11 in one command: datagrams, no connections.
#
# 1. One UDP server, three clients talking at the same time: one socket and
#    one loop answer them all, each reply to its own sender.
# 2. An empty datagram still arrives, with its sender (empty).
# 3. A buffer smaller than the datagram: the rest is gone (truncate).
# 4. The server stops; a client's datagrams vanish without a trace, and it
#    gives up after its retries. An unconnected socket hears nothing; a
#    connected one gets ECONNREFUSED (noserver).
# Every line is labelled with who printed it. Ctrl-C stops everything.
#
# Usage: ./demo.sh        (or from the top folder: make demo L=11-udp)
#        DEMO_PAUSE=0.3 ./demo.sh    (faster)
set -u
cd "$(dirname "$0")" || exit 1
for prog in server client empty truncate noserver; do
  [ -x "./$prog" ] || { echo "demo: run 'make' first" >&2; exit 1; }
done
. ../lib/demo.bash          # label, say, pause, $work, cleanup at exit

say "starting the UDP server: one socket, bind, no listen, no accept"
# (the order matters: the labeller must start before stdout goes to the file)
./server -p 0 2> >(label server) >"$work/server.out" &
server_pid=$!
port=""
for _ in $(seq 200); do
  [ -s "$work/server.out" ] && read -r ready <"$work/server.out" && port=${ready##*:} && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.05
done
[ -n "$port" ] || { say "the server did not start"; exit 1; }
label server <<<"$ready"
pause

say "three clients talk at the same time; each line is one datagram"
for i in 1 2 3; do
  { for word in hello again bye; do echo "client $i says $word"; pause 0.7; done; } |
    ./client -p "$port" 2>&1 | label "client $i" &
done
pause 3
say "one loop answered them all, each reply to the address it came from"
pause

say "an empty datagram is still a datagram (it carries its sender's address)"
./empty -p "$port" 2>&1 | label empty
pause 2

say "a 3000-byte datagram read with the Python notes' 1024-byte buffer"
./truncate 2>&1 | label truncate
pause 2

say "stopping the server with SIGTERM"
kill -TERM "$server_pid"
wait "$server_pid"
say "server exited with status $?"
pause

say "a client sends with nobody listening: no error, just no reply"
echo "is anyone there?" | ./client -p "$port" -t 500 -r 2 2>&1 | label client
pause
say "the same from an unconnected and from a connected socket:"
./noserver -p "$port" 2>&1 | label noserver
pause
say "done"
