#!/usr/bin/env bats
# Exercise 6 of 03-select/NOTES.md: the third set. Pass select() an
# exception set (exceptfds, the Python notes' xlist) holding every client,
# read the urgent byte a client sends with MSG_OOB (recv(..., MSG_OOB)) when
# the set reports it, and log it as "ADDR: urgent byte 'C' (exceptfds)".
# The exception set is level-triggered like the others: a server that logs
# the byte without reading it is told again at once, and logs it again and
# again.
# Run with: make exercise L=03 N=6

load ../helpers
load urgent

L=03-select
URGENT_TAG=exceptfds

@test "exercise 6: each urgent byte is logged once, as \"ADDR: urgent byte 'C' (exceptfds)\"" {
  check_each_urgent_byte_once
}

# timed_out_after_urgent_x - the server logged a select() timeout after it
# logged the urgent byte 'x'
timed_out_after_urgent_x() {
  sed -n "/urgent byte 'x'/,\$p" "$SERVER_ERR" | grep -q 'select timed out after'
}

@test "exercise 6: a client that sent an urgent byte and went quiet costs no busy loop" {
  command -v python3 >/dev/null || skip "python3 is not installed"
  start_server $L -v
  start_urgent_client
  urgent=$BG_PID
  exec {to}>"$BATS_TEST_TMPDIR/urgent.in"
  echo "!x" >&$to
  wait_for_line "$SERVER_ERR" "urgent byte 'x'"
  # select() then sleeps until its tick (logged with -v): nothing is left
  # to report. Unread, the byte would wake it at once, round after round.
  wait_until "$LAB_WAIT" timed_out_after_urgent_x
  assert_equal "$(urgent_lines 'x')" 1
  exec {to}>&-
  wait_exit "$urgent"
  assert_equal "$EXIT_STATUS" 0
  stop_server
  assert_equal "$STOP_STATUS" 0
  # a handful of select() calls, not thousands
  calls=$(grep -oE 'stopping after [0-9]+ select calls' "$SERVER_ERR" | grep -oE '[0-9]+')
  [ "$calls" -lt 100 ]
}
