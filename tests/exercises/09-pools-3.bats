#!/usr/bin/env bats
# Exercise 3 of 09-pools/NOTES.md: a restart limit for the process pool.
# With --crash every worker process dies as it starts; the supervisor
# restarts a worker slot at most 10 times in 10 s, as systemd's
# StartLimitBurst does, then logs a line with "restart limit" and waits
# (a stop signal ends the wait) before it starts that worker again.
# Run with: make exercise L=09 N=3

load ../helpers

L=09-pools

# deaths FILE - how many worker deaths the supervisor has logged
deaths() { grep -Ec 'ended with status|killed by signal' "$1" || true; }

# deaths_at_least FILE N - true once N deaths are logged
deaths_at_least() { [ "$(deaths "$1")" -ge "$2" ]; }

# accepting_at_least FILE N - true once N workers have said they accept
accepting_at_least() { [ "$(grep -c ': accepting' "$1" || true)" -ge "$2" ]; }

# worker_pids PID - the live worker processes of the server PID
worker_pids() { ps -o pid=,stat= --ppid "$1" | awk '$2 !~ /^Z/ { print $1 }'; }

@test "exercise 3: a worker that dies at once is restarted 10 times, then the server says 'restart limit' and waits" {
  start_server $L --pool processes -w 1 --crash
  wait_for_line "$SERVER_ERR" 'restart limit' "$LAB_WAIT" "$SERVER_PID"
  # The first worker and 10 restarts died; the 11th death (logged before
  # or with the limit line) is the one that waits.
  n=$(deaths "$SERVER_ERR")
  echo "# $n deaths logged when the limit line came"
  [ "$n" -ge 10 ] && [ "$n" -le 11 ]
  # waiting is not giving up: the server is still there, and restarts the
  # worker once the 10 s window is over (one more death)
  wait_until $((LAB_WAIT + 15)) deaths_at_least "$SERVER_ERR" $((n + 1))
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
}

@test "exercise 3: SIGTERM while the server waits out the limit: exit 0, no worker left" {
  start_server $L --pool processes -w 2 --crash
  wait_for_line "$SERVER_ERR" 'restart limit' "$LAB_WAIT" "$SERVER_PID"
  stop_server                         # fails if anything of the group is left
  [ "$STOP_STATUS" -eq 0 ]
}

@test "exercise 3: the limit counts each worker slot: 12 deaths spread over 3 workers are no crash loop" {
  # What the lesson's own tests do (kill every worker, again and again)
  # must still be healed at once.
  start_server $L --pool processes -w 3
  wait_until "$LAB_WAIT" accepting_at_least "$SERVER_ERR" 3
  for round in 1 2 3 4; do
    # shellcheck disable=SC2046  # one argument per worker, split on purpose
    kill -KILL $(worker_pids "$SERVER_PID")
    wait_until "$LAB_WAIT" accepting_at_least "$SERVER_ERR" $((3 + 3 * round))
  done
  run client $L <<<"still here"
  assert_output "STILL HERE"
  [ "$(deaths "$SERVER_ERR")" -eq 12 ]
  run grep -c 'restart limit' "$SERVER_ERR"
  assert_output 0
}
