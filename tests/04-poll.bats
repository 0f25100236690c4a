#!/usr/bin/env bats
# 04-poll: the poll() echo-upper server, the poll() client and the
# bitmask demo.

load helpers

L=04-poll

# count_matches FILE REGEX - how many lines of FILE match REGEX
count_matches() { grep -Ec -- "$2" "$1" 2>/dev/null || true; }

# at_least N FILE REGEX - true once at least N lines of FILE match REGEX
at_least() { [ "$(count_matches "$2" "$3")" -ge "$1" ]; }

# queued_at_least BYTES - true once the server's side of its connections
# holds at least BYTES unread in the kernel (ss Recv-Q)
queued_at_least() { [ "$(recv_queue_bytes "$SERVER_PORT")" -ge "$1" ]; }

# need_nofile N - skip unless this shell may raise its descriptor limit to N
need_nofile() {
  local hard
  hard=$(ulimit -Hn)
  [ "$hard" = unlimited ] || [ "$hard" -ge "$1" ] || skip "ulimit -Hn is $hard, below $1"
}

# start_limited NOFILE [ARGS...] - the server under `ulimit -n NOFILE`
start_limited() {
  local nofile=$1; shift
  start_server_cmd bash -c 'ulimit -n "$0" && exec "$@"' "$nofile" "$LAB/$L/server" -p 0 "$@"
}

# poll_calls - the count the server reports when it stops
poll_calls() { sed -n 's/.*stopping after \([0-9]*\) poll calls.*/\1/p' "$SERVER_ERR"; }

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

@test "a port in use exits 1 naming bind and the cause" {
  start_server $L
  run "$LAB/$L/server" -p "$SERVER_PORT"
  assert_failure 1
  assert_output "server: bind 127.0.0.1:$SERVER_PORT: Address already in use"
}

@test "SIGTERM and SIGINT stop it with exit 0, also with clients connected" {
  start_server $L
  stop_server
  [ "$STOP_STATUS" -eq 0 ]

  start_server $L
  exec {c1}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
  exec {c2}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
  printf 'half a line' >&$c2
  wait_until "$LAB_WAIT" at_least 2 "$SERVER_ERR" 'connection from'
  kill -INT "$SERVER_PID"
  wait_exit "$SERVER_PID"
  exec {c1}>&- {c2}>&-
  [ "$EXIT_STATUS" -eq 0 ]
  [ -z "$(group_processes "$SERVER_PID")" ]
}

@test "SIGTERM while output waits for a client that never reads: exit 0, nothing left" {
  start_server $L -v
  start_bg flood "$TOOLS/peer" flood -p "$SERVER_PORT"
  wait_for_line "$SERVER_ERR" 'output backlog full, not reading it'
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
  assert_equal "$(tail -n 1 "$SERVER_ERR" | sed 's/ [0-9]* / N /')" "server: stopping after N poll calls"
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
  run peer echo -n 1048576 -c 65536
  assert_success
  assert_output "ok 1048576"
}

@test "a client that half-closes before reading a byte still gets all 1 MiB back" {
  start_server $L
  fifo="$BATS_TEST_TMPDIR/gate"
  start_bg_input lateread "$fifo" "$TOOLS/03-lateread" -p "$SERVER_PORT" -n 1048576
  exec {gate}>"$fifo"
  reader=$BG_PID reader_out=$BG_OUT
  # 1 MiB sent and the write side shut before a byte is read (the
  # reader's receive buffer is tiny): every reply still waits, in the
  # server's buffer or in its kernel send buffer, which may have taken
  # them all and let the server close already.
  wait_for_line "$reader_out" '^sent 1048576$' "$LAB_WAIT" "$reader"
  # Reading only now, the client still gets every byte: the end of file
  # did not make the server drop, or reset, what it owed.
  exec {gate}>&-
  wait_exit "$reader"
  [ "$EXIT_STATUS" -eq 0 ]
  assert_equal "$(cat "$reader_out")" $'sent 1048576\nok 1048576'
  wait_for_line "$SERVER_ERR" 'closed .*\(1048576 bytes\)$'
}

@test "odd-sized writes of 3 bytes are never merged wrongly or lost" {
  start_server $L
  run peer echo -n 30000 -c 3
  assert_success
  assert_output "ok 30000"
}

@test "client: a 1 MiB line streams through whole (no line-length limit)" {
  start_server $L
  line=$(head -c 1048576 /dev/zero | tr '\0' 'x')
  printf '%s\nshort\n' "$line" >"$BATS_TEST_TMPDIR/in"
  client $L <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out"
  [ "$(head -n 1 "$BATS_TEST_TMPDIR/out" | tr -d X | wc -c)" -eq 1 ]
  [ "$(head -n 1 "$BATS_TEST_TMPDIR/out" | wc -c)" -eq 1048577 ]
  [ "$(tail -n 1 "$BATS_TEST_TMPDIR/out")" = "SHORT" ]
}

# --- the lesson's point: many clients, one process ------------------------

@test "a second client is served while the first is still connected" {
  start_server $L

  exec {c1}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
  printf 'one\n' >&$c1
  read -r -t "$LAB_WAIT" reply <&$c1
  [ "$reply" = "ONE" ]

  # Client 1 is connected and idle; client 2 comes, is served, leaves.
  run client $L <<<"two"
  assert_success
  assert_output "TWO"

  # Client 1 was never dropped.
  printf 'three\n' >&$c1
  read -r -t "$LAB_WAIT" reply <&$c1
  [ "$reply" = "THREE" ]
  exec {c1}>&-
  wait_for_line "$SERVER_ERR" 'closed .*\(10 bytes\)'
  [ "$(count_matches "$SERVER_ERR" 'connection from')" -eq 2 ]
}

@test "20 clients at once each get exactly their own bytes back" {
  start_server $L
  pids=()
  for i in $(seq 20); do
    peer echo -n $((50000 + i)) -c 1500 >"$BATS_TEST_TMPDIR/p$i" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  for i in $(seq 20); do
    [ "$(cat "$BATS_TEST_TMPDIR/p$i")" = "ok $((50000 + i))" ]
  done
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

@test "a client that never reads is paused; others are served; memory stays bounded" {
  start_server $L -v
  start_bg flood "$TOOLS/peer" flood -p "$SERVER_PORT"
  flood_pid=$BG_PID

  # The server stops reading the flooder once its output backlog is full...
  wait_for_line "$SERVER_ERR" 'output backlog full, not reading it'
  # ...so the flood piles up in the kernel, not in the server. (How much
  # depends on the receive window left open at the last read: 14,848 bytes
  # in one run, so any amount will do.)
  wait_until "$LAB_WAIT" queued_at_least 1
  rss=$(server_rss_kib)

  run client $L <<<"served while the flood waits"
  assert_success
  assert_output "SERVED WHILE THE FLOOD WAITS"
  run peer echo -n 1048576 -c 4096
  assert_output "ok 1048576"

  # Still flooding, still bounded: no growth beyond a few buffers.
  [ "$(server_rss_kib)" -le $((rss + 2048)) ]
  kill -0 "$flood_pid"

  kill -KILL -- "-$flood_pid"
  wait_for_line "$SERVER_ERR" 'closed .*(reset|error|hung up|send failed)'
  run client $L <<<"after"
  assert_output "AFTER"
}


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

@test "bitmask: the seed's 11 and 14 through & | ^ << >>" {
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
