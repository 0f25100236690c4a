#!/usr/bin/env bats
# Exercise 12 of 10-coroutines/NOTES.md: on SIGUSR1 the server logs
# "coroutines alive: N", N counting every coroutine spawned and not yet
# freed (green_count() over green.h's list of them): the accept loop, the
# stop watcher, the reporter that prints it, and one per client.
# Run with: make exercise L=10 N=12

load ../helpers

L=10-coroutines

# lines_at_least N FILE REGEX - true once N lines of FILE match REGEX
lines_at_least() {
  [ "$(grep -Ec -- "$3" "$2")" -ge "$1" ]
}

@test "exercise 12: SIGUSR1 with no client logs 'coroutines alive: 3'; the server goes on" {
  start_server $L
  kill -USR1 "$SERVER_PID"
  wait_for_line "$SERVER_ERR" 'coroutines alive: 3$' "$LAB_WAIT" "$SERVER_PID"
  run client $L <<<"hello"
  assert_output "HELLO"
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
}

@test "exercise 12: three clients are three more coroutines, and freed when they leave" {
  start_server $L
  fifo="$BATS_TEST_TMPDIR/hold.in"
  start_bg_input hold "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 3
  exec {feed}>"$fifo"
  wait_for_line "$BG_OUT" '^holding 3$'
  wait_until "$LAB_WAIT" lines_at_least 3 "$SERVER_ERR" 'connection from'
  kill -USR1 "$SERVER_PID"
  wait_for_line "$SERVER_ERR" 'coroutines alive: [0-9]+$' "$LAB_WAIT" "$SERVER_PID"
  run grep -Eo 'coroutines alive: [0-9]+$' "$SERVER_ERR"
  assert_output "coroutines alive: 6"
  exec {feed}>&-                      # the holder closes its connections
  wait_until "$LAB_WAIT" lines_at_least 3 "$SERVER_ERR" 'closed 127'
  kill -USR1 "$SERVER_PID"
  wait_until "$LAB_WAIT" lines_at_least 2 "$SERVER_ERR" 'coroutines alive: [0-9]+$'
  run grep -Eo 'coroutines alive: [0-9]+$' "$SERVER_ERR"
  assert_output $'coroutines alive: 6\ncoroutines alive: 3'
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
}
