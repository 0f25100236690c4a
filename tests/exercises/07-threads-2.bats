#!/usr/bin/env bats
# Exercise 2 of 07-threads/NOTES.md: an option -s KIB that sets each client
# thread's stack with pthread_attr_setstacksize(), so that a thread costs
# 64 KiB of address space instead of the 8 MiB that `ulimit -s` gives.
# Run with: make exercise L=07 N=2

load ../helpers

L=07-threads

# vm_size_kib PID - the address space of PID (VmSize), in KiB
vm_size_kib() { awk '/^VmSize:/ { print $2 }' "/proc/$1/status"; }

# at_least_tasks PID N - true once PID runs N threads or more (its main
# thread included; a ThreadSanitizer build runs one more of its own)
at_least_tasks() { [ "$(find "/proc/$1/task" -mindepth 1 -maxdepth 1 | wc -l)" -ge "$2" ]; }

# growth_with_100_idle KIB - start the server with -s KIB, hold 100 idle
# clients, print how much its VmSize grew (KiB), let the clients go
growth_with_100_idle() {
  local before after fifo="$BATS_TEST_TMPDIR/hold-$1" feed
  start_server $L -s "$1" || return 1
  before=$(vm_size_kib "$SERVER_PID")
  start_bg_input hold-"$1" "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 100
  exec {feed}>"$fifo"
  wait_for_line "$BG_OUT" '^holding 100$' || return 1
  wait_until "$LAB_WAIT" at_least_tasks "$SERVER_PID" 101 || return 1
  after=$(vm_size_kib "$SERVER_PID")
  exec {feed}>&-
  stop_server || return 1
  echo $((after - before))
}

@test "exercise 2: 100 threads with -s 64 take a small part of the address space of -s 8192" {
  small=$(growth_with_100_idle 64)
  large=$(growth_with_100_idle 8192)
  echo "VmSize grew by $small KiB with -s 64, $large KiB with -s 8192"
  [ "$large" -ge $((100 * 8192)) ]          # 100 stacks of 8 MiB at least
  [ "$((small * 4))" -le "$large" ]
}

@test "exercise 2: with -s 64 the echo still works (binary, 100,000 bytes)" {
  start_server $L -s 64
  run peer echo -n 100000
  assert_output "ok 100000"
  run client $L <<<"small stack"
  assert_output "SMALL STACK"
}

@test "exercise 2: -s below 64 KiB exits 2 with a reason" {
  run "$LAB/$L/server" -p 0 -s 16
  assert_failure 2
  assert_output --partial "bad -s"
}
