#!/usr/bin/env bats
# Exercise 8 of 09-pools/NOTES.md: a deadline on every connection.
# -t SECONDS (1-3600, default 30) sets SO_RCVTIMEO and SO_SNDTIMEO on each
# connection a worker serves; a recv or send that fails with EAGAIN logs a
# line with "timed out" and closes the connection, so a peer that stalls
# (silent, or never reading) gives its worker back to the pool.
# Run with: make exercise L=09 N=8

load ../helpers

L=09-pools
MODES="threads processes"

@test "exercise 8: -t 1 with one worker: a silent client is timed out and the next one served, in both modes" {
  for mode in $MODES; do
    start_server $L --pool "$mode" -w 1 -t 1
    exec {idle}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    wait_for_line "$SERVER_ERR" 'connection from'
    # the only worker holds the silent client: this one waits until the
    # deadline frees the worker
    run client $L <<<"next"
    assert_success
    assert_output "NEXT"
    run grep -c 'timed out' "$SERVER_ERR"
    assert_output 1
    # the silent client was closed: end of file, not a hang
    run timeout 5 cat <&$idle
    assert_success
    assert_output ""
    exec {idle}>&-
    stop_server
    [ "$STOP_STATUS" -eq 0 ]
  done
}

@test "exercise 8: -t 1: a peer that sends and never reads is timed out in send, and the worker serves again" {
  start_server $L --pool processes -w 1 -t 1
  start_bg flood "$TOOLS/peer" flood -p "$SERVER_PORT"
  flooder=$BG_PID
  wait_for_line "$SERVER_ERR" 'connection from'
  run client $L <<<"after the flood"
  assert_output "AFTER THE FLOOD"
  wait_for_line "$SERVER_ERR" 'timed out'
  wait_exit "$flooder"                # the server closed it: reset, "sent N"
  run cat "$BG_OUT"
  assert_output --regexp '^sent [0-9]+$'
}

@test "exercise 8: -t 1 does not cut a client that keeps talking; a bad -t exits 2" {
  start_server $L --pool threads -w 2 -t 1
  run peer echo -n 200000 -c 1000
  assert_output "ok 200000"
  run grep -c 'timed out' "$SERVER_ERR"
  assert_output 0
  for t in 0 x 3601; do
    run "$LAB/$L/server" -t "$t"
    assert_failure 2
    assert_output --partial "Usage:"
  done
}
