#!/usr/bin/env bats
# 03-select: the select() echo-upper server, its --log mode, and the
# select() client.

load helpers
load event-loop

L=03-select
WAIT_CALL=select                           # "stopping after N select calls"
CLOSED_AFTER_RESET='closed .*(reset|send failed)'   # how a reset client is logged

# select_calls - the count the server reports when it stops
select_calls() { sed -n 's/.*stopping after \([0-9]*\) select calls.*/\1/p' "$SERVER_ERR"; }

# --- the contract ---------------------------------------------------------

@test "ready line is exactly 'listening on 127.0.0.1:PORT' with the real port" { check_ready_line; }

@test "--help prints the usage on stdout and exits 0" {
  run "$LAB/$L/server" --help
  assert_success
  assert_output --partial "Usage:"
  assert_output --partial "--log FILE"
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
  run "$LAB/$L/server" --log
  assert_failure 2
  run "$LAB/$L/client" -x </dev/null
  assert_failure 2
  assert_output --partial "Usage:"
  run "$LAB/$L/client" -p 99999 </dev/null
  assert_failure 2
  assert_output --partial "bad port"
}

@test "a port in use exits 1 naming bind and the cause" { check_port_in_use; }

@test "--log with a file that cannot be opened exits 1 naming it" {
  run "$LAB/$L/server" -p 0 --log "$BATS_TEST_TMPDIR/no/such/dir/log.txt"
  assert_failure 1
  assert_output --partial "open $BATS_TEST_TMPDIR/no/such/dir/log.txt: No such file or directory"
}

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

@test "descriptors at or above FD_SETSIZE are refused, logged, and service goes on" {
  need_nofile 4096
  start_limited 4096
  fifo="$BATS_TEST_TMPDIR/hold.in"
  start_bg_input holder "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 1100
  exec {feed}>"$fifo"
  holder=$BG_PID holder_out=$BG_OUT
  wait_for_line "$holder_out" '^holding 1100$'

  # Every held connection was either taken or refused at FD_SETSIZE.
  wait_until "$LAB_WAIT" at_least 1100 "$SERVER_ERR" '(connection from|refused)'
  refused=$(count_matches "$SERVER_ERR" 'refused .*: descriptor [0-9]+ is not below FD_SETSIZE \(1024\)')
  taken=$(count_matches "$SERVER_ERR" 'connection from')
  [ "$refused" -ge 50 ]
  [ $((refused + taken)) -eq 1100 ]
  kill -0 "$SERVER_PID"

  # The holder lets go; once the server has closed them all, a new
  # client gets a descriptor below FD_SETSIZE and is served.
  exec {feed}>&-
  wait_exit "$holder"
  wait_until "$LAB_WAIT" at_least "$taken" "$SERVER_ERR" '^server: closed'
  run client $L <<<"after the crowd"
  assert_success
  assert_output "AFTER THE CROWD"
}

@test "out of descriptors (EMFILE): refused without a spin, service resumes" {
  start_limited 64
  fifo="$BATS_TEST_TMPDIR/hold.in"
  start_bg_input holder "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 100
  exec {feed}>"$fifo"
  holder=$BG_PID
  wait_for_line "$BG_OUT" '^holding 100$'
  wait_until "$LAB_WAIT" at_least 100 "$SERVER_ERR" '(connection from|refused)'
  wait_for_line "$SERVER_ERR" 'refused .*: out of descriptors \(EMFILE\)'
  taken=$(count_matches "$SERVER_ERR" 'connection from')

  # While the table is full a newcomer is told at once (closed, or reset
  # if its line was already there when the server closed), not left hanging.
  run client $L <<<"no room"
  assert_failure 1
  assert_output --regexp "server closed the connection|Connection reset by peer"

  exec {feed}>&-
  wait_exit "$holder"
  wait_until "$LAB_WAIT" at_least "$taken" "$SERVER_ERR" '^server: closed'
  run client $L <<<"room again"
  assert_success
  assert_output "ROOM AGAIN"

  # A busy spin on the readable listener would have made millions of calls.
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
  [ "$(select_calls)" -lt 5000 ]
}

