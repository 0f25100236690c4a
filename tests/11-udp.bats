#!/usr/bin/env bats
# 11-udp: the UDP echo-upper server, its client (timeout and retries), and
# the empty, truncate and noserver demos.

load helpers

L=11-udp

# udppeer MODE [ARGS...] - tests/tools/11-udppeer against the current server
udppeer() {
  local mode=$1; shift
  timeout -k 2 "$CLIENT_TIMEOUT" "$TOOLS/11-udppeer" "$mode" -p "$SERVER_PORT" "$@"
}

# patient_client [ARGS...] - the lab client, waiting up to 20 s for each
# reply. Loopback loses no datagram here, but a loaded machine can delay a
# reply past the default 1 s, and a resend would then reach the server
# twice (two log lines, a late duplicate reply).
patient_client() { client $L -t 20000 "$@"; }

# free_udp_port - a UDP port on 127.0.0.1 where nobody listens (a server
# started and stopped again); sets FREE_PORT
free_udp_port() {
  start_server $L
  FREE_PORT=$SERVER_PORT
  stop_server
}

# udp_port_of PID - the local port of PID's UDP socket; fails while it has none
udp_port_of() {
  ss -Hunap 2>/dev/null | grep "pid=$1," | awk '{ print $4 }' | sed 's/.*://' | grep .
}

# --- the contract ---------------------------------------------------------

@test "ready line is exactly 'listening on 127.0.0.1:PORT' with the real port" {
  start_server $L
  run cat "$SERVER_OUT"
  assert_output --regexp '^listening on 127\.0\.0\.1:[0-9]+$'
  [ "$SERVER_PORT" -gt 0 ]
  # the port really is a UDP port of this server
  run ss -Hunl "( sport = :$SERVER_PORT )"
  assert_output --partial "127.0.0.1:$SERVER_PORT"
}

@test "--help prints the usage on stdout and exits 0 (server, client, demos)" {
  for prog in server client empty truncate noserver; do
    run "$LAB/$L/$prog" --help </dev/null
    assert_success
    assert_output --partial "Usage:"
  done
}

@test "a bad option or argument exits 2 with a reason and the usage" {
  run "$LAB/$L/server" --bogus
  assert_failure 2
  assert_output --partial "Usage:"
  run "$LAB/$L/server" -p notaport
  assert_failure 2
  assert_output --partial "bad port"
  run "$LAB/$L/server" extra
  assert_failure 2
  run "$LAB/$L/client" -x </dev/null
  assert_failure 2
  assert_output --partial "Usage:"
  run "$LAB/$L/client" -p 99999 </dev/null
  assert_failure 2
  assert_output --partial "bad port"
  run "$LAB/$L/client" -t 0 </dev/null
  assert_failure 2
  assert_output --partial "bad -t"
  run "$LAB/$L/client" -r lots </dev/null
  assert_failure 2
  assert_output --partial "bad -r"
  run "$LAB/$L/truncate" -s 70000
  assert_failure 2
  run "$LAB/$L/noserver" -p 0
  assert_failure 2
  run "$LAB/$L/empty" -p x
  assert_failure 2
}

@test "a port in use exits 1 naming bind and the cause" {
  start_server $L
  run "$LAB/$L/server" -p "$SERVER_PORT"
  assert_failure 1
  assert_output "server: bind 127.0.0.1:$SERVER_PORT: Address already in use (is another server on port $SERVER_PORT? use -p PORT, or -p 0 for any free port)"
}

@test "SIGTERM and SIGINT stop it with exit 0, idle or after traffic, nothing left behind" {
  start_server $L
  stop_server
  [ "$STOP_STATUS" -eq 0 ]

  start_server $L
  run patient_client <<<"before the end"
  assert_output "BEFORE THE END"
  kill -INT "$SERVER_PID"
  wait_exit "$SERVER_PID"
  [ "$EXIT_STATUS" -eq 0 ]
  [ -z "$(group_processes "$SERVER_PID")" ]
  run grep -c 'stopping' "$SERVER_ERR"
  assert_output 1
}

