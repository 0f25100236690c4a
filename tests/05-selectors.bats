#!/usr/bin/env bats
# 05-selectors: the selector API (select, poll, epoll backends), the echo
# server built on it, level- vs edge-triggered epoll, and the demos.

load helpers

L=05-selectors

# --- helpers of this file -----------------------------------------------------

# count_lines FILE REGEX - how many lines of FILE match REGEX
count_lines() { grep -cE -- "$2" "$1" || true; }

# at_least N CMD... - true once CMD prints a number >= N
at_least() { local n=$1; shift; [ "$("$@")" -ge "$n" ]; }

# no_line FILE REGEX - fail if a line of FILE matches REGEX (usable
# anywhere in a test, unlike `! grep`)
no_line() { if grep -qE -- "$2" "$1"; then echo "# unexpected '$2' in $1" >&2; return 1; fi; }

# start_server_many_fds ARGS... - the server with its descriptor limit
# raised, so that thousands of connections test the server, not ulimit
start_server_many_fds() {
  start_server_cmd bash -c 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" -p 0 "$@"' \
    "$LAB/$L/server" "$@"
}

# echo_suite ARGS... - the echo-upper contract against a server started
# with ARGS: lines, UTF-8, 1 MiB binary with a half-close, 3-byte writes,
# a reset and a garbage peer, and still serving afterwards
echo_suite() {
  start_server $L "$@"
  run client $L <<<$'hello\n\nworld 42\n你好, MiXeD ü'
  assert_success
  assert_output $'HELLO\nWORLD 42\n你好, MIXED ü'
  run peer echo -n 1048576 -c 1000
  assert_success
  assert_output "ok 1048576"
  run peer echo -n 30000 -c 3
  assert_success
  assert_output "ok 30000"
  run peer reset -s "half a message"
  assert_success
  run peer garbage -n 200000
  assert_success
  run client $L <<<"still here"
  assert_output "STILL HERE"
  late_reader_suite
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
}

# late_reader_suite - half-close with output pending: a client sends 1 MiB
# and shuts its write side before reading a byte (tests/tools/03-lateread,
# tiny receive buffer), so the server sees end of file while it still owes
# most of the replies; it must send them all, then close
late_reader_suite() {
  local fifo="$BATS_TEST_TMPDIR/gate" gate
  start_bg_input lateread "$fifo" "$TOOLS/03-lateread" -p "$SERVER_PORT" -n 1048576
  exec {gate}>"$fifo"
  local reader=$BG_PID reader_out=$BG_OUT
  wait_for_line "$reader_out" '^sent 1048576$' "$LAB_WAIT" "$reader"
  exec {gate}>&-
  wait_exit "$reader"
  [ "$EXIT_STATUS" -eq 0 ]
  assert_equal "$(cat "$reader_out")" $'sent 1048576\nok 1048576'
  wait_for_line "$SERVER_ERR" 'closed .*\(1048576 bytes\)$'
}

# flood_suite ARGS... - a client that never reads is paused at the cap,
# memory stays bounded, and another client is served meanwhile
flood_suite() {
  start_server $L "$@"
  start_bg flood "$TOOLS/peer" flood -p "$SERVER_PORT"
  flood_pid=$BG_PID
  wait_for_line "$SERVER_ERR" 'is not reading: [0-9]+ bytes owed, reading paused'
  # Paused: the flood's bytes now pile up unread in the server's kernel.
  wait_until "$LAB_WAIT" at_least 1 recv_queue_bytes "$SERVER_PORT"
  run client $L <<<$'served while flooded\nsecond line'
  assert_success
  assert_output $'SERVED WHILE FLOODED\nSECOND LINE'
  # Bounded: the cap is 256 KiB; far below what an unbounded buffer takes.
  rss=$(server_rss_kib)
  [ "$rss" -lt 200000 ]
  # The flood dies with replies unread in its socket: its kernel resets
  # the connection while the server still owes it output. The server
  # closes that one connection and goes on serving.
  kill -KILL -- "-$flood_pid"
  wait_for_line "$SERVER_ERR" 'send to 127\.0\.0\.1:[0-9]+: (Connection reset by peer|Broken pipe)$'
  run client $L <<<"after the reset"
  assert_output "AFTER THE RESET"
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
}

