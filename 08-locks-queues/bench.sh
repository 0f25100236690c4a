#!/usr/bin/env bash
# bench.sh - lesson 08's figures: what a lock costs, and how often a race bites
#
#   1. the ticket server: purchases per second with the fcntl lock and
#      without it (--delay 0, plenty of tickets), BUYERS buyers at once;
#   2. a pthread mutex: ns per lock+unlock, uncontended and contended;
#   3. the money race without a lock or pause: decrements lost in C (two
#      threads on two cores) and in CPython (the Python version's code, GIL held).
# Prints figures; never fails on a number. Machine-dependent by nature.
#
# Usage: ./bench.sh        (from the lesson folder, after make)
#        BUYERS=400 RUNS=5 ./bench.sh
set -u
cd "$(dirname "$0")" || exit 1
BUYERS=${BUYERS:-200}
RUNS=${RUNS:-5}
work=$(mktemp -d)
server_pid=""
trap '[ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

now_ns() { date +%s%N; }

echo "machine: $(nproc) cores, $(uname -sr)"

# --- 1. the ticket server ---------------------------------------------------
# time_office ARGS... - start the server with ARGS, run BUYERS buyers RUNS
# times, print the best purchases/s
time_office() {
  local best=0 start end rate ready port
  : >"$work/out"                 # a fresh file: never the last run's ready line
  ./server -p 0 -f "$work/t.json" -t 100000000 --delay 0 "$@" >"$work/out" 2>/dev/null &
  server_pid=$!
  for _ in $(seq 200); do
    read -r ready 2>/dev/null <"$work/out" && break
    sleep 0.05
  done
  port=${ready##*:}
  for _ in $(seq "$RUNS"); do
    start=$(now_ns)
    ./client -p "$port" -n "$BUYERS" >/dev/null
    end=$(now_ns)
    rate=$(( BUYERS * 1000000000 / (end - start) ))
    [ "$rate" -gt "$best" ] && best=$rate
  done
  kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null; server_pid=""
  echo "$best"
}
locked=$(time_office)
unlocked=$(time_office --no-lock)
echo "ticket server, $BUYERS buyers at once, --delay 0, best of $RUNS:"
echo "  with the fcntl lock: $locked purchases/s"
echo "  --no-lock:           $unlocked purchases/s"
awk -v a="$locked" -v b="$unlocked" 'BEGIN { if (a > 0) printf "  no-lock / lock = %.2f\n", b / a }'

# --- 2. a pthread mutex ----------------------------------------------------
# ns_per_op ARGS... - ns per decrement of ./money ARGS (N threads x I each)
ns_per_op() {
  local start end total=$(( $2 * $4 ))
  start=$(now_ns)
  ./money --pause 0 -n "$2" -i "$4" >/dev/null
  end=$(now_ns)
  awk -v ns=$(( end - start )) -v n="$total" 'BEGIN { printf "%.1f", ns / n }'
}
echo "pthread mutex, lock + decrement + unlock (money --pause 0):"
echo "  1 thread x 20000000 (never contended): $(ns_per_op -n 1 -i 20000000) ns each"
echo "  2 threads x 10000000 (contended):      $(ns_per_op -n 2 -i 10000000) ns each"

# --- 3. the money race, C vs CPython --------------------------------------------
echo "money without a lock and without a pause, 2 threads x 10000000, $RUNS runs:"
printf '  C (lost decrements):       '
for _ in $(seq "$RUNS"); do
  ./money --no-lock --pause 0 -n 2 -i 10000000 2>/dev/null | sed -n 's/^money = \([0-9]*\) (expected.*/\1/p' | tr '\n' ' '
done
echo
if command -v python3 >/dev/null; then
  printf '  CPython %s (lost): ' "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  for _ in $(seq "$RUNS"); do
    python3 - <<'EOF' | tr '\n' ' '
from threading import Thread
money = 20000000
def task():
    global money
    for _ in range(10000000):
        tmp = money
        money = tmp - 1
threads = [Thread(target=task) for _ in range(2)]
for t in threads: t.start()
for t in threads: t.join()
print(money)
EOF
  done
  echo
else
  echo "  (python3 not installed: no CPython comparison)"
fi
