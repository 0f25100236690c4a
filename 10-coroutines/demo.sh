#!/usr/bin/env bash
# demo.sh - lesson 10 in one command: coroutines in one thread.
#
#   1. heng/ha/heiheihei: three green_sleep()s of 2, 3 and 5 units overlap
#      (about 5 units, not 10); the same with a plain blocking sleep adds
#      up to 10, one task at a time: a blocking call stalls everyone.
#   2. The same tasks computing instead of sleeping: switching gains nothing.
#   3. The coroutine server: three clients talk at once, and the server
#      still has one thread; then the stress client opens 500 connections,
#      and the demo counts them on the server's side while they are held.
#   4. A coroutine that overflows its stack dies in its guard page.
# Every line is labelled with who printed it. Ctrl-C at any time stops
# everything the demo started.
#
# Usage: ./demo.sh        (or from the top folder: make demo L=10-coroutines)
#        DEMO_PAUSE=0.3 ./demo.sh    (faster pauses; the timings are real)
set -u
cd "$(dirname "$0")" || exit 1
for prog in server client sleepers overflow; do
  [ -x "./$prog" ] || { echo "demo: run 'make' first" >&2; exit 1; }
done
. ../lib/demo.bash          # label, say, pause, $work, cleanup at exit
UNIT_MS=500                         # one "second" of the Python notes, in ms

# quiet_asan - drop the one-time swapcontext warning of an ASan build
quiet_asan() { grep --line-buffered -v "ASan doesn't fully support"; }

# label_server - like label, but silent while the file $work/quiet exists
# (500 stress connections would print 1000 lines)
label_server() {
  while IFS= read -r line; do
    [ -e "$work/quiet" ] || printf '%-11s %s\n' "[server]" "$line"
  done
}

say "1. gevent's heng/ha/heiheihei: sleeps of 2, 3 and 5 units (1 unit = ${UNIT_MS} ms)"
say "   with green_sleep(): a sleeping coroutine is parked, the others run"
./sleepers -u "$UNIT_MS" 2>&1 | quiet_asan | label sleepers
pause
say "   the same coroutines calling plain nanosleep(): the whole thread sleeps"
./sleepers --blocking -u "$UNIT_MS" 2>&1 | quiet_asan | label sleepers
say "   -> one blocking call stalls every coroutine. gevent's monkey.patch_all()"
say "      swaps such calls for green ones; in C nothing does it for you."
pause 2

say "2. the same three tasks computing instead of waiting"
./sleepers --cpu -u 400 2>&1 | quiet_asan | label sleepers
say "   -> switching pays off only when there is something to wait for."
pause 2

say "3. the coroutine echo server: one thread, one coroutine per client"
# (the order matters: the labeller must start before stdout goes to the file)
./server -p 0 2> >(quiet_asan | label_server) >"$work/server.out" &
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

say "three clients connect and talk at the same time"
for i in 1 2 3; do
  { pause "$i"; echo "hello from client $i"; pause 3; echo "client $i again"; pause 1; } |
    ./client -p "$port" 2>&1 | quiet_asan | label "client $i" &
done
pause 2
say "server threads while they talk: $(ls "/proc/$server_pid/task" | wc -l)"
pause 4
say "-> all three were answered while connected: no waiting as in lesson 01."
pause

say "now the Python notes' stress client: 500 connections at once, 50 messages each"
say "(the server's 1000 lines of connection from/closed are hidden)"
touch "$work/quiet"
./client -p "$port" --stress -n 50 2>&1 | quiet_asan | label stress &
stress_pid=$!
# Count the server's connections while the stress client runs (ss, a few
# times a second), and keep the most seen at once with the server's
# thread count at that moment: a count taken after the run would say 0.
most=0 threads=0
while kill -0 "$stress_pid" 2>/dev/null; do
  held=$(ss -Htn state established "( sport = :$port )" | wc -l)
  if [ "$held" -gt "$most" ]; then
    most=$held threads=$(ls "/proc/$server_pid/task" | wc -l)
  fi
  sleep 0.05
done
wait "$stress_pid"
say "most connections the server held at once (measured with ss while they ran):" \
    "$most, with $threads thread(s)"
pause 1
rm -f "$work/quiet"
pause

say "4. a coroutine that recurses without end (64 KiB stacks)"
# (overflow labels its own lines: [overflow] and [deep])
./overflow 2>&1 | quiet_asan | awk '!/depth/ || ++n % 2 == 0'
status=${PIPESTATUS[0]}
if [ "$status" -gt 128 ]; then
  say "-> killed by SIG$(kill -l "$status") (shell status $status) at its guard page, before"
  say "   writing one byte into its neighbour's memory."
else
  say "-> it ended with status $status: see its last lines above"
fi
pause

say "stopping the server with SIGTERM"
kill -TERM "$server_pid"
wait "$server_pid"
say "server exited with status $?"
