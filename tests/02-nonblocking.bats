#!/usr/bin/env bats
# 02-nonblocking: the busy-polling echo-upper server, its client, and the
# timeout and sigio demos.

load helpers

L=02-nonblocking

# hold_start N - open N idle connections with peer hold in the background;
# waits for "holding"; sets HOLD_PID, HOLD_FEED (close it to release them)
hold_start() {
  start_bg_input hold "$BATS_TEST_TMPDIR/hold.in" "$TOOLS/peer" hold -p "$SERVER_PORT" -n "$1"
  HOLD_PID=$BG_PID HOLD_OUT=$BG_OUT
  exec {HOLD_FEED}>"$BATS_TEST_TMPDIR/hold.in"
  wait_for_line "$HOLD_OUT" '^holding [0-9]+$' "$LAB_WAIT" "$HOLD_PID"
}

# hold_release - close every connection peer hold keeps
hold_release() {
  exec {HOLD_FEED}>&-
  wait_exit "$HOLD_PID"
}

# count_lines FILE REGEX - how many lines of FILE match
count_lines() { grep -Ec -- "$2" "$1" || true; }

# (wait_until runs a command again and again; a "$(...)" in its arguments
# would be evaluated only once, so these checks are functions.)

# lines_at_least FILE REGEX N - true once N lines of FILE match REGEX
lines_at_least() { [ "$(count_lines "$1" "$2")" -ge "$3" ]; }

# stuck_over BYTES - true once more than BYTES wait in the kernel on the
# clients' side, sent but not taken by the server (sum of ss Send-Q)
stuck_over() {
  local queued
  queued=$(ss -Htn state established "( dport = :$SERVER_PORT )" 2>/dev/null |
    awk '{ s += $2 } END { print s + 0 }')
  [ "$queued" -gt "$1" ]
}

# --- the contract ---------------------------------------------------------

@test "ready line is exactly 'listening on 127.0.0.1:PORT' with the real port" {
  start_server $L
  run cat "$SERVER_OUT"
  assert_output --regexp '^listening on 127\.0\.0\.1:[0-9]+$'
  [ "$SERVER_PORT" -gt 0 ]
}

@test "--help prints the usage on stdout and exits 0 (server, client, demos)" {
  for prog in server client timeout sigio; do
    run "$LAB/$L/$prog" --help </dev/null
    assert_success
    assert_output --partial "Usage:"
  done
  run "$LAB/$L/server" --help
  assert_output --partial "--sleep MS"
}

@test "a bad option or argument exits 2 with a reason and the usage" {
  run "$LAB/$L/server" --bogus
  assert_failure 2
  assert_output --partial "Usage:"
  run "$LAB/$L/server" -p notaport
  assert_failure 2
  assert_output --partial "bad port"
  run "$LAB/$L/server" --sleep soon
  assert_failure 2
  assert_output --partial "bad --sleep"
  run "$LAB/$L/server" --sleep -5
  assert_failure 2
  run "$LAB/$L/server" extra
  assert_failure 2
  assert_output --partial "unexpected argument"
  run "$LAB/$L/client" -x </dev/null
  assert_failure 2
  assert_output --partial "Usage:"
  run "$LAB/$L/client" -p 99999 </dev/null
  assert_failure 2
  assert_output --partial "bad port"
  run "$LAB/$L/timeout" -t zero
  assert_failure 2
  run "$LAB/$L/sigio" -n many
  assert_failure 2
}

@test "a port in use exits 1 naming bind and the cause" {
  start_server $L
  run "$LAB/$L/server" -p "$SERVER_PORT"
  assert_failure 1
  assert_output "server: bind 127.0.0.1:$SERVER_PORT: Address already in use (is another server on port $SERVER_PORT? use -p PORT, or -p 0 for any free port)"
}

