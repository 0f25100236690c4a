#!/usr/bin/env bash
# demo.sh - lesson 02 in one command: polling without waiting, and its price.
#
# 1. Starts the polling server with -v: each second it reports how many
#    calls came back with EAGAIN (wasted), and the demo measures the CPU it
#    burns while nobody is connected (about one whole core) and prints the
#    rate of wasted calls it reported (tens of thousands a second here).
# 2. Two clients at once: both are answered (in lesson 01 the second waited).
# 3. Restarts it with --sleep 100: the wasted calls drop to about ten a
#    second (measured and printed again) and the CPU to nothing, but a
#    reply now waits for the server to wake up (its time is measured too).
# 4. The two other ways out of blocking: timeout (block, but not forever)
#    and sigio (let the kernel send a signal).
# Every line is labelled with who printed it. Ctrl-C stops everything.
#
# Usage: ./demo.sh        (or from the top folder: make demo L=02-nonblocking)
#        DEMO_PAUSE=0.3 ./demo.sh    (faster)
set -u
cd "$(dirname "$0")" || exit 1
for prog in server client timeout sigio; do
  [ -x "./$prog" ] || { echo "demo: run 'make' first" >&2; exit 1; }
done
. ../lib/demo.bash          # label, say, pause, $work, cleanup at exit
server_pid=""

# start_server ARGS... - the server on a free port, stderr labelled; sets
# server_pid and port
start_server() {
  : >"$work/server.out"
  : >"$work/server.err"
  # (the order matters: the labeller must start before stdout goes to the file)
  ./server -p 0 "$@" 2> >(tee -a "$work/server.err" | label server) >"$work/server.out" &
  server_pid=$!
  port=""
  for _ in $(seq 200); do
    [ -s "$work/server.out" ] && read -r ready <"$work/server.out" && port=${ready##*:} && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$port" ] || { say "the server did not start"; exit 1; }
  label server <<<"$ready"
}

# stop_server - SIGTERM; the server prints its totals on the way out
stop_server() {
  kill -TERM "$server_pid"
  wait "$server_pid"
  say "server exited with status $?"
  server_pid=""
}

# show_rate - the wasted calls of the server's latest "last second" line
show_rate() {
  local rate _
  for _ in $(seq 60); do     # the first report comes one second after the start
    grep -q 'last second:' "$work/server.err" && break
    sleep 0.05
  done
  rate=$(grep -oE 'last second: [0-9]+ wasted' "$work/server.err" | tail -n 1 | grep -oE '[0-9]+')
  say "...and in its last second it asked 'anything yet?' ${rate:-?} times, every answer EAGAIN"
}

# stamp_first_line FILE - pass stdin through; when its first line comes,
# write the time (date +%s%N) into FILE
stamp_first_line() {
  local line
  IFS= read -r line || return 0
  date +%s%N >"$1"
  printf '%s\n' "$line"
  cat
}

# show_cpu - the share of one core the server used over the last second
# (/proc/PID/stat counts in units of 1/CLK_TCK s: 10 ms; the kernel's own
# tick may be shorter, see NOTES.md section 7)
show_cpu() {
  local hz t0 t1
  hz=$(getconf CLK_TCK)
  t0=$(awk '{ print $14 + $15 }' "/proc/$server_pid/stat")
  sleep 1
  t1=$(awk '{ print $14 + $15 }' "/proc/$server_pid/stat")
  say "CPU used by the server over one second: $(( (t1 - t0) * 100 / hz ))% of a core"
}

say "starting the polling server: every socket non-blocking, no sleeping;"
say "-v reports each second the calls that failed with EAGAIN (wasted)"
start_server -v
pause
say "nobody is connected, and yet..."
show_cpu
show_rate
pause 2

say "client 1 connects and says hello, and stays connected"
{ echo "hello from client 1"; pause 4; echo "client 1 again"; } |
  ./client -p "$port" 2>&1 | label "client 1" &
pause
say "client 2 connects while client 1 is still there"
{ echo "hello from client 2"; pause 1; } |
  ./client -p "$port" 2>&1 | label "client 2" &
pause 2
say "both are answered at once, by one thread (in lesson 01 client 2 waited)"
pause 3
stop_server
pause

say "now with the Python notes' time.sleep(): --sleep 100 after every idle pass"
start_server -v --sleep 100
pause 2
show_cpu
show_rate
say "almost no CPU; the price is latency:"
started=$(date +%s%N)
echo "is anybody there?" | ./client -p "$port" 2>&1 | stamp_first_line "$work/replied" | label client
if [ -s "$work/replied" ]; then
  say "(the reply came $(( ($(cat "$work/replied") - started) / 1000000 )) ms after the client started;" \
      "the server looks for work every 100 ms)"
fi
pause
stop_server
pause

say "the third way: block, but with a deadline (settimeout = SO_RCVTIMEO/SO_SNDTIMEO)"
./timeout -t 0.5 2>&1 | label timeout
pause
say "the fourth IO model: the kernel sends SIGIO when data arrives"
./sigio -n 3 -i 300 2>&1 | label sigio
pause
say "done"
