#!/usr/bin/env bats
# 01-blocking: the iterative echo-upper server and the interactive client.

load helpers

L=01-blocking

# queued_at_least N - at least N bytes wait unread in the server's kernel
queued_at_least() { [ "$(recv_queue_bytes "$SERVER_PORT")" -ge "$1" ]; }

# send_queue_bytes PORT - bytes the server has sent and its peer has not yet
# acknowledged (sum of ss Send-Q); on loopback only a closed window keeps
# them there, that is, a peer that does not read
send_queue_bytes() {
  ss -Htn state established "( sport = :$1 )" 2>/dev/null | awk '{ s += $2 } END { print s + 0 }'
}

# stuck_in_send - the server's send buffer is full (its peer reads nothing)
# and bytes wait unread in its receive buffer: it sleeps in send()
stuck_in_send() {
  [ "$(send_queue_bytes "$SERVER_PORT")" -gt 0 ] && queued_at_least 1
}

# --- the contract ---------------------------------------------------------

@test "ready line is exactly 'listening on 127.0.0.1:PORT' with the real port" {
  start_server $L
  run cat "$SERVER_OUT"
  assert_output --regexp '^listening on 127\.0\.0\.1:[0-9]+$'
  [ "$SERVER_PORT" -gt 0 ]
}

