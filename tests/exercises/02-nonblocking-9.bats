#!/usr/bin/env bats
# Exercise 9 of 02-nonblocking/NOTES.md: an idle timeout. With --idle SECS
# the polling loop closes a client that has sent nothing for SECS seconds
# and is owed nothing, logging "closed idle PEER (nothing for SECS s)". The
# loop never blocks, so it can read the clock on every pass. The tests wait
# for the server to close the connection (end of file), never for a time.
# Run with: make exercise L=02 N=9

load ../helpers

L=02-nonblocking

# read_until_closed - connect to the server, send what is on standard input
# (if anything), then print what comes back until the server closes
read_until_closed() {
  timeout -k 2 "$CLIENT_TIMEOUT" bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 9
    cat >&3
    cat <&3' _ "$SERVER_PORT"
}

@test "exercise 9: --idle 1 closes a client that sends nothing, and says so" {
  start_server $L --idle 1
  run read_until_closed </dev/null
  assert_success
  assert_output ""
  wait_for_line "$SERVER_ERR" '^server: closed idle 127\.0\.0\.1:[0-9]+ \(nothing for 1 s\)$'
}

@test "exercise 9: an idle client first gets its echo back, then is closed" {
  start_server $L --idle 1
  run read_until_closed <<<"still here"
  assert_success
  assert_output "STILL HERE"
  wait_for_line "$SERVER_ERR" 'closed idle 127\.0\.0\.1:[0-9]+'
}

@test "exercise 9: with --idle, the echo and the half-close work as before" {
  start_server $L --idle 60
  run client $L <<<$'one\ntwo'
  assert_success
  assert_output $'ONE\nTWO'
  run peer echo -n 100000
  assert_output "ok 100000"
  wait_for_line "$SERVER_ERR" 'closed 127\.0\.0\.1:[0-9]+ \(100000 bytes\)'
  run grep -c 'closed idle' "$SERVER_ERR"
  assert_output 0
}

@test "exercise 9: --idle takes whole seconds from 1 to 3600, else exit 2" {
  for bad in 0 3601 soon; do
    run "$LAB/$L/server" -p 0 --idle "$bad"
    assert_failure 2
    assert_output --partial "bad --idle"
  done
  run "$LAB/$L/server" --help
  assert_output --partial "--idle SECS"
}
