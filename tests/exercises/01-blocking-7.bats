#!/usr/bin/env bats
# Exercise 7 of 01-blocking/NOTES.md: TCP_NODELAY on every accepted
# connection, so that a request bigger than the buffer is not held back by
# Nagle's algorithm and the peer's delayed acknowledgement.
# Run with: make exercise L=01 N=7

load ../helpers

L=01-blocking

@test "exercise 7: the server sets TCP_NODELAY on an accepted connection" {
  command -v strace >/dev/null || skip "strace is not installed (apt-get install strace)"
  trace="$BATS_TEST_TMPDIR/trace"
  start_server_cmd strace -f -e trace=setsockopt -o "$trace" "$LAB/$L/server" -p 0
  run client $L <<<"hello"
  assert_output "HELLO"
  wait_for_line "$SERVER_ERR" 'closed'
  run grep -cE '(IPPROTO_TCP|SOL_TCP), TCP_NODELAY, \[1\]' "$trace"
  assert_output 1
}

@test "exercise 7: a 5,000-byte request still comes back whole" {
  start_server $L
  run peer echo -n 5000 -c 5000
  assert_output "ok 5000"
}
