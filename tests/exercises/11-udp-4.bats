#!/usr/bin/env bats
# Exercise 4 of 11-udp/NOTES.md: a client option -c that connect()s its UDP
# socket, so that with no server the ICMP "port unreachable" is reported
# (ECONNREFUSED) at once instead of waiting out every timeout.
# Run with: make exercise L=11 N=4

load ../helpers

L=11-udp

@test "exercise 4: client -c with no server says 'Connection refused' after one try, exit 1" {
  start_server $L
  port=$SERVER_PORT
  stop_server
  run timeout -k 2 "$CLIENT_TIMEOUT" "$LAB/$L/client" -c -p "$port" -t 20000 -r 5 <<<"anyone?"
  assert_failure 1
  assert_output --partial "Connection refused"
  refute_output --partial "sending again"
}

@test "exercise 4: client -c still talks to a running server" {
  start_server $L
  run client $L -c -t 20000 <<<$'one\ntwo'
  assert_success
  assert_output $'ONE\nTWO'
}
