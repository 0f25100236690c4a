#!/usr/bin/env bats
# Exercise 6 of 04-poll/NOTES.md: ask poll() for POLLPRI, read the urgent
# byte a client sends with MSG_OOB (recv(..., MSG_OOB)) and log it as
# "ADDR: urgent byte 'C' (POLLPRI)". POLLPRI is level-triggered like the
# rest: a server that logs it without reading the byte is told again at
# once, and logs it again and again.
# Run with: make exercise L=04 N=6

load ../helpers
load urgent

L=04-poll
URGENT_TAG=POLLPRI

@test "exercise 6: each urgent byte is logged once, as \"ADDR: urgent byte 'C' (POLLPRI)\"" {
  command -v python3 >/dev/null || skip "python3 is not installed"
  start_server $L
  start_urgent_client
  urgent=$BG_PID
  exec {to}>"$BATS_TEST_TMPDIR/urgent.in"
  echo "ab" >&$to
  wait_for_line "$BG_OUT" '^AB$'
  echo "!!" >&$to                     # urgent '!', and nothing after it yet
  wait_for_line "$SERVER_ERR" "urgent byte '!'"
  echo "cd" >&$to
  wait_for_line "$BG_OUT" '^CD$'
  assert_equal "$(urgent_lines '!')" 1   # read, not reported again and again
  echo "!?" >&$to
  wait_for_line "$SERVER_ERR" "urgent byte '[?]'"
  echo "ef" >&$to
  exec {to}>&-
  wait_exit "$urgent"
  assert_equal "$EXIT_STATUS" 0
  # the urgent bytes are not part of the stream: only the rest comes back
  assert_equal "$(cat "$BG_OUT")" $'AB\nCD\nEF'
  assert_equal "$(urgent_lines '?')" 1
  stop_server
  assert_equal "$STOP_STATUS" 0
}