@test "--help prints the usage on stdout and exits 0" {
  run "$LAB/$L/server" --help
  assert_success
  assert_output --partial "Usage:"
  run "$LAB/$L/client" --help
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

@test "a port in use exits 1 naming bind and the cause" {
  start_server $L
  run "$LAB/$L/server" -p "$SERVER_PORT"
  assert_failure 1
  assert_output "server: bind 127.0.0.1:$SERVER_PORT: Address already in use (is another server on port $SERVER_PORT? use -p PORT, or -p 0 for any free port)"
}

@test "SIGTERM and SIGINT stop it with exit 0, also while serving a client" {
  start_server $L
  stop_server
  [ "$STOP_STATUS" -eq 0 ]

  start_server $L
  exec {conn}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
  wait_for_line "$SERVER_ERR" 'connection from'
  kill -INT "$SERVER_PID"
  wait_exit "$SERVER_PID"
  exec {conn}>&-
  [ "$EXIT_STATUS" -eq 0 ]
}

@test "SIGTERM stops it while it sleeps in send() to a client that never reads" {
  start_server $L
  start_bg flood "$TOOLS/peer" flood -p "$SERVER_PORT"
  flood=$BG_PID flood_out=$BG_OUT
  wait_for_line "$SERVER_ERR" 'connection from'
  wait_until "$LAB_WAIT" stuck_in_send
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
  # The flooder learns that the server closed, and ends.
  wait_exit "$flood"
  run cat "$flood_out"
  assert_output --regexp '^sent [0-9]+$'
}

@test "client: a server that goes away is one clear line and exit 1" {
  start_server $L
  fifo="$BATS_TEST_TMPDIR/c.in"
  start_bg_input client "$fifo" "$LAB/$L/client" -p "$SERVER_PORT"
  c=$BG_PID c_out=$BG_OUT c_err=$BG_ERR
  exec {feed}>"$fifo"
  printf 'one\n' >&$feed
  wait_for_line "$c_out" '^ONE$'
  stop_server
  printf 'two\n' >&$feed
  wait_exit "$c"
  exec {feed}>&-
  [ "$EXIT_STATUS" -eq 1 ]
  run cat "$c_err"
  assert_output --regexp '^client: (server closed the connection|recv: Connection reset by peer|send: (Broken pipe|Connection reset by peer))$'
}

@test "client: connection refused is one clear line and exit 1" {
  start_server $L
  port=$SERVER_PORT
  stop_server
  run timeout 10 "$LAB/$L/client" -p "$port" <<<"hello"
  assert_failure 1
  assert_output --partial "Connection refused"
}

# --- echo-upper, byte for byte --------------------------------------------

@test "lab client: lines come back upper-cased, empty lines skipped" {
  start_server $L
  run client $L <<<$'hello\n\nworld 42\nMiXeD case!'
  assert_success
  assert_output $'HELLO\nWORLD 42\nMIXED CASE!'
}

@test "Chinese text and other UTF-8 pass unchanged, ASCII is upper-cased" {
  start_server $L
  run client $L <<<"你好, world: 网络编程 ü"
  assert_success
  assert_output "你好, WORLD: 网络编程 ü"
}

@test "socat (an independent client) gets the same bytes back" {
  start_server $L
  run socat_send $'abc\ndef\n'
  assert_success
  assert_output $'ABC\nDEF'
}

@test "1 MiB of binary data comes back whole and in order, then half-close" {
  start_server $L
  run peer echo -n 1048576 -c 1000
  assert_success
  assert_output "ok 1048576"
}

@test "a 100 MiB message comes back whole and in order" {
  start_server $L
  run peer echo -n 104857600
  assert_success
  assert_output "ok 104857600"
  run grep -c 'closed .* (104857600 bytes)' "$SERVER_ERR"
  assert_output 1
}

@test "odd-sized writes of 3 bytes are never merged wrongly or lost" {
  start_server $L
  run peer echo -n 30000 -c 3
  assert_success
  assert_output "ok 30000"
}

# --- survival ---------------------------------------------------------------

@test "a client that resets, and one that sends garbage and leaves, cost nothing" {
  start_server $L
  run peer reset -s "half a message"
  assert_success
  run peer garbage -n 200000
  assert_success
  run client $L <<<"still here"
  assert_success
  assert_output "STILL HERE"
  kill -0 "$SERVER_PID"
}

# --- the lesson's point: one client at a time -----------------------------

@test "a second client waits while the first is connected, and is served after" {
  start_server $L

  # Client 1 connects and is served.
  exec {c1}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
  printf 'one\n' >&$c1
  read -r -t "$LAB_WAIT" reply <&$c1
  [ "$reply" = "ONE" ]

  # Client 2 connects and sends; its bytes reach the server's kernel...
  fifo="$BATS_TEST_TMPDIR/c2.in"
  start_bg_input client2 "$fifo" "$LAB/$L/client" -p "$SERVER_PORT"
  c2=$BG_PID c2_out=$BG_OUT
  exec {feed}>"$fifo"
  printf 'two\n' >&$feed
  wait_until "$LAB_WAIT" queued_at_least 4

  # ...but the server, asleep in recv() on client 1, has not accepted it.
  [ "$(grep -c 'connection from' "$SERVER_ERR")" -eq 1 ]
  [ ! -s "$c2_out" ]

  # Client 1 leaves: now client 2 is accepted and answered.
  exec {c1}>&-
  wait_for_line "$c2_out" '^TWO$'
  exec {feed}>&-
  wait_exit "$c2"
  [ "$EXIT_STATUS" -eq 0 ]
  [ "$(grep -c 'connection from' "$SERVER_ERR")" -eq 2 ]
}

@test "running out of descriptors costs a pause, not a busy loop or a crash" {
  # With 4 descriptors (0-2 and the listening socket) accept() fails with
  # EMFILE: the server says so, waits, and still stops cleanly on SIGTERM.
  started=$(date +%s)
  start_server_cmd bash -c "ulimit -n 4; exec '$LAB/$L/server' -p 0"
  exec {c1}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
  wait_for_line "$SERVER_ERR" 'accept: Too many open files'
  exec {c1}>&-
  # At most one line per second since the start (a spinning loop would
  # log thousands); counted against the clock, so a slow machine passes.
  lines=$(grep -c 'Too many open files' "$SERVER_ERR")
  [ "$lines" -le $(( $(date +%s) - started + 2 )) ]
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
}

@test "clients are served one after another, in order of arrival" {
  start_server $L
  for i in 1 2 3 4 5; do
    run client $L <<<"client $i"
    assert_output "CLIENT $i"
  done
  run grep -c 'closed' "$SERVER_ERR"
  assert_output 5
}