# hold_suite N ARGS... - N connections at once, all registered, then a
# new client is still served
hold_suite() {
  local n=$1; shift
  start_server_many_fds "$@"
  fifo="$BATS_TEST_TMPDIR/hold.in"
  start_bg_input hold "$fifo" "$TOOLS/peer" hold -n "$n" -p "$SERVER_PORT"
  hold_pid=$BG_PID hold_out=$BG_OUT
  exec {feed}>"$fifo"
  wait_for_line "$hold_out" "^holding $n\$" 60
  wait_until 60 at_least "$n" count_lines "$SERVER_ERR" 'connection from'
  run client $L <<<"one more"
  assert_output "ONE MORE"
  exec {feed}>&-
  wait_exit "$hold_pid" 60
  wait_until 60 at_least $((n + 1)) count_lines "$SERVER_ERR" '^server: closed'
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
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
  assert_output --partial "--backend"
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
  run "$LAB/$L/server" --backend kqueue
  assert_failure 2
  assert_output --partial "unknown backend 'kqueue'"
  run "$LAB/$L/server" --backend poll --edge
  assert_failure 2
  assert_output --partial "--edge needs the epoll backend"
  run "$LAB/$L/client" -x </dev/null
  assert_failure 2
  assert_output --partial "Usage:"
}

@test "a port in use exits 1 naming bind and the cause" {
  start_server $L
  run "$LAB/$L/server" -p "$SERVER_PORT"
  assert_failure 1
  assert_output "server: bind 127.0.0.1:$SERVER_PORT: Address already in use (is another server on port $SERVER_PORT? use -p PORT, or -p 0 for any free port)"
}

@test "SIGTERM and SIGINT stop it with exit 0, also with clients connected" {
  start_server $L
  stop_server
  [ "$STOP_STATUS" -eq 0 ]

  # A client in the middle of a line, and one the server owes output to
  # (a flood, paused at the cap), on every backend.
  for args in "--backend select" "--backend poll" "--backend epoll" "--edge"; do
    for sig in INT TERM; do
      # shellcheck disable=SC2086
      start_server $L $args
      exec {conn}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
      printf 'half a line' >&$conn
      start_bg flood "$TOOLS/peer" flood -p "$SERVER_PORT"
      wait_for_line "$SERVER_ERR" 'reading paused'
      kill -"$sig" "$SERVER_PID"
      wait_exit "$SERVER_PID"
      exec {conn}>&-
      [ "$EXIT_STATUS" -eq 0 ]
      [ -z "$(group_processes "$SERVER_PID")" ]
    done
  done
}

@test "client: connection refused is one clear line and exit 1" {
  start_server $L
  port=$SERVER_PORT
  stop_server
  run timeout 10 "$LAB/$L/client" -p "$port" <<<"hello"
  assert_failure 1
  assert_output --partial "Connection refused"
}

@test "the default backend is the best one: epoll, level-triggered" {
  start_server $L
  wait_for_line "$SERVER_ERR" '^server: backend epoll, level-triggered$'
}

@test "socat (an independent client) gets the same bytes back" {
  start_server $L
  run socat_send $'abc\ndef\n'
  assert_success
  assert_output $'ABC\nDEF'
}

# --- echo-upper and survival, on every backend --------------------------------

@test "select backend: echo contract, 1 MiB binary, resets, garbage" {
  echo_suite --backend select
}

@test "poll backend: echo contract, 1 MiB binary, resets, garbage" {
  echo_suite --backend poll
}

@test "epoll backend: echo contract, 1 MiB binary, resets, garbage" {
  echo_suite --backend epoll
}

@test "epoll --edge: echo contract, 1 MiB binary, resets, garbage" {
  echo_suite --edge
}

@test "select backend: a client that never reads is paused, others are served" {
  flood_suite --backend select
}

@test "poll backend: a client that never reads is paused, others are served" {
  flood_suite --backend poll
}

@test "epoll backend: a client that never reads is paused, others are served" {
  flood_suite --backend epoll
}

@test "epoll --edge: a client that never reads is paused, others are served" {
  flood_suite --edge
}

