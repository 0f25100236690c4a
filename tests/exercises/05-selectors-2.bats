#!/usr/bin/env bats
# Exercise 2 of 05-selectors/NOTES.md: a ppoll(2) backend for selector.h,
# chosen with --backend ppoll: five functions (four of them poll's) and
# one entry in the table of backends, and the callbacks do not change.
# Run with: make exercise L=05 N=2

load ../helpers

L=05-selectors

@test "exercise 2: --backend ppoll says so, keeps the echo contract, stops with 0" {
  start_server $L --backend ppoll
  wait_for_line "$SERVER_ERR" '^server: backend ppoll, level-triggered$'
  run client $L <<<$'hello\n\nworld 42\n你好, MiXeD ü'
  assert_success
  assert_output $'HELLO\nWORLD 42\n你好, MIXED ü'
  run peer echo -n 1048576 -c 1000
  assert_success
  assert_output "ok 1048576"
  run peer reset -s "half a message"
  assert_success
  run client $L <<<"still here"
  assert_output "STILL HERE"
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
}

@test "exercise 2: --backend ppoll waits in ppoll(), not in poll, select or epoll" {
  command -v strace >/dev/null || skip "strace is not installed (apt-get install strace)"
  strace -o /dev/null true 2>/dev/null || skip "strace cannot trace here"
  trace="$BATS_TEST_TMPDIR/trace"
  start_server_cmd strace -qq -o "$trace" -e trace=select,pselect6,poll,ppoll,epoll_wait,epoll_pwait \
    "$LAB/$L/server" -p 0 --backend ppoll
  run client $L <<<"traced"
  assert_output "TRACED"
  wait_for_line "$SERVER_ERR" '^server: closed'
  stop_server
  grep -qE '^ppoll\(' "$trace"
  run grep -E '^(poll|p?select6?|epoll_p?wait)\(' "$trace"
  assert_failure
}

@test "exercise 2: --backend ppoll --edge is refused (edge needs epoll), exit 2" {
  run "$LAB/$L/server" -p 0 --backend ppoll --edge
  assert_failure 2
  assert_output --partial "--edge needs the epoll backend"
}