# --- echo-upper, one datagram each way --------------------------------------

@test "lab client: lines come back upper-cased, empty lines skipped" {
  start_server $L
  run patient_client <<<$'hello\n\nworld 42\nMiXeD case!'
  assert_success
  assert_output $'HELLO\nWORLD 42\nMIXED CASE!'
  # three datagrams, one per non-empty line
  run grep -c 'bytes from' "$SERVER_ERR"
  assert_output 3
}

@test "Chinese text and other UTF-8 pass unchanged, ASCII is upper-cased" {
  start_server $L
  run patient_client <<<"你好, world: 网络编程 ü"
  assert_success
  assert_output "你好, WORLD: 网络编程 ü"
}

@test "a 65,507-byte datagram (the IPv4 maximum) comes back whole, binary bytes intact" {
  start_server $L
  run udppeer echo -s 65507
  assert_success
  assert_output "ok 65507"
  wait_for_line "$SERVER_ERR" '^server: 65507 bytes from '
  run udppeer echo -s 1
  assert_output "ok 1"
}

@test "the lab client sends a 65,506-character line as one datagram and prints the reply" {
  start_server $L
  line=$(head -c 65506 /dev/zero | tr '\0' 'q')
  run patient_client <<<"$line"
  assert_success
  [ "${#output}" -eq 65506 ]
  [ "$output" = "$(tr q Q <<<"$line")" ]
}

@test "a line too long for one datagram is refused clearly and the client goes on" {
  start_server $L
  line=$(head -c 70000 /dev/zero | tr '\0' 'x')
  run patient_client <<<"$line"$'\nafter'
  assert_success
  assert_output --partial "does not fit in one datagram"
  assert_output --partial "AFTER"
}

@test "an empty datagram is answered with an empty datagram" {
  start_server $L
  run udppeer echo -s 0
  assert_success
  assert_output "ok 0"
  wait_for_line "$SERVER_ERR" '^server: 0 bytes from 127\.0\.0\.1:[0-9]+$'
  run "$LAB/$L/empty" -p "$SERVER_PORT"
  assert_success
  assert_output --regexp "server: recvfrom\(\) returned 0 bytes from 127\.0\.0\.1:$SERVER_PORT"
}

# --- many clients, one socket -------------------------------------------------

@test "many clients at once: 200 sockets, 20 datagrams each, every reply to its sender" {
  start_server $L
  run udppeer many -c 200 -n 20 -s 300
  assert_success
  assert_output --partial "ok 4000"
  run patient_client <<<"and one more"
  assert_output "AND ONE MORE"
}

@test "three lab clients at once, their lines interleaved, each gets only its own replies" {
  start_server $L
  for i in 1 2 3; do
    start_bg_input "c$i" "$BATS_TEST_TMPDIR/c$i.in" "$LAB/$L/client" -p "$SERVER_PORT" -t 20000
    eval "pid$i=\$BG_PID out$i=\$BG_OUT"
    exec {feed}>"$BATS_TEST_TMPDIR/c$i.in"
    eval "feed$i=\$feed"
  done
  for round in a b c; do
    for i in 1 2 3; do
      eval "printf 'client %s says %s\n' $i $round >&\$feed$i"
    done
  done
  for i in 1 2 3; do
    eval "exec {feed$i}>&-"
    eval "wait_exit \$pid$i"
    [ "$EXIT_STATUS" -eq 0 ]
    eval "run cat \$out$i"
    assert_output "CLIENT $i SAYS A"$'\n'"CLIENT $i SAYS B"$'\n'"CLIENT $i SAYS C"
  done
}

# --- survival ---------------------------------------------------------------