@test "a client paused at the cap resumes and gets every byte (each backend)" {
  # 32 MiB sent before reading a byte (more than the kernel's buffers
  # hold): the replies pass the cap, reading pauses; then the client
  # reads, output drains, and reading must resume - with --edge although
  # no new edge comes for the bytes that arrived meanwhile.
  expected=$(head -c 33554432 /dev/zero | tr '\0' A | sha256sum)
  for args in "--backend select" "--backend poll" "--backend epoll" "--edge"; do
    # shellcheck disable=SC2086
    start_server $L $args
    fifo="$BATS_TEST_TMPDIR/go.${args##* }"
    mkfifo "$fifo"
    start_bg slow bash -c '
      exec 3<>"/dev/tcp/127.0.0.1/$1"
      head -c 33554432 /dev/zero | tr "\0" a >&3 &
      read -r _ <"$2"
      head -c 33554432 <&3 | sha256sum' slow "$SERVER_PORT" "$fifo"
    slow_pid=$BG_PID slow_out=$BG_OUT
    wait_for_line "$SERVER_ERR" 'is not reading: [0-9]+ bytes owed, reading paused'
    echo go >"$fifo"
    wait_exit "$slow_pid"
    [ "$(cat "$slow_out")" = "$expected" ]
    stop_server
  done
}

@test "poll backend holds 2,000 connections at once and still serves" {
  hold_suite 2000 --backend poll
}

@test "epoll backend holds 2,000 connections at once and still serves" {
  hold_suite 2000 --backend epoll
}

@test "epoll --edge holds 2,000 connections at once and still serves" {
  hold_suite 2000 --edge
}

@test "select backend refuses descriptors >= FD_SETSIZE, serves the rest" {
  start_server_many_fds --backend select
  fifo="$BATS_TEST_TMPDIR/hold.in"
  start_bg_input hold "$fifo" "$TOOLS/peer" hold -n 1100 -p "$SERVER_PORT"
  hold_pid=$BG_PID hold_out=$BG_OUT
  exec {feed}>"$fifo"
  wait_for_line "$hold_out" '^holding 1100$' 60
  wait_for_line "$SERVER_ERR" 'refused 127\.0\.0\.1:[0-9]+: fd 1024 is beyond what select can watch \(FD_SETSIZE 1024\)' 60
  kill -0 "$SERVER_PID"
  exec {feed}>&-
  wait_exit "$hold_pid" 60
  # Once the held connections are gone, descriptors are low again.
  wait_until 60 at_least 1000 count_lines "$SERVER_ERR" '^server: closed'
  run client $L <<<"after the crowd"
  assert_output "AFTER THE CROWD"
}