# --- --log FILE: the Python notes 002 application -----------------------------------

@test "--log: client lines and terminal lines go to the file, clients get an ack" {
  log="$BATS_TEST_TMPDIR/select.log"
  fifo="$BATS_TEST_TMPDIR/terminal"
  mkfifo "$fifo"
  exec {tty}<>"$fifo"           # keep the pipe open so the server never sees EOF
  start_bg_input server "$fifo" "$LAB/$L/server" -p 0 --log "$log"
  SERVER_PID=$BG_PID SERVER_ERR=$BG_ERR
  wait_for_line "$BG_OUT" '^listening on 127\.0\.0\.1:[0-9]+$' "$LAB_WAIT" "$SERVER_PID"
  SERVER_PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$BG_OUT")

  run client $L <<<$'first line\n你好\r\nlast without newline'
  assert_success
  assert_output $'received 10 bytes\nreceived 6 bytes\nreceived 20 bytes'

  printf 'typed at the terminal\n' >&$tty
  wait_for_line "$log" '^\[terminal\] typed at the terminal$'
  run cat "$log"
  assert_line --index 0 --regexp '^\[127\.0\.0\.1:[0-9]+\] first line$'
  assert_line --index 1 --regexp '^\[127\.0\.0\.1:[0-9]+\] 你好$'
  assert_line --index 2 --regexp '^\[127\.0\.0\.1:[0-9]+\] last without newline$'

  # End of the terminal: no longer watched, and no spin on the EOF.
  exec {tty}>&-
  wait_for_line "$SERVER_ERR" 'terminal: end of input, no longer watched'
  run client $L <<<"still served"
  assert_output "received 12 bytes"
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
  [ "$(select_calls)" -lt 100 ]
}

@test "--log: a line of exactly 4096 bytes is one entry, a longer one is cut in pieces" {
  log="$BATS_TEST_TMPDIR/select.log"
  start_server $L --log "$log"
  full=$(head -c 4096 /dev/zero | tr '\0' 'y')
  run client $L <<<"$full"
  assert_success
  assert_output "received 4096 bytes"
  run client $L <<<"${full}zz"
  assert_success
  assert_output $'received 4096 bytes\nreceived 2 bytes'
  run cat "$log"
  [ "${#lines[@]}" -eq 3 ]
  assert_line --index 0 --regexp "^\[127\.0\.0\.1:[0-9]+\] $full\$"
  assert_line --index 2 --regexp '^\[127\.0\.0\.1:[0-9]+\] zz$'
}

@test "--log: a client that never reads its acks is paused, memory bounded" {
  log="$BATS_TEST_TMPDIR/select.log"
  start_server $L -v --log "$log"
  # Binary junk holds a newline every 256 bytes or so: a stream of lines
  # whose acknowledgements are never read.
  start_bg flood "$TOOLS/peer" flood -p "$SERVER_PORT"
  wait_for_line "$SERVER_ERR" 'output backlog full, not reading it'
  rss=$(server_rss_kib)
  run client $L <<<"hello"
  assert_output "received 5 bytes"
  [ "$(server_rss_kib)" -le $((rss + 2048)) ]
}

@test "logserver: run directly, it saves lines and acknowledges them like server --log" {
  log="$BATS_TEST_TMPDIR/direct.log"
  start_server_cmd "$LAB/$L/logserver" -p 0 "$log"
  run client $L <<<$'one\ntwo'
  assert_success
  assert_output $'received 3 bytes\nreceived 3 bytes'
  run cat "$log"
  assert_line --index 1 --regexp '^\[127\.0\.0\.1:[0-9]+\] two$'
  run "$LAB/$L/logserver" -p 0
  assert_failure 2
  assert_output --partial "Usage:"
}
