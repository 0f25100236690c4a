#!/usr/bin/env bats
# Exercise 5 of 03-select/NOTES.md: an idle timeout, `-i SECONDS`, that
# closes a client which has sent nothing for that long. select()'s timeout
# argument is the clock: each round it is the time left to the nearest
# deadline (or the usual tick, if that is sooner), and after select()
# returns, for an event or a timeout, the server closes whoever is due.
# Run with: make exercise L=03 N=5

load ../helpers

L=03-select

@test "exercise 5: -i 1 closes a silent client, logged 'closed ADDR (0 bytes, idle)'" {
  start_server $L -i 1
  fifo="$BATS_TEST_TMPDIR/hold.in"
  start_bg_input holder "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 1
  exec {hold}>"$fifo"
  wait_for_line "$BG_OUT" '^holding 1$'
  wait_for_line "$SERVER_ERR" 'closed 127\.0\.0\.1:[0-9]+ \(0 bytes, idle\)'
  exec {hold}>&-
  # the server goes on serving after it
  run client $L <<<"still here"
  assert_success
  assert_output "STILL HERE"
  stop_server
  assert_equal "$STOP_STATUS" 0
}

@test "exercise 5: silence counts from the last bytes received, not from the connection" {
  # 2 seconds, not 1: the talker must never be the one silent that long
  start_server $L -i 2
  # a talker connects first and keeps talking ...
  start_bg_input talker "$BATS_TEST_TMPDIR/talk.in" "$LAB/$L/client" -p "$SERVER_PORT"
  talker=$BG_PID talk_out=$BG_OUT
  exec {talk}>"$BATS_TEST_TMPDIR/talk.in"
  wait_for_line "$SERVER_ERR" 'connection from'
  # ... a silent client comes after it ...
  start_bg_input holder "$BATS_TEST_TMPDIR/hold.in" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 1
  exec {hold}>"$BATS_TEST_TMPDIR/hold.in"
  wait_for_line "$BG_OUT" '^holding 1$'
  # ... and the talker sends a line at a time until the silent one is closed:
  # (a server that counts from the connection closes the talker first)
  i=0
  until grep -q 'idle' "$SERVER_ERR"; do
    i=$((i + 1))
    echo "ping $i" >&$talk
    wait_for_line "$talk_out" "^PING $i\$"
  done
  echo "last" >&$talk
  wait_for_line "$talk_out" '^LAST$'
  exec {talk}>&- {hold}>&-
  wait_exit "$talker"
  assert_equal "$EXIT_STATUS" 0
  run grep -c 'idle' "$SERVER_ERR"
  assert_output 1
}

@test "exercise 5: -i takes a whole number of seconds; -i 0 or -i x is a usage error (exit 2)" {
  run "$LAB/$L/server" -i x
  assert_failure 2
  assert_output --partial "Usage:"
  run "$LAB/$L/server" -i 0
  assert_failure 2
  run "$LAB/$L/server" --help
  assert_success
  assert_output --partial "-i SECONDS"
}
