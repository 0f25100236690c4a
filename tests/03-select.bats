#!/usr/bin/env bats
# 03-select: the select() echo-upper server, its --log mode, and the
# select() client.

load helpers

L=03-select

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

# select_calls - the count the server reports when it stops
select_calls() { sed -n 's/.*stopping after \([0-9]*\) select calls.*/\1/p' "$SERVER_ERR"; }

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

@test "a port in use exits 1 naming bind and the cause" {
  start_server $L
  run "$LAB/$L/server" -p "$SERVER_PORT"
  assert_failure 1
  assert_output "server: bind 127.0.0.1:$SERVER_PORT: Address already in use"
}

@test "--log with a file that cannot be opened exits 1 naming it" {
  run "$LAB/$L/server" -p 0 --log "$BATS_TEST_TMPDIR/no/such/dir/log.txt"
  assert_failure 1
  assert_output --partial "open $BATS_TEST_TMPDIR/no/such/dir/log.txt: No such file or directory"
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
  assert_equal "$(tail -n 1 "$SERVER_ERR" | sed 's/ [0-9]* / N /')" "server: stopping after N select calls"
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
  wait_for_line "$SERVER_ERR" 'closed .*(reset|send failed)'
  run client $L <<<"after"
  assert_output "AFTER"
}

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

# --- --log FILE: the seed 002 application -----------------------------------

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