# emfile_retries TRACE - read an strace of accept4 and the wait calls
# taken while the server was out of descriptors; prints "RETRIES BAD":
# how many accept4 calls failed with EMFILE after the first one, and how
# many calls break the pattern of a server that sleeps between retries
# (wait times out, one accept4 fails, wait again). A spinning loop shows
# waits that return at once or accept4 failing again and again.
emfile_retries() {
  awk '
    /^accept4\(.*EMFILE/ { if (seen) { retries++; if (last == "E") bad++ } seen = 1; last = "E"; next }
    seen && /^(epoll_wait|poll|p?select6?)\(.* = [0-9]+/ {
      if ($0 !~ / = 0( \(Timeout\))?$/) bad++
      last = "W"
    }
    END { print retries + 0, bad + 0 }' "$1"
}

@test "out of descriptors (EMFILE): no spin, service resumes (each backend)" {
  command -v strace >/dev/null || skip "strace is not installed"
  strace -o /dev/null true 2>/dev/null || skip "strace cannot trace here"
  for args in "--backend select" "--backend poll" "--backend epoll" "--edge"; do
    trace="$BATS_TEST_TMPDIR/emfile.trace"
    # shellcheck disable=SC2016,SC2086  # $0 "$@": the inner bash; $args: split on purpose
    start_server_cmd bash -c 'ulimit -n 64; exec strace -qq -o "$0" \
      -e trace=accept4,epoll_wait,poll,select,pselect6 "$@"' \
      "$trace" "$LAB/$L/server" -p 0 $args
    fifo="$BATS_TEST_TMPDIR/hold.in"
    start_bg_input hold "$fifo" "$TOOLS/peer" hold -n 100 -p "$SERVER_PORT"
    hold_pid=$BG_PID hold_out=$BG_OUT
    exec {feed}>"$fifo"
    wait_for_line "$hold_out" '^holding 100$'
    wait_for_line "$SERVER_ERR" 'accept \(new connections wait until a descriptor frees up\): Too many open files'
    # Paused, the server retries once a second and sleeps in between:
    # wait for one retry, then read what the server did meanwhile.
    n=$(count_lines "$SERVER_ERR" 'Too many open files')
    wait_until "$LAB_WAIT" at_least $((n + 1)) count_lines "$SERVER_ERR" 'Too many open files'
    read -r retries bad < <(emfile_retries "$trace")
    echo "# $args: $retries retries, $bad calls out of pattern" >&2
    [ "$retries" -ge 1 ] && [ "$bad" -eq 0 ]
    # The held connections leave: the queued ones are accepted, then ours.
    exec {feed}>&-
    wait_exit "$hold_pid"
    run client $L <<<"back in service"
    assert_success
    assert_output "BACK IN SERVICE"
    stop_server
  done
}

# --- the selector API on its own -------------------------------------------

# build_api_test NAME - compile $BATS_TEST_TMPDIR/NAME.c against the
# lesson's selector.h, with the compiler and sanitizers of this build
build_api_test() {
  local cc=${CC:-cc}
  command -v "$cc" >/dev/null || skip "no C compiler ($cc)"
  # shellcheck disable=SC2086  # the sanitizer flags are split on purpose
  "$cc" -std=c11 -Wall -Wextra -Werror ${SANITIZE:+-fsanitize=$SANITIZE} \
    -I "$LAB/$L" -o "$BATS_TEST_TMPDIR/$1" "$BATS_TEST_TMPDIR/$1.c"
}

@test "a descriptor closed and reused within one batch gets no stale event" {
  # Two pipes are ready in the same wait. The first one's callback closes
  # the second and opens a new pipe that gets the same number; the fired
  # entry of the old descriptor must not reach the new owner.
  cat >"$BATS_TEST_TMPDIR/stale.c" <<'EOF'
#define _GNU_SOURCE
#include <stdio.h>
#include "selector.h"

static int read_end[2], stale_calls;

static void on_new_owner(struct selector *sel, int fd, int mask, void *data)
{
    (void)sel; (void)fd; (void)mask; (void)data;
    stale_calls++;
}

static void on_second(struct selector *sel, int fd, int mask, void *data)
{
    (void)sel; (void)fd; (void)mask; (void)data;
}

static void on_first(struct selector *sel, int fd, int mask, void *data)
{
    int p[2];

    (void)fd; (void)mask; (void)data;
    if (sel_unregister(sel, read_end[1]) == -1 || close(read_end[1]) == -1
        || pipe(p) == -1 || p[0] != read_end[1]) {
        puts("setup: the number was not reused");
        exit(2);
    }
    if (sel_register(sel, p[0], SEL_READ, on_new_owner, NULL) == -1)
        exit(2);
}

int main(int argc, char *argv[])
{
    struct selector *sel = sel_new(argc > 1 ? argv[1] : NULL, 0);
    int p[2], ready_count;

    for (int i = 0; i < 2; i++) {
        if (pipe(p) == -1 || write(p[1], "x", 1) != 1)
            return 2;
        read_end[i] = p[0];
    }
    if (sel == NULL || sel_register(sel, read_end[0], SEL_READ, on_first, NULL) == -1
        || sel_register(sel, read_end[1], SEL_READ, on_second, NULL) == -1)
        return 2;
    ready_count = sel_select(sel, 5000);
    for (int i = 0; i < ready_count; i++) {     /* dispatched as server.c does */
        int fd = sel->fired[i].fd, mask = sel->fired[i].mask;
        struct sel_key *k = sel_get_key(sel, fd);

        if (k && (mask & k->events))
            k->callback(sel, fd, mask & k->events, k->data);
    }
    printf("%s: %d ready, %d stale\n", sel_backend_name(sel), ready_count, stale_calls);
    sel_free(sel);
    return stale_calls != 0;
}
EOF
  build_api_test stale
  for backend in select poll epoll; do
    run timeout 10 "$BATS_TEST_TMPDIR/stale" "$backend"
    assert_success
    assert_output "$backend: 2 ready, 0 stale"
  done
}

# --- the lesson's point -----------------------------------------------------

@test "one process, one thread, many clients answered at once (each backend)" {
  for args in "--backend select" "--backend poll" "--backend epoll" "--edge"; do
    # shellcheck disable=SC2086
    start_server $L $args
    exec {c1}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    exec {c2}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    printf 'one\n' >&$c1
    printf 'two\n' >&$c2
    read -r -t "$LAB_WAIT" r2 <&$c2
    read -r -t "$LAB_WAIT" r1 <&$c1
    [ "$r1" = "ONE" ] && [ "$r2" = "TWO" ]
    # client 1 is still connected and client 2 was answered: no second
    # thread or process did it
    [ "$(ls "/proc/$SERVER_PID/task" | wc -l)" -eq 1 ]
    printf 'again\n' >&$c1
    read -r -t "$LAB_WAIT" r1 <&$c1
    [ "$r1" = "AGAIN" ]
    exec {c1}>&- {c2}>&-
    stop_server
  done
}

# strace_server ARGS... - start the server under strace, recording the
# calls named in $TRACE into $BATS_TEST_TMPDIR/trace
strace_server() {
  command -v strace >/dev/null || skip "strace is not installed"
  start_server_cmd strace -qq -o "$BATS_TEST_TMPDIR/trace" -e trace="$TRACE" \
    "$LAB/$L/server" -p 0 "$@"
  wait_for_line "$SERVER_ERR" '^server: backend'
}

@test "--backend really changes the system call that waits" {
  command -v strace >/dev/null || skip "strace is not installed"
  strace -o /dev/null true 2>/dev/null || skip "strace cannot trace here"
  TRACE=select,pselect6,poll,ppoll,epoll_wait,epoll_pwait
  for backend in select poll epoll; do
    strace_server --backend "$backend"
    run client $L <<<"traced"
    assert_output "TRACED"
    stop_server
    case $backend in
      select) grep -qE '^p?select6?\(' "$BATS_TEST_TMPDIR/trace"
              no_line "$BATS_TEST_TMPDIR/trace" '^(poll|epoll_wait)\(' ;;
      poll)   grep -qE '^poll\(' "$BATS_TEST_TMPDIR/trace"
              no_line "$BATS_TEST_TMPDIR/trace" '^(p?select6?|epoll_wait)\(' ;;
      epoll)  grep -qE '^epoll_wait\(' "$BATS_TEST_TMPDIR/trace"
              no_line "$BATS_TEST_TMPDIR/trace" '^(p?select6?|poll)\(' ;;
    esac
  done
}

