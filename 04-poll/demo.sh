#!/usr/bin/env bash
# demo.sh - lesson 04 in one command: poll(), past select()'s 1024 limit.
#
# Part 1: the poll() server with two clients at once, as in lesson 03.
# Part 2: 2,000 idle connections held open by the lab's test peer; the
# server has well over 1024 descriptors (select() could not watch them)
# and a newcomer is still answered at once.
# Part 3: the bitmask program: the Python notes' bit operators and the real
# revents bits poll() returns.
# Every line is labelled with who printed it. Ctrl-C at any time stops
# everything the demo started.
#
# Usage: ./demo.sh        (or from the top folder: make demo L=04-poll)
#        DEMO_PAUSE=0.3 ./demo.sh    (faster)
set -u
cd "$(dirname "$0")" || exit 1
peer=../tests/tools/peer
[ -x ./server ] && [ -x ./client ] && [ -x ./bitmask ] && [ -x "$peer" ] ||
  { echo "demo: run 'make' first" >&2; exit 1; }
. ../lib/demo.bash          # label, say, pause, $work, cleanup at exit
HOLD=2000

# demo_cleanup_hook - run by lib/demo.bash's cleanup, first
demo_cleanup_hook() {
  exec 7>&- 2>/dev/null
}

# label_server - like label, but while $work/quiet exists the crowd's
# "connection from" and "closed" lines are counted in the log, not shown,
# and $work/seen says how many lines the labeller has read so far (it
# reads behind the log file: see catch_up)
label_server() {
  local seen=0
  while IFS= read -r line; do
    seen=$((seen + 1))
    if [ -e "$work/quiet" ]; then
      echo "$seen" >"$work/seen"
      [[ $line == *"connection from"* || $line == *"closed"* ]] && continue
    fi
    printf '%-11s %s\n' "[server]" "$line"
  done
}
# catch_up - wait until label_server has read every line of the log so
# far, so that none of the crowd's lines is shown after quiet ends
catch_up() {
  local seen
  for _ in $(seq 600); do
    seen=$(cat "$work/seen" 2>/dev/null)
    [ "${seen:-0}" -ge "$(wc -l <"$work/server.err")" ] && return
    sleep 0.05
  done
}

# The server needs a descriptor per connection: raise the soft limit.
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt $((HOLD + 100)) ]; then HOLD=$((hard - 100)); fi

say "part 1: starting the poll() server (descriptor limit raised to $((HOLD + 100)))"
# (the order matters: the labeller must start before stdout goes to the file)
( ulimit -n $((HOLD + 100)) && exec ./server -p 0 ) 2> >(tee "$work/server.err" | label_server) \
  >"$work/server.out" &
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

say "two clients at once: both answered, one process"
{ echo "hello from client 1"; pause 2; echo "client 1 again"; } |
  ./client -p "$port" 2>&1 | label "client 1" &
pause
{ echo "hello from client 2"; } | ./client -p "$port" 2>&1 | label "client 2" &
pause 3

say "part 2: $HOLD idle connections (the server's log of them is hidden)"
touch "$work/quiet"
mkfifo "$work/hold.in"
$peer hold -p "$port" -n "$HOLD" <"$work/hold.in" >"$work/hold.out" 2>&1 &
exec 7>"$work/hold.in"
for _ in $(seq 600); do grep -q holding "$work/hold.out" && break; sleep 0.05; done
label peer <"$work/hold.out"
for _ in $(seq 600); do
  [ "$(grep -c 'connection from' "$work/server.err")" -ge $((HOLD + 2)) ] && break
  sleep 0.05
done
say "the server has $(ls /proc/"$server_pid"/fd | wc -l) descriptors open;"
say "select() could not watch any at or above 1024, poll() takes them all"
pause
say "a newcomer among the $HOLD:"
echo "still answered at once" | ./client -p "$port" 2>&1 | label "client 3"
pause 2
say "the crowd leaves"
exec 7>&-
for _ in $(seq 600); do
  [ "$(grep -c 'closed' "$work/server.err")" -ge $((HOLD + 3)) ] && break
  sleep 0.05
done
catch_up
rm -f "$work/quiet"
say "the server has $(ls /proc/"$server_pid"/fd | wc -l) descriptors open again"
pause

say "part 3: ./bitmask - the Python notes' & | ^ << >> and real poll() revents"
./bitmask | label bitmask
pause 2
kill -TERM "$server_pid"
wait "$server_pid"
say "server exited with status $?"