@test "a sender that vanishes before its reply, and binary garbage, cost nothing" {
  start_server $L
  # bash's /dev/udp: a connected UDP socket, closed before the reply comes;
  # the reply then hits a closed port (ICMP port unreachable)
  for i in $(seq 20); do
    exec {u}<>"/dev/udp/127.0.0.1/$SERVER_PORT"
    printf 'gone %s\n' "$i" >&$u
    exec {u}>&-
  done
  head -c 2000 /dev/urandom >"$BATS_TEST_TMPDIR/garbage"
  exec {u}<>"/dev/udp/127.0.0.1/$SERVER_PORT"
  cat "$BATS_TEST_TMPDIR/garbage" >&$u
  exec {u}>&-
  wait_until "$LAB_WAIT" grep -q '2000 bytes from' "$SERVER_ERR"
  run patient_client <<<"still here"
  assert_success
  assert_output "STILL HERE"
  run grep -c 'sendto' "$SERVER_ERR"
  assert_output 0
  kill -0 "$SERVER_PID"
}

# forge_to PORT FROM [SIZE] - one datagram to 127.0.0.1:PORT whose IPv4
# source claims to be FROM (ADDR:PORT); skips the test without a raw socket
forge_to() {
  run timeout -k 2 "$CLIENT_TIMEOUT" "$TOOLS/11-udppeer" forge -p "$1" -f "$2" -s "${3:-16}"
  [ "$status" -ne 3 ] || skip "a forged datagram needs a raw socket (root or CAP_NET_RAW): $output"
  assert_success
}

@test "a forged datagram from the server's own address and port is dropped, not answered for ever" {
  start_server $L
  forge_to "$SERVER_PORT" "127.0.0.1:$SERVER_PORT"
  # Datagrams are served in order: once this one's line is in, the forged
  # one has been dealt with. Answered, it would have come back to the
  # server itself, again and again.
  run udppeer echo -s 10
  assert_output "ok 10"
  wait_for_line "$SERVER_ERR" '10 bytes from'
  run grep -c 'bytes from' "$SERVER_ERR"
  assert_output 1
  run grep -c "dropped 1 datagram(s) claiming our own port (last from 127.0.0.1:$SERVER_PORT): an echo loop" "$SERVER_ERR"
  assert_output 1
}

@test "two servers on one port of two addresses do not bounce a forged datagram for ever" {
  # A on 127.0.0.1:P, B on 127.0.0.2:P; the forged datagram tells A that
  # B sent it. Each answer of one would be a request to the other.
  start_server $L
  a=$SERVER_PID a_err=$SERVER_ERR port=$SERVER_PORT
  start_bg b "$LAB/$L/server" -H 127.0.0.2 -p "$port"
  b=$BG_PID b_err=$BG_ERR
  wait_for_line "$BG_OUT" "^listening on 127.0.0.2:$port\$"
  forge_to "$port" "127.0.0.2:$port"
  run udppeer echo -s 10
  assert_output "ok 10"
  wait_for_line "$a_err" '10 bytes from'
  run grep -c 'bytes from' "$a_err"
  assert_output 1
  run grep -c 'claiming our own port' "$a_err"
  assert_output 1
  run grep -c 'bytes from' "$b_err"
  assert_output 0
  stop_server "$b"
  [ "$STOP_STATUS" -eq 0 ]
}

@test "a storm of datagrams is answered in full but logged at most 100 lines a second" {
  start_server $L
  started=$(date +%s)
  run udppeer many -c 10 -n 300 -s 20
  assert_output --partial "ok 3000"
  # One more datagram in a later second makes the server report the rest.
  wait_until "$LAB_WAIT" bash -c "[ \$(date +%s) -gt $(date +%s) ]"
  run udppeer echo -s 1
  assert_output "ok 1"
  wait_until "$LAB_WAIT" grep -q 'not logged' "$SERVER_ERR"
  lines=$(grep -c 'bytes from' "$SERVER_ERR")
  [ "$lines" -le $(( 100 * ($(date +%s) - started + 1) )) ]
}

# --- the client's timeout and retries ---------------------------------------

