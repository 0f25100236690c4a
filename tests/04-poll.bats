#!/usr/bin/env bats
# 04-poll: the poll() echo-upper server, the poll() client and the
# bitmask demo.

load helpers
load event-loop

L=04-poll
WAIT_CALL=poll                             # "stopping after N poll calls"
CLOSED_AFTER_RESET='closed .*(reset|error|hung up|send failed)'


# poll_calls - the count the server reports when it stops
poll_calls() { sed -n 's/.*stopping after \([0-9]*\) poll calls.*/\1/p' "$SERVER_ERR"; }

# --- the contract ---------------------------------------------------------

@test "ready line is exactly 'listening on 127.0.0.1:PORT' with the real port" { check_ready_line; }

@test "--help prints the usage on stdout and exits 0" {
  run "$LAB/$L/server" --help
  assert_success
  assert_output --partial "Usage:"
  run "$LAB/$L/client" --help </dev/null
  assert_success
  assert_output --partial "Usage:"
}

@test "a bad option or argument exits 2 with a reason and the usage" {
  run "$LAB/$L/server" --bogus
  assert_failure 2
  assert_output --partial "Usage:"
  run "$LAB/$L/server" -p notaport
  assert_failure 2
  assert_output --partial "bad port"
  run "$LAB/$L/client" -x </dev/null
  assert_failure 2
  assert_output --partial "Usage:"
  run "$LAB/$L/client" -p 99999 </dev/null
  assert_failure 2
  assert_output --partial "bad port"
}

@test "a port in use exits 1 naming bind and the cause" { check_port_in_use; }

@test "SIGTERM and SIGINT stop it with exit 0, also with clients connected" { check_stop_signals; }

@test "SIGTERM while output waits for a client that never reads: exit 0, nothing left" { check_stop_with_output_pending; }

@test "client: connection refused is one clear line and exit 1" { check_client_refused; }

# --- echo-upper, byte for byte --------------------------------------------

@test "lab client: lines come back upper-cased, empty lines skipped" { check_lab_client_lines; }

@test "Chinese text and other UTF-8 pass unchanged, ASCII is upper-cased" { check_utf8; }

@test "socat (an independent client) gets the same bytes back" { check_socat; }

@test "1 MiB of binary data comes back whole and in order, then half-close" { check_binary_1mib; }

@test "a client that half-closes before reading a byte still gets all 1 MiB back" { check_half_close_before_reading; }

@test "odd-sized writes of 3 bytes are never merged wrongly or lost" { check_three_byte_writes; }

@test "client: a 1 MiB line streams through whole (no line-length limit)" { check_client_long_line; }

# --- the lesson's point: many clients, one process ------------------------

@test "a second client is served while the first is still connected" { check_second_client_served; }

@test "20 clients at once each get exactly their own bytes back" { check_twenty_clients; }

# --- survival ---------------------------------------------------------------

@test "a client that resets, and one that sends garbage and leaves, cost nothing" { check_reset_and_garbage; }

@test "a client that never reads is paused; others are served; memory stays bounded" { check_never_reads; }

@test "400 clients that send and never read cost one output budget; a newcomer is served at once" { check_total_budget; }


@test "a paused client that resets is closed on POLLERR (unasked), no busy loop" {
  start_server $L -v
  start_bg flood "$TOOLS/peer" flood -p "$SERVER_PORT"
  flood_pid=$BG_PID
  wait_for_line "$SERVER_ERR" 'output backlog full, not reading it'

  # Its events are POLLOUT only now (output full: not read). Killed with
  # unread data, its socket sends a reset: poll() reports POLLOUT with
  # POLLERR|POLLHUP, which nobody asked for, and POLLERR is acted on first.
  kill -KILL -- "-$flood_pid"
  wait_for_line "$SERVER_ERR" 'closed .*, error\)$'
  run client $L <<<"after"
  assert_output "AFTER"

  # Left in the array, the dead entry would have been reported again at
  # once, forever: millions of calls, not a few hundred.
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
  [ "$(poll_calls)" -lt 5000 ]
}

# --- thousands of connections, and running out of descriptors -----------