@test "level: one recv per message; edge: recv until EAGAIN, EPOLLET set" {
  command -v strace >/dev/null || skip "strace is not installed"
  strace -o /dev/null true 2>/dev/null || skip "strace cannot trace here"
  TRACE=recvfrom,epoll_ctl
  for mode in level edge; do
    if [ $mode = edge ]; then strace_server --edge; else strace_server; fi
    # One line at a time, each answered before the next is sent, so every
    # message arrives in a wake-up of its own.
    exec {conn}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    for i in 1 2 3 4 5; do
      printf 'message %s\n' "$i" >&$conn
      read -r -t "$LAB_WAIT" reply <&$conn
      [ "$reply" = "MESSAGE $i" ]
    done
    exec {conn}>&-
    wait_for_line "$SERVER_ERR" '^server: closed'
    stop_server
    trace="$BATS_TEST_TMPDIR/trace"
    data=$(count_lines "$trace" '^recvfrom\(.*= [1-9]')
    again=$(count_lines "$trace" '^recvfrom\(.*EAGAIN')
    eof=$(count_lines "$trace" '^recvfrom\(.* = 0$')
    [ "$data" -eq 5 ]
    if [ $mode = level ]; then
      [ "$again" -eq 0 ]
      no_line "$trace" EPOLLET
    else
      # Each wake-up reads until EAGAIN; the last one may meet the end of
      # file instead, when our close arrives before its second recv.
      [ $((again + eof)) -ge 5 ] && [ "$again" -ge 4 ]
      grep -q 'EPOLL_CTL_ADD.*EPOLLIN|EPOLLET' "$trace"
    fi
  done
}