@test "SIGTERM and SIGINT stop it with exit 0, clients connected, nothing left behind" {
  start_server $L
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
  run grep -E '^server: stopping: [0-9]+ wasted calls' "$SERVER_ERR"
  assert_success

  start_server $L
  exec {conn}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
  wait_for_line "$SERVER_ERR" 'connection from'
  kill -INT "$SERVER_PID"
  wait_exit "$SERVER_PID"
  [ "$EXIT_STATUS" -eq 0 ]
  [ -z "$(group_processes "$SERVER_PID")" ]
  # the server closed our connection on its way out
  run timeout 5 cat <&$conn
  exec {conn}>&-
  assert_success

  # Also in the middle of a long nap (taken in 100 ms slices, so the
  # signal is seen at once; a connection would wait out the nap first).
  start_server $L --sleep 10000
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
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
  run peer echo -n 1048576
  assert_success
  assert_output "ok 1048576"
}

@test "odd-sized writes of 3 bytes are never merged wrongly or lost" {
  start_server $L
  run peer echo -n 30000 -c 3
  assert_success
  assert_output "ok 30000"
}

@test "an empty connection (connect, half-close at once) is closed cleanly" {
  start_server $L
  run peer echo -n 0
  assert_success
  assert_output "ok 0"
  wait_for_line "$SERVER_ERR" 'closed .* \(0 bytes\)'
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

@test "a client that never reads stalls nobody, and the server's memory stays bounded" {
  start_server $L
  rss_before=$(server_rss_kib)
  start_bg flood "$TOOLS/peer" flood -p "$SERVER_PORT"
  # Once its pending output passes the cap the server stops reading the
  # flooder: the bytes pile up in the kernel (here in the flooder's send
  # queue, 1 MiB and more), not in the server.
  wait_until "$LAB_WAIT" stuck_over 1048576
  run client $L <<<"served meanwhile"
  assert_success
  assert_output "SERVED MEANWHILE"
  run peer echo -n 1048576
  assert_success
  assert_output "ok 1048576"
  rss_after=$(server_rss_kib)
  echo "# rss before ${rss_before} KiB, after ${rss_after} KiB" >&3
  [ $(( rss_after - rss_before )) -lt 16384 ]
}

# instrumented - true when the server runs under valgrind (LAB_WRAP) or
# was built with AddressSanitizer
instrumented() { [ -n "$LAB_WRAP" ] || grep -qa __asan_init "$LAB/$L/server"; }

@test "a total output budget: 400 clients that flood and never read cost under 64 MB, a newcomer is served at once" {
  start_server $L
  rss_before=$(server_rss_kib)
  # 400 connections from one process, each sending without end and never
  # reading (tests/tools/nonreaders.c): without a total budget the server would
  # hold PENDING_CAP (256 KiB) for each, over 100 MB.
  start_bg owe "$TOOLS/nonreaders" -p "$SERVER_PORT" -n 400
  OWE_PID=$BG_PID
  wait_for_line "$BG_OUT" '^connected 400$' "$LAB_WAIT" "$OWE_PID"
  wait_for_line "$SERVER_ERR" 'output budget of 32 MiB reached'
  # The server now reads none of the 400: their bytes wait in the kernel,
  # and the peers' sockets take no more (nonreaders says "full" once none
  # has taken a byte for a second).
  wait_for_line "$BG_OUT" '^full$'
  started=$(date +%s%N)
  run client $L <<<"served at once"
  assert_success
  assert_output "SERVED AT ONCE"
  waited_ms=$(( ($(date +%s%N) - started) / 1000000 ))
  rss_after=$(server_rss_kib)
  echo "# rss before ${rss_before} KiB, after ${rss_after} KiB; newcomer answered in ${waited_ms} ms" >&3
  # Under ASan or valgrind the resident size is mostly the tool's own
  # bookkeeping (shadow memory, freed blocks held back), which grows with
  # every allocation: the bound is the plain program's.
  instrumented || [ $(( rss_after - rss_before )) -lt 65536 ]
  kill -0 "$SERVER_PID"
}

@test "500 connections at once, and a newcomer is still served" {
  start_server $L
  hold_start 500
  run cat "$HOLD_OUT"
  assert_output "holding 500"
  wait_until "$LAB_WAIT" lines_at_least "$SERVER_ERR" 'connection from' 500
  run client $L <<<"one more"
  assert_success
  assert_output "ONE MORE"
  hold_release
  run client $L <<<"after"
  assert_output "AFTER"
}

@test "out of descriptors (EMFILE): connections refused at once, service resumes" {
  start_server_cmd bash -c 'ulimit -n 40 && exec "$0" -p 0' "$LAB/$L/server"
  hold_start 60
  wait_for_line "$SERVER_ERR" 'out of descriptors: refused a connection'
  # At the limit, a newcomer is accepted and closed, not left waiting.
  run client $L <<<"no room"
  assert_failure 1
  assert_output --regexp "server closed the connection|Connection reset by peer"
  refused=$(count_lines "$SERVER_ERR" 'refused')
  [ "$refused" -le 61 ]              # one line per refused client, no flood
  hold_release
  wait_until "$LAB_WAIT" lines_at_least "$SERVER_ERR" '^server: closed' 30
  run client $L <<<"room again"
  assert_success
  assert_output "ROOM AGAIN"
  kill -0 "$SERVER_PID"
}

# --- the lesson's point -----------------------------------------------------

@test "one thread serves two clients at once: the second is answered while the first stays" {
  start_server $L
  exec {c1}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
  printf 'one\n' >&$c1
  read -r -t "$LAB_WAIT" reply <&$c1
  [ "$reply" = "ONE" ]
  run client $L <<<"two"
  assert_success
  assert_output "TWO"
  printf 'one again\n' >&$c1
  read -r -t "$LAB_WAIT" reply <&$c1
  [ "$reply" = "ONE AGAIN" ]
  exec {c1}>&-
}

@test "-v counts the wasted calls (EAGAIN) every second" {
  start_server $L -v
  wait_for_line "$SERVER_ERR" '^server: last second: [0-9]+ wasted calls \(accept [0-9]+, recv [0-9]+, send [0-9]+\), [0-9]+ useful, 0 clients$'
  wasted=$(grep -m1 -oE 'last second: [0-9]+' "$SERVER_ERR" | grep -oE '[0-9]+$')
  [ "$wasted" -gt 0 ]
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
}

@test "--sleep MS: the same service, the same bytes, with naps between idle passes" {
  start_server $L --sleep 20
  run client $L <<<$'slow\nbut right'
  assert_success
  assert_output $'SLOW\nBUT RIGHT'
  run peer echo -n 262144 -c 5000
  assert_success
  assert_output "ok 262144"
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
}

@test "the client polls too: a 12 MB line goes out in pieces while its reply comes back, whole" {
  start_server $L
  # A blocking client that sends the whole line before reading deadlocks
  # here: the server stops reading once it owes 256 KiB, and the kernel's
  # buffers (a few MB) fill up in both directions.
  head -c 12000000 /dev/zero | tr '\0' 'a' >"$BATS_TEST_TMPDIR/long"
  echo >>"$BATS_TEST_TMPDIR/long"
  client $L -v <"$BATS_TEST_TMPDIR/long" >"$BATS_TEST_TMPDIR/reply" 2>"$BATS_TEST_TMPDIR/client.err"
  [ "$(wc -c <"$BATS_TEST_TMPDIR/reply")" -eq 12000001 ]
  [ "$(tr -d 'A\n' <"$BATS_TEST_TMPDIR/reply" | wc -c)" -eq 0 ]
  run grep -E '^client: that took [0-9]+ wasted calls \(EAGAIN\)$' "$BATS_TEST_TMPDIR/client.err"
  assert_success
  run grep -E '^client: [0-9]+ wasted calls in all$' "$BATS_TEST_TMPDIR/client.err"
  assert_success
}

# --- the demos --------------------------------------------------------------

@test "timeout demo: recv, send and connect each give up at their deadline" {
  run timeout -k 2 "$CLIENT_TIMEOUT" "$LAB/$L/timeout" -t 0.2 </dev/null
  assert_success
  assert_output --regexp 'recv: .*Resource temporarily unavailable'
  assert_output --regexp 'send: .*bytes'
  assert_output --regexp 'connect: .*timed out'
}

@test "sigio demo: every datagram is read in the SIGIO handler's wake, none lost" {
  run timeout -k 2 "$CLIENT_TIMEOUT" "$LAB/$L/sigio" -n 5 -i 50 </dev/null
  assert_success
  assert_output --partial "read 5 of 5 datagrams"
}
