# event-loop.bash - tests shared by the two event-loop lessons whose
# servers keep the same contract and log lines: 03-select and 04-poll.
#
# Each lesson's .bats file loads this after helpers.bash, sets L (the
# lesson), WAIT_CALL (select or poll, as in "stopping after N select
# calls") and CLOSED_AFTER_RESET (the log line a reset client leaves), and
# calls these functions from its @test blocks, so both lessons run exactly
# the same checks.

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


# check_ready_line - ready line is exactly 'listening on 127.0.0.1:PORT' with the real port
check_ready_line() {
  start_server $L
  run cat "$SERVER_OUT"
  assert_output --regexp '^listening on 127\.0\.0\.1:[0-9]+$'
  [ "$SERVER_PORT" -gt 0 ]
}

# check_port_in_use - a port in use exits 1 naming bind and the cause
check_port_in_use() {
  start_server $L
  run "$LAB/$L/server" -p "$SERVER_PORT"
  assert_failure 1
  assert_output "server: bind 127.0.0.1:$SERVER_PORT: Address already in use (is another server on port $SERVER_PORT? use -p PORT, or -p 0 for any free port)"
}

# check_stop_signals - SIGTERM and SIGINT stop it with exit 0, also with clients connected
check_stop_signals() {
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

# check_stop_with_output_pending - SIGTERM while output waits for a client that never reads: exit 0, nothing left
check_stop_with_output_pending() {
  start_server $L -v
  start_bg flood "$TOOLS/peer" flood -p "$SERVER_PORT"
  wait_for_line "$SERVER_ERR" 'output backlog full, not reading it'
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
  assert_equal "$(tail -n 1 "$SERVER_ERR" | sed 's/ [0-9]* / N /')" "server: stopping after N $WAIT_CALL calls"
}

# check_client_refused - client: connection refused is one clear line and exit 1
check_client_refused() {
  start_server $L
  port=$SERVER_PORT
  stop_server
  run timeout 10 "$LAB/$L/client" -p "$port" <<<"hello"
  assert_failure 1
  assert_output --partial "Connection refused"
}

# check_lab_client_lines - lab client: lines come back upper-cased, empty lines skipped
check_lab_client_lines() {
  start_server $L
  run client $L <<<$'hello\n\nworld 42\nMiXeD case!'
  assert_success
  assert_output $'HELLO\nWORLD 42\nMIXED CASE!'
}

# check_utf8 - Chinese text and other UTF-8 pass unchanged, ASCII is upper-cased
check_utf8() {
  start_server $L
  run client $L <<<"你好, world: 网络编程 ü"
  assert_success
  assert_output "你好, WORLD: 网络编程 ü"
}

# check_socat - socat (an independent client) gets the same bytes back
check_socat() {
  start_server $L
  run socat_send $'abc\ndef\n'
  assert_success
  assert_output $'ABC\nDEF'
}

# check_binary_1mib - 1 MiB of binary data comes back whole and in order, then half-close
check_binary_1mib() {
  start_server $L
  run peer echo -n 1048576 -c 1000
  assert_success
  assert_output "ok 1048576"
  run peer echo -n 1048576 -c 65536
  assert_success
  assert_output "ok 1048576"
}

# check_half_close_before_reading - a client that half-closes before reading a byte still gets all 1 MiB back
check_half_close_before_reading() {
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

# check_three_byte_writes - odd-sized writes of 3 bytes are never merged wrongly or lost
check_three_byte_writes() {
  start_server $L
  run peer echo -n 30000 -c 3
  assert_success
  assert_output "ok 30000"
}

# check_client_long_line - client: a 1 MiB line streams through whole (no line-length limit)
check_client_long_line() {
  start_server $L
  line=$(head -c 1048576 /dev/zero | tr '\0' 'x')
  printf '%s\nshort\n' "$line" >"$BATS_TEST_TMPDIR/in"
  client $L <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out"
  [ "$(head -n 1 "$BATS_TEST_TMPDIR/out" | tr -d X | wc -c)" -eq 1 ]
  [ "$(head -n 1 "$BATS_TEST_TMPDIR/out" | wc -c)" -eq 1048577 ]
  [ "$(tail -n 1 "$BATS_TEST_TMPDIR/out")" = "SHORT" ]
}

# check_second_client_served - a second client is served while the first is still connected
check_second_client_served() {
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

# check_twenty_clients - 20 clients at once each get exactly their own bytes back
check_twenty_clients() {
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

# check_reset_and_garbage - a client that resets, and one that sends garbage and leaves, cost nothing
check_reset_and_garbage() {
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

# check_never_reads - a client that never reads is paused; others are served; memory stays bounded
check_never_reads() {
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
  wait_for_line "$SERVER_ERR" "$CLOSED_AFTER_RESET"
  run client $L <<<"after"
  assert_output "AFTER"
}

# check_total_budget - 400 clients that send and never read cost one
# output budget, not 400 per-client caps; a new client is served at once
check_total_budget() {
  start_server $L -v
  rss=$(server_rss_kib)
  fifo="$BATS_TEST_TMPDIR/crowd.in"
  start_bg_input crowd "$fifo" "$TOOLS/nonreaders" -i -p "$SERVER_PORT" -n 400
  exec {feed}>"$fifo"
  wait_for_line "$BG_OUT" '^connected 400$'
  # The first 128 or so fill their 64 KiB backlog and spend the budget
  # (8 MiB); from then on the others get one slice of 4 KiB at most, and
  # the crowd is full: nobody is read.
  wait_for_line "$SERVER_ERR" 'output budget spent, not reading it'
  wait_for_line "$BG_OUT" '^full$'
  growth=$(( $(server_rss_kib) - rss ))

  run client $L <<<"a newcomer"
  assert_success
  assert_output "A NEWCOMER"
  run peer echo -n 100000 -c 777
  assert_output "ok 100000"

  # Under 64 MB in all; and under 20 MiB, where 400 full per-client caps
  # (no budget) grow it by 25,828 KiB: 9,700 KiB measured. (A sanitizer build's
  # allocator keeps reserves of its own: there, only the 64 MB.)
  [ "$growth" -lt 65536 ]
  grep -qa __asan_init "$LAB/$L/server" || [ "$growth" -lt 20480 ]
  exec {feed}>&-
}