# --- the demos ----------------------------------------------------------------

@test "edge_level: level wakes every time, edge once per arrival" {
  run "$LAB/$L/edge_level"
  assert_success
  assert_line --regexp '^    select \(level-triggered\): +ready in 5 of 5 waits$'
  assert_line --regexp '^    poll \(level-triggered\): +ready in 5 of 5 waits$'
  assert_line --regexp '^    epoll \(level-triggered\): +ready in 5 of 5 waits$'
  assert_line --regexp '^    epoll EPOLLET \(edge-triggered\): +ready in 1 of 5 waits$'
  assert_line --regexp '^    level-triggered: +9 wake-ups, 36 bytes read,  0 left unread$'
  assert_line --regexp '^    edge-triggered: +3 wake-ups, 15 bytes read, 21 left unread$'
  assert_line --regexp '^    edge-triggered, read until EAGAIN: +3 wake-ups, 36 bytes read,  0 left unread$'
  run "$LAB/$L/edge_level" -r 0
  assert_failure 2
}

@test "aio: io_uring completes a recv and two sleeps; POSIX AIO uses a thread" {
  run timeout -k 2 20 "$LAB/$L/aio"
  if [ "$status" -eq 1 ] && [[ "$output" == *"io_uring is not available"* ]]; then
    skip "io_uring is disabled on this machine"
  fi
  assert_success
  assert_line --partial 'completed: recv, 24 bytes, already in our buffer: "hello from the other end"'
  assert_line --partial 'completed: sleep(1) number 1 (timer expired)'
  assert_line --partial 'completed: sleep(1) number 2 (timer expired)'
  run timeout -k 2 20 "$LAB/$L/aio" --posix
  assert_success
  assert_line --partial 'threads in this process while it runs: 2'
  assert_line --partial 'completed: 24 bytes, in our buffer: "hello from the other end"'
}

# --- a total budget for output owed to peers that do not read -------------------

# count_paused - how many clients the server has stopped reading, at their
# own cap or by the total budget (one line per client)
count_paused() { count_lines "$SERVER_ERR" 'reading paused$'; }

@test "400 clients that send and never read cost a fixed budget; a new client is served at once" {
  # Without a total budget each of them would hold OUTPUT_CAP (256 KiB)
  # of replies: about 100 MiB. With it, past 32 MiB owed in all, a client
  # that owes anything is not read until it drains. The 400 peers are one
  # process (tests/tools/nonreaders: small buffers and segments, so that the
  # kernel's buffers for 400 connections stay modest on a shared machine).
  start_server $L
  before=$(server_rss_kib)
  start_bg hoarders "$TOOLS/nonreaders" -n 400 -p "$SERVER_PORT"
  hoarders_out=$BG_OUT
  wait_for_line "$hoarders_out" '^connected 400$' 60
  # Past the budget: a client that owes is paused, with this line...
  wait_for_line "$SERVER_ERR" 'owes [0-9]+ bytes, [0-9]+ in all \(budget 33554432\): reading paused$' 60
  # ...and soon nearly all of them are paused (at their cap or by the
  # budget), and none of the 400 takes more.
  wait_until 60 at_least 390 count_paused
  wait_for_line "$hoarders_out" '^full$' 60
  after=$(server_rss_kib)
  echo "# server RSS ${before} KiB before, ${after} KiB with $(count_paused) of 400 peers paused" >&3
  # A sanitizer's shadow memory and quarantine, or valgrind around the
  # server, make RSS measure the tool, not the server: bound it in the
  # plain build only.
  if [ -z "${SANITIZE:-}" ] && [ -z "$LAB_WRAP" ]; then
    [ $((after - before)) -lt 65536 ]
  fi
  started=$(date +%s%N)
  run client $L <<<"served at once"
  assert_success
  assert_output "SERVED AT ONCE"
  echo "# a new client's reply took $(( ($(date +%s%N) - started) / 1000000 )) ms" >&3
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
}
