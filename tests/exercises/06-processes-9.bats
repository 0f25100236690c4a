#!/usr/bin/env bats
# Exercise 9 of 06-processes/NOTES.md: server -n COUNT serves COUNT
# clients, then closes the listening socket and joins its children (waits
# for each to end by itself, no SIGTERM) before it exits 0.
# Run with: make exercise L=06 N=9

load ../helpers

L=06-processes

# hold_client - a lab client whose input the test feeds through $feed;
# sets held, held_out
hold_client() {
  start_bg_input held "$BATS_TEST_TMPDIR/held.in" "$LAB/$L/client" -p "$SERVER_PORT"
  held=$BG_PID held_out=$BG_OUT
  exec {feed}>"$BATS_TEST_TMPDIR/held.in"
}

@test "exercise 9: -n 2: the third client is refused, the first is still served, then exit 0" {
  start_server $L -n 2
  hold_client
  printf 'first\n' >&$feed
  wait_for_line "$held_out" '^FIRST$'
  run client $L <<<"second"
  assert_success
  assert_output "SECOND"
  wait_for_line "$SERVER_ERR" 'client limit 2 reached: waiting for [12] child process' "$LAB_WAIT" "$SERVER_PID"
  # the listener is closed: no third client ...
  run client $L <<<"third"
  assert_failure 1
  assert_output --partial "Connection refused"
  # ... but the first one's child still serves it, and the parent waits
  printf 'again\n' >&$feed
  wait_for_line "$held_out" '^AGAIN$'
  _lab_gone "$SERVER_PID" && fail "the server exited before its last child"
  exec {feed}>&-
  wait_exit "$held"
  [ "$EXIT_STATUS" -eq 0 ]
  wait_exit "$SERVER_PID"
  [ "$EXIT_STATUS" -eq 0 ]
  # joined, not terminated: the child logged its end of file, none was ended
  run cat "$SERVER_ERR"
  assert_line --regexp 'closed 127\.0\.0\.1:[0-9]+ \(12 bytes\)$'
  refute_output --partial "ended 1 child"
}

@test "exercise 9: -n 1: a stop signal while it waits still ends the child, exit 0" {
  start_server $L -n 1
  hold_client
  printf 'one\n' >&$feed
  wait_for_line "$held_out" '^ONE$'
  wait_for_line "$SERVER_ERR" 'client limit 1 reached: waiting for 1 child process$' "$LAB_WAIT" "$SERVER_PID"
  kill -TERM "$SERVER_PID"                  # the parent only: it must end the child
  wait_exit "$SERVER_PID"
  [ "$EXIT_STATUS" -eq 0 ]
  exec {feed}>&-
  wait_exit "$held"
  run cat "$SERVER_ERR"
  assert_line --partial "ended 1 child process"
}
