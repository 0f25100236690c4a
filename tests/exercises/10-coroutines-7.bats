#!/usr/bin/env bats
# Exercise 7 of 10-coroutines/NOTES.md: green_recv_timeout() in green.h (a
# coroutine parked on its socket and in the sleep list at once), used by a
# server option -i MS that closes a client silent for MS milliseconds and
# logs "idle PEER".
# Run with: make exercise L=10 N=7

load ../helpers

# lines_at_least N FILE REGEX - true once N lines of FILE match REGEX
lines_at_least() {
  [ "$(grep -Ec -- "$3" "$2")" -ge "$1" ]
}

L=10-coroutines

@test "exercise 7: -i 300 closes a client that says nothing, logging 'idle 127.0.0.1:PORT'" {
  start_server $L -i 300
  exec {conn}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
  wait_for_line "$SERVER_ERR" 'idle 127\.0\.0\.1:[0-9]+'
  # The server closed it: reading gives end of file, not a hang.
  run timeout -k 2 "$CLIENT_TIMEOUT" cat <&"$conn"
  assert_success
  assert_output ""
  exec {conn}<&-
}

@test "exercise 7: a client that talks leaves the sleep list; every silent one still times out" {
  start_server $L -i 1500
  # Three silent clients, parked on their sockets and in the sleep list
  # (the first one's deadline first), then the first one talks: woken by
  # its socket, it must leave the sleep list without losing the others.
  exec {first}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
  wait_for_line "$SERVER_ERR" 'connection from'
  exec {second}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
  exec {third}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
  wait_until "$LAB_WAIT" lines_at_least 3 "$SERVER_ERR" 'connection from'
  echo "hello" >&"$first"
  read -r -t "$CLIENT_TIMEOUT" line <&"$first"
  [ "$line" = "HELLO" ]
  # A client that talks and leaves before its deadline: its coroutine ends.
  run client $L <<<"passing by"
  assert_output "PASSING BY"
  wait_until "$LAB_WAIT" lines_at_least 3 "$SERVER_ERR" 'idle 127\.0\.0\.1:[0-9]+'
  for conn in "$first" "$second" "$third"; do
    run timeout -k 2 "$CLIENT_TIMEOUT" cat <&"$conn"
    assert_success
    assert_output ""
    exec {conn}<&-
  done
  run client $L <<<"still here"
  assert_output "STILL HERE"
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
}

@test "exercise 7: -i with a bad value exits 2" {
  run "$LAB/$L/server" -p 0 -i soon
  assert_failure 2
}
