# two-servers.bash - tests shared by 06-processes and 07-threads, whose
# two programs each (server.c and socketserver.c) keep the same contract.
#
# Each lesson's .bats file loads this after helpers.bash, sets L (the
# lesson) and SERVERS (the server programs to check), defines
# count_workers PID N (true when PID serves exactly N clients: N children
# in 06, N client threads in 07), and calls these functions from its @test
# blocks, so both lessons run exactly the same checks.

# start_prog PROG [ARGS...] - start $L/PROG on port 0 and wait for it
start_prog() {
  local prog=$1; shift
  start_server_cmd "$LAB/$L/$prog" -p 0 "$@"
}

# queued_at_least PORT N - true when N bytes or more wait unread for the
# server side of PORT (a function, so that wait_until measures it anew
# on every try)
queued_at_least() { [ "$(recv_queue_bytes "$1")" -ge "$2" ]; }

# count_lines FILE REGEX N - true when at least N lines of FILE match
count_lines() { [ "$(grep -Ec -- "$2" "$1")" -ge "$3" ]; }

# check_ready_line - ready line is exactly 'listening on 127.0.0.1:PORT' (both servers)
check_ready_line() {
  for prog in $SERVERS; do
    start_prog $prog
    run head -n 1 "$SERVER_OUT"
    assert_output --regexp '^listening on 127\.0\.0\.1:[0-9]+$'
  done
}

# check_help - --help prints the usage on stdout and exits 0
check_help() {
  for prog in $SERVERS client; do
    run "$LAB/$L/$prog" --help
    assert_success
    assert_output --partial "Usage:"
  done
}

# check_port_in_use - a port in use exits 1 naming bind and the cause
check_port_in_use() {
  start_prog server
  run "$LAB/$L/server" -p "$SERVER_PORT"
  assert_failure 1
  assert_output "server: bind 127.0.0.1:$SERVER_PORT: Address already in use (is another server on port $SERVER_PORT? use -p PORT, or -p 0 for any free port)"
  run "$LAB/$L/socketserver" -p "$SERVER_PORT"
  assert_failure 1
  assert_output "socketserver: bind 127.0.0.1:$SERVER_PORT: Address already in use (is another server on port $SERVER_PORT? use -p PORT, or -p 0 for any free port)"
}

# check_client_refused - client: connection refused is one clear line and exit 1
check_client_refused() {
  start_prog server
  port=$SERVER_PORT
  stop_server
  run timeout 10 "$LAB/$L/client" -p "$port" <<<"hello"
  assert_failure 1
  assert_output --partial "Connection refused"
}

# check_lab_client_lines - lab client: lines upper-cased, empty lines skipped, Chinese unchanged
check_lab_client_lines() {
  for prog in $SERVERS; do
    start_prog $prog
    run client $L <<<$'hello\n\nworld 42\n你好, world: 网络编程 ü'
    assert_success
    assert_output $'HELLO\nWORLD 42\n你好, WORLD: 网络编程 ü'
  done
}

# check_socat - socat (an independent client) gets the same bytes back
check_socat() {
  for prog in $SERVERS; do
    start_prog $prog
    run socat_send $'abc\ndef\n'
    assert_success
    assert_output $'ABC\nDEF'
  done
}

# check_binary_1mib - 1 MiB of binary data comes back whole and in order, then half-close
check_binary_1mib() {
  for prog in $SERVERS; do
    start_prog $prog
    run peer echo -n 1048576 -c 1000
    assert_success
    assert_output "ok 1048576"
    run peer echo -n 30000 -c 3
    assert_output "ok 30000"
  done
}

# check_reset_and_garbage - a client that resets, and one that sends garbage and leaves, cost nothing
check_reset_and_garbage() {
  for prog in $SERVERS; do
    start_prog $prog
    run peer reset -s "half a message"
    assert_success
    run peer garbage -n 200000
    assert_success
    run client $L <<<"still here"
    assert_output "STILL HERE"
    kill -0 "$SERVER_PID"
  done
}

# check_stop_group - SIGTERM to the group: exit 0, nothing left (idle, and
# with clients)
check_stop_group() {
  for prog in $SERVERS; do
    start_prog $prog
    stop_server
    [ "$STOP_STATUS" -eq 0 ]

    start_prog $prog
    fifo="$BATS_TEST_TMPDIR/hold-$prog"
    start_bg_input hold-$prog "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 5
    exec {feed}>"$fifo"
    wait_for_line "$BG_OUT" '^holding 5$'
    wait_until "$LAB_WAIT" count_workers "$SERVER_PID" 5
    stop_server
    [ "$STOP_STATUS" -eq 0 ]
    exec {feed}>&-
  done
}

# check_limit_backlog - -m 2: a third client waits in the backlog until a
# worker ends
check_limit_backlog() {
  for prog in $SERVERS; do
    start_prog $prog -m 2
    fifo="$BATS_TEST_TMPDIR/hold-$prog"
    start_bg_input hold-$prog "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 2
    exec {feed}>"$fifo"
    wait_for_line "$BG_OUT" '^holding 2$'
    wait_until "$LAB_WAIT" count_workers "$SERVER_PID" 2
    # (socketserver logs "connection from" in the worker: wait for both)
    wait_until "$LAB_WAIT" count_lines "$SERVER_ERR" 'connection from' 2

    fifo3="$BATS_TEST_TMPDIR/third-$prog"
    start_bg_input third-$prog "$fifo3" "$LAB/$L/client" -p "$SERVER_PORT"
    third=$BG_PID third_out=$BG_OUT
    exec {feed3}>"$fifo3"
    printf 'three\n' >&$feed3
    # its bytes reach the kernel, but nobody accepts it while 2 workers run
    wait_until "$LAB_WAIT" queued_at_least "$SERVER_PORT" 6
    [ "$(grep -c 'connection from' "$SERVER_ERR")" -eq 2 ]
    [ ! -s "$third_out" ]

    exec {feed}>&-                          # the two held clients leave
    wait_for_line "$third_out" '^THREE$'
    exec {feed3}>&-
    wait_exit "$third"
    [ "$EXIT_STATUS" -eq 0 ]
  done
}