@test "client: nobody listening gives a clear 'no reply' after bounded retries, exit 1" {
  free_udp_port
  run timeout -k 2 "$CLIENT_TIMEOUT" "$LAB/$L/client" -p "$FREE_PORT" -t 100 -r 2 <<<"hello?"
  assert_failure 1
  assert_output --partial "no reply from 127.0.0.1:$FREE_PORT after 3 tries of 100 ms each"
  run grep -c 'sending again' <<<"$output"
  assert_output 2
}

@test "client: with -r 0 it tries once and gives up" {
  free_udp_port
  run timeout -k 2 "$CLIENT_TIMEOUT" "$LAB/$L/client" -p "$FREE_PORT" -t 50 -r 0 <<<"hello?"
  assert_failure 1
  assert_output --partial "after 1 tries"
  refute_output --partial "sending again"
}

@test "client: a datagram from a stranger is not taken for the reply" {
  # The server is stopped (SIGSTOP), so the client's request waits in the
  # server's socket; meanwhile a stranger writes to the client's port.
  # Only when the server runs again does the real reply come, after the
  # stranger's datagram: the client must print the reply, not the stranger.
  start_server $L
  kill -STOP "$SERVER_PID"
  fifo="$BATS_TEST_TMPDIR/client.in"
  start_bg_input client "$fifo" "$LAB/$L/client" -p "$SERVER_PORT" -t 20000 -r 0
  cpid=$BG_PID cerr=$BG_ERR cout=$BG_OUT
  exec {feed}>"$fifo"
  printf 'anyone?\n' >&$feed
  exec {feed}>&-
  # find the client's own port (it has one once it has sent) and write to it
  wait_until "$LAB_WAIT" udp_port_of "$cpid"
  cport=$(udp_port_of "$cpid")
  exec {u}<>"/dev/udp/127.0.0.1/$cport"
  printf 'NOT FOR YOU\n' >&$u
  exec {u}>&-
  kill -CONT "$SERVER_PID"
  wait_exit "$cpid"
  [ "$EXIT_STATUS" -eq 0 ]
  run cat "$cout"
  assert_output "ANYONE?"
  run cat "$cerr"
  assert_output ""
}

# --- the demos --------------------------------------------------------------

@test "empty demo: an empty datagram arrives with its sender; TCP's 0 is end of file" {
  run timeout -k 2 "$CLIENT_TIMEOUT" "$LAB/$L/empty" </dev/null
  assert_success
  assert_output --regexp 'UDP: recvfrom\(\) returned 0 bytes from 127\.0\.0\.1:[0-9]+: an empty datagram'
  assert_output --partial "TCP: ...and nothing arrived"
  assert_output --partial "recv() returned 0: end of file"
}

@test "truncate demo: a small buffer loses the rest, MSG_TRUNC says so, the next read is the next datagram" {
  run timeout -k 2 "$CLIENT_TIMEOUT" "$LAB/$L/truncate" </dev/null
  assert_success
  assert_output --partial 'recvmsg with a 1024-byte buffer: 1024 bytes, starting "abcdefghij", MSG_TRUNC set'
  assert_output --partial 'recvmsg with a 1024-byte buffer: 4 bytes, starting "next"'
  assert_output --partial "the other 1976 bytes of the first are gone"
  assert_output --partial "the datagram is 3000 bytes (still queued)"
  assert_output --partial "recvfrom(MSG_TRUNC) with a 1024-byte buffer: returned 3000, the datagram's real length (1024 bytes copied)"
}

@test "noserver demo: silence on an unconnected socket, ECONNREFUSED on a connected one" {
  run timeout -k 2 "$CLIENT_TIMEOUT" "$LAB/$L/noserver" </dev/null
  assert_success
  assert_output --regexp 'unconnected: recv: no reply and no error after [0-9.]+ s: silence'
  assert_output --regexp 'connected: recv failed after [0-9.]+ s: Connection refused'
}
