#!/usr/bin/env bash
# demo.sh - lesson 07 in one command: a thread per client, and threads
# themselves (basics, daemon threads, CPU-bound vs IO-bound work).
#
# Starts the threaded server and three clients at once: all three are
# answered, each by a thread of the one server process (ps -L lists them).
# When they leave, the threads are gone. Then each demo program runs once
# with its output labelled; cpu_vs_io prints C's timings beside the Python notes'
# Python ones. Ctrl-C at any time stops everything the demo started.
#
# Usage: ./demo.sh        (or from the top folder: make demo L=07-threads)
#        DEMO_PAUSE=0.3 ./demo.sh    (faster)
set -u
cd "$(dirname "$0")" || exit 1
for prog in server client basics daemon cpu_vs_io; do
  [ -x "./$prog" ] || { echo "demo: run 'make' first" >&2; exit 1; }
done
. ../lib/demo.bash          # label, say, pause, $work, cleanup at exit

# show_threads - the server's threads as ps -L sees them (LWP = thread id)
show_threads() {
  ps -L -o pid,lwp,stat,cmd -p "$server_pid" | label ps
}

say "starting the threaded server"
# (the order matters: the labeller must start before stdout goes to the file)
./server -p 0 2> >(label server) >"$work/server.out" &
server_pid=$!
port=""
for _ in $(seq 200); do
  read -r ready 2>/dev/null <"$work/server.out" && port=${ready##*:} && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.05
done
[ -n "$port" ] || { say "the server did not start"; exit 1; }
label server <<<"$ready"
pause

say "three clients connect and stay connected; all three are answered at once"
for i in 1 2 3; do
  { echo "hello from client $i"; pause 4; } |
    ./client -p "$port" 2>&1 | label "client $i" &
done
pause 2
say "one process, one thread per client besides the main thread (same PID, own LWP):"
show_threads
pause 3
say "the clients have left; their threads have ended:"
show_threads
pause

say "stopping the server with SIGTERM"
kill -TERM "$server_pid"
wait "$server_pid"
say "server exited with status $?"
pause

say "basics: two ways to start a thread, join, shared money, names, active count"
./basics 2>&1 | label basics
pause

say "daemon: main joins the non-daemon thread (Python's way)"
./daemon 2>&1 | label daemon
say "daemon --return: return from main is exit(): no thread gets to say 'end'"
./daemon --return 2>&1 | label daemon
say "daemon --pthread-exit: only main ends; the process waits for the rest"
./daemon --pthread-exit 2>&1 | label daemon
pause

say "cpu_vs_io: the Python notes' experiment in C (it takes a few seconds)"
./cpu_vs_io 2>&1 | label cpu_vs_io
say "C threads use every core: no GIL. See NOTES.md, section 8."
say "done"
