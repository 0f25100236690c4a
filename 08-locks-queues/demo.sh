#!/usr/bin/env bash
# demo.sh - lesson 08 in one command: locks, and what happens without them.
#
# 1. The ticket office with its lock: 10 buyers, 5 tickets, 5 sold.
# 2. The same office with --no-lock: the buyers read the same count while
#    the others "wait for the network", and more tickets are sold than exist.
# 3. The 100-thread money counter with and without a mutex, then without
#    the pause: C has no GIL, so two cores lose updates on their own.
# 4. A deadlock that visibly hangs until the timed lock gives up; then the
#    recursive-lock fix.
# 5. Semaphore, event (the traffic light), queues, producer-consumer and a
#    queue between processes.
# Every line is labelled with who printed it. Ctrl-C at any time stops
# everything the demo started.
#
# Usage: ./demo.sh        (or from the top folder: make demo L=08-locks-queues)
#        DEMO_PAUSE=0.3 ./demo.sh    (faster)
set -u
cd "$(dirname "$0")" || exit 1
for prog in server client money deadlock semaphore event queues prodcons ipc_queue; do
  [ -x "./$prog" ] || { echo "demo: run 'make' first" >&2; exit 1; }
done
. ../lib/demo.bash          # label, say, pause, $work, cleanup at exit

# start_office ARGS... - start the ticket server on a data file in $work,
# wait for its ready line; sets server_pid and port
start_office() {
  : >"$work/server.out"
  # (the order matters: the labeller must start before stdout goes to the file)
  ./server -p 0 -f "$work/tickets.json" "$@" 2> >(label server) >"$work/server.out" &
  server_pid=$!
  port=""
  for _ in $(seq 200); do
    read -r ready 2>/dev/null <"$work/server.out" && port=${ready##*:} && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$port" ] || { say "the server did not start"; exit 1; }
  label server <<<"$ready"
}

# stop_office - SIGTERM the server and wait for it
stop_office() {
  kill -TERM "$server_pid"
  wait "$server_pid"
}

# buyers N - run the client with N buyers, show only its summary and the
# OK lines (the full log is in the server's lines above) and the data file;
# sets sold (the buyers told OK), sold_out (told SOLD OUT) and left (the
# count in the file), for the narration to quote
buyers() {
  ./client -p "$port" -n "$1" >"$work/client.out" 2>&1
  grep -E 'OK|bought' "$work/client.out" | label buyers
  label file <"$work/tickets.json"
  sold=$(sed -n 's/^bought \([0-9]*\) of .*/\1/p' "$work/client.out")
  sold_out=$(grep -c 'SOLD OUT' "$work/client.out")
  left=$(sed -n 's/.*"ticket_num": *\([0-9]*\).*/\1/p' "$work/tickets.json")
}

# money_figures FILE - from money's last line ("money = M (expected 0; L
# decrements lost)"), set money_left and lost
money_figures() {
  money_left=$(sed -n 's/^money = \(-\{0,1\}[0-9]*\) (expected.*/\1/p' "$1")
  lost=$(sed -n 's/.*; \([0-9]*\) decrements\{0,1\} lost)$/\1/p' "$1")
}

say "1. The ticket office, WITH the lock: 5 tickets, 10 buyers at once."
say "   Each BUY: take the lock, read the file, wait (network), write, unlock."
start_office -t 5
pause
buyers 10
stop_office
say "   $sold sold, $sold_out told SOLD OUT, $left left: the lock made them take turns."
pause 2

say "2. The same office WITHOUT the lock (--no-lock): 5 tickets, 10 buyers."
start_office -t 5 --no-lock
pause
buyers 10
stop_office
if [ "${sold:-0}" -gt 5 ]; then
  say "   $sold sold of 5 tickets, and the file says $left left: buyers read the count"
  say "   before the others wrote it back, and sold the same ticket again. Oversold."
else
  say "   $sold sold of 5: this time no two buyers overlapped (likely, not certain)."
fi
pause 2

say "3. money: 100 threads each do tmp = money; sleep; money = tmp - 1."
./money --pause 10 2>&1 | tee "$work/money.out" | label money
money_figures "$work/money.out"
say "   With the mutex: money ends at $money_left, but the threads went one at a time (100 pauses)."
pause
./money --no-lock --pause 100 2>&1 | grep -v '^$' | tee "$work/money.out" | label money
money_figures "$work/money.out"
say "   Without it: money ends at $money_left, $lost of the 100 decrements lost: each thread"
say "   read money, slept, and wrote back the value it had read minus one."
pause
say "   No pause at all, two threads, ten million decrements each. CPython's GIL"
say "   would hide this race most of the time; C threads run on both cores at once:"
./money --no-lock --pause 0 -n 2 -i 10000000 2>&1 | label money
pause 2

say "4. deadlock: func1 takes A then B, func2 takes B then A. Watch it hang..."
./deadlock --pause 1000 --timeout 3 2>&1 | label deadlock
say "   The fix of the Python notes: one recursive lock for both names."
./deadlock --recursive -n 3 --pause 300 2>&1 | label deadlock
pause 2

say "5. semaphore: 20 threads, 5 slots; never more than 5 inside."
./semaphore --pause 600 2>&1 | label semaphore
pause

say "6. event: cars wait for the light to turn green."
./event -n 5 --red 2000 --patience 700 2>&1 | label event
pause

say "7. queues: Python's queue module, in C."
./queues --timeout 700 2>&1 | label queues
pause

say "8. producers and consumers, joined by a queue with task_done/join."
./prodcons --pause 300 2>&1 | label prodcons
pause

say "9. a queue between processes (a pipe of fixed-size records)."
./ipc_queue 2>&1 | label ipc_queue
say "done."