@test "2,500 connections at once: all accepted, and others still served" {
  need_nofile 4096
  start_limited 4096
  fifo="$BATS_TEST_TMPDIR/hold.in"
  start_bg_input holder "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 2500 -s "x"
  exec {feed}>"$fifo"
  holder=$BG_PID
  wait_for_line "$BG_OUT" '^holding 2500$'
  wait_until "$LAB_WAIT" at_least 2500 "$SERVER_ERR" 'connection from'
  [ "$(count_matches "$SERVER_ERR" 'refused|accept')" -eq 0 ]

  # With 2,500 others connected, a newcomer is served at once.
  run client $L <<<"one more"
  assert_success
  assert_output "ONE MORE"
  run peer echo -n 100000 -c 777
  assert_output "ok 100000"

  exec {feed}>&-
  wait_exit "$holder"
  wait_until "$LAB_WAIT" at_least 2502 "$SERVER_ERR" '^server: closed'
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
}

@test "out of descriptors (EMFILE): accepting pauses without a spin, then resumes" {
  start_limited 64
  fifo="$BATS_TEST_TMPDIR/hold.in"
  start_bg_input holder "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 80
  exec {feed}>"$fifo"
  holder=$BG_PID
  wait_for_line "$BG_OUT" '^holding 80$'
  wait_for_line "$SERVER_ERR" 'accept: Too many open files'
  wait_for_line "$SERVER_ERR" 'not accepting until a descriptor is free'
  taken=$(count_matches "$SERVER_ERR" 'connection from')
  [ "$taken" -lt 80 ]

  # A newcomer waits in the listen queue while the table is full...
  fifo2="$BATS_TEST_TMPDIR/late.in"
  start_bg_input late "$fifo2" "$LAB/$L/client" -p "$SERVER_PORT"
  exec {late_feed}>"$fifo2"
  late=$BG_PID late_out=$BG_OUT
  printf 'patience\n' >&$late_feed

  # ...and is served once the holder lets go and descriptors free up.
  exec {feed}>&-
  wait_exit "$holder"
  wait_for_line "$late_out" '^PATIENCE$'
  exec {late_feed}>&-
  wait_exit "$late"
  [ "$EXIT_STATUS" -eq 0 ]
  wait_for_line "$SERVER_ERR" 'a descriptor is free again: accepting'

  # Paused, the server woke about once a second; a spin on the readable
  # listener would have made millions of calls.
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
  [ "$(poll_calls)" -lt 5000 ]
}

# --- the bitmask demo --------------------------------------------------------

@test "bitmask: the Python notes' 11 and 14 through & | ^ << >>" {
  run "$LAB/$L/bitmask"
  assert_success
  assert_line --regexp '^ *11 & 14 *= *10 .*1010'
  assert_line --regexp '^ *11 \| 14 *= *15 .*1111'
  assert_line --regexp '^ *11 \^ 14 *= *5 .*0101'
  assert_line --regexp '^ *11 << 2 *= *44'
  assert_line --regexp '^ *14 >> 2 *= *3'
}

@test "bitmask: real revents decoded, POLLHUP reported without being asked" {
  run "$LAB/$L/bitmask"
  assert_success
  assert_output --partial "POLLIN   = 0x0001"
  assert_output --partial "POLLOUT  = 0x0004"
  assert_line --regexp 'peer closed.*events=0.*revents=.*POLLHUP'
  run "$LAB/$L/bitmask" 6 3
  assert_success
  assert_line --regexp '^ *6 & 3 *= *2 '
  run "$LAB/$L/bitmask" x
  assert_failure 2
  run "$LAB/$L/bitmask" --help
  assert_success
  assert_output --partial "Usage:"
}

@test "bitmask: on TCP a FIN is POLLIN only if asked, nothing unasked; a reset is POLLERR|POLLHUP" {
  run "$LAB/$L/bitmask"
  assert_success
  assert_line --regexp 'peer closed \(FIN\), asking POLLIN: +events=POLLIN +revents=0x0001 POLLIN$'
  assert_line --regexp 'peer closed \(FIN\), asking nothing: events=0 +revents=0x0000 0$'
  assert_line --regexp 'peer reset \(RST\), asking nothing: +events=0 +revents=0x0018 POLLERR\|POLLHUP$'
}
