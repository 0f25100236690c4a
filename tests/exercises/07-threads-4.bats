#!/usr/bin/env bats
# Exercise 4 of 07-threads/NOTES.md: a counter of the bytes echoed to all
# clients, shared by every client's thread and so guarded (the mutex, or
# an atomic), printed when the server stops: "echoed N bytes in all".
# Run with: make exercise L=07 N=4

load ../helpers

L=07-threads

# closed_lines N - true once the server has logged N closed connections
closed_lines() { [ "$(grep -c ' closed ' "$SERVER_ERR")" -eq "$1" ]; }

@test "exercise 4: no client, then SIGTERM: 'echoed 0 bytes in all', exit 0" {
  start_server $L
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
  run grep -cE '^server: echoed 0 bytes in all$' "$SERVER_ERR"
  assert_output 1
}

@test "exercise 4: 8 clients at once and one after them: the sum of every byte echoed" {
  start_server $L
  # Eight threads echo at the same time, each in 1,000-byte pieces, so
  # the counter is updated by several threads at once thousands of times.
  for i in 1 2 3 4 5 6 7 8; do
    start_bg peer-$i "$TOOLS/peer" echo -p "$SERVER_PORT" -n 200000 -c 1000
    pids+=("$BG_PID")
  done
  for i in 1 2 3 4 5 6 7 8; do
    wait_exit "${pids[$((i - 1))]}"
    [ "$EXIT_STATUS" -eq 0 ]
    run cat "$BATS_TEST_TMPDIR/peer-$i.out"
    assert_output "ok 200000"
  done
  run client $L <<<"hello"                  # 6 bytes with the newline
  assert_output "HELLO"
  wait_until "$LAB_WAIT" closed_lines 9
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
  run grep -E 'echoed [0-9]+ bytes in all' "$SERVER_ERR"
  assert_output "server: echoed 1600006 bytes in all"
}
