#!/usr/bin/env bats
# Exercise 3 of 02-nonblocking/NOTES.md: a growing nap. With --sleep MS the
# first idle pass naps 1 ms, each further idle pass twice as long, up to MS;
# a useful pass (an accept, recv or send that moved something) starts again
# from 1 ms. strace shows each nap as a (clock_)nanosleep call; the test
# reads their lengths, never a clock.
# Run with: make exercise L=02 N=3

load ../helpers

L=02-nonblocking

# naps - the lengths of the naps traced so far, in ms, one a line
naps() {
  grep -E 'nanosleep\(' "$TRACE" | grep -oE 'tv_nsec=[0-9]+' |
    awk -F= '{ print $2 / 1000000 }'
}

# naps_at_least N - true once N naps are in the trace
naps_at_least() { [ "$(naps | wc -l)" -ge "$1" ]; }

# nap_after_accept - the first nap traced after the first accepted
# connection, in ms (nothing while there is none yet)
nap_after_accept() {
  awk '/^accept4?\(/ && / = [0-9]+$/ { seen = 1; next }
       seen && /nanosleep\(/ && match($0, /tv_nsec=[0-9]+/) {
         print substr($0, RSTART + 8, RLENGTH - 8) / 1000000; exit }' "$TRACE"
}

# accepted_then_napped - true once a nap follows the first accept
accepted_then_napped() { [ -n "$(nap_after_accept)" ]; }

start_traced_server() {
  command -v strace >/dev/null || skip "strace is not installed (apt-get install strace)"
  TRACE="$BATS_TEST_TMPDIR/trace"
  start_server_cmd strace -o "$TRACE" -e trace=accept,accept4,nanosleep,clock_nanosleep \
    "$LAB/$L/server" -p 0 "$@"
}

@test "exercise 3: --sleep 100 idle naps 1, 2, 4, 8, 16, 32, 64, then 100 ms" {
  start_traced_server --sleep 100
  wait_until "$LAB_WAIT" naps_at_least 9
  run naps
  assert_equal "${lines[*]:0:9}" "1 2 4 8 16 32 64 100 100"
}

@test "exercise 3: a useful pass starts the naps again from 1 ms" {
  start_traced_server --sleep 100
  wait_until "$LAB_WAIT" naps_at_least 8          # idle long enough to reach 100 ms
  run client $L <<<"hello"
  assert_output "HELLO"
  wait_for_line "$SERVER_ERR" 'closed'
  wait_until "$LAB_WAIT" accepted_then_napped
  run nap_after_accept
  assert_output "1"
}

@test "exercise 3: without --sleep the server never naps, and still echoes" {
  start_traced_server
  run client $L <<<$'one\ntwo'
  assert_output $'ONE\nTWO'
  wait_for_line "$SERVER_ERR" 'closed'
  run naps
  assert_output ""
}
