#!/usr/bin/env bats
# 10-coroutines: the green-thread echo-upper server (one thread, one
# coroutine per client), its interactive and stress client, the sleepers,
# overflow and switches demos.

load helpers
bats_require_minimum_version 1.5.0   # run --separate-stderr

L=10-coroutines

# client_out ARGS... - the lab client, stdout only (an ASan build prints a
# one-time warning about swapcontext on stderr; it goes to a file)
client_out() {
  client $L "$@" 2>>"$BATS_TEST_TMPDIR/client.err"
}

# lines_at_least N FILE REGEX - true once N lines of FILE match REGEX
# (for wait_until, which re-runs it: a "$(...)" argument would be
# evaluated only once)
lines_at_least() {
  [ "$(grep -Ec -- "$3" "$2")" -ge "$1" ]
}

# unsent_at_least N - true once N bytes of the server's replies wait in its
# send queues (sent, not yet taken by the client): its send buffer is full
unsent_at_least() {
  [ "$(ss -Htn state established "( sport = :$SERVER_PORT )" |
       awk '{ s += $2 } END { print s + 0 }')" -ge "$1" ]
}

# voluntary_switches PID - how often the process has blocked so far
voluntary_switches() {
  awk '/^voluntary_ctxt_switches:/ { print $2 }' "/proc/$1/status"
}

# switched_since PID BEFORE N - true once PID has blocked N more times
switched_since() {
  [ "$(voluntary_switches "$1")" -ge $(( $2 + $3 )) ]
}

# sleeping_in_epoll PID - true when the process sleeps (S) in epoll_wait
sleeping_in_epoll() {
  [[ "$(ps -o stat= -p "$1")" == S* ]] && grep -q epoll "/proc/$1/wchan"
}

# two_clients_one_answered - connect c1 and c2 (descriptors of this shell)
# to the server; c1 gets one line answered; both are accepted
two_clients_one_answered() {
  exec {c1}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
  exec {c2}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
  printf 'one\n' >&$c1
  read -r -t "$LAB_WAIT" reply <&$c1
  [ "$reply" = "ONE" ]
  wait_until "$LAB_WAIT" lines_at_least 2 "$SERVER_ERR" 'connection from'
}

# task_count PID - how many threads the process has
task_count() {
  ls "/proc/$1/task" | wc -l
}

# green_probe MODE - build (once per test) and run a small program that
# drives green.h directly, with the compiler and sanitizers of this run
# (make exports CC and SANITIZE); its output is in $output
green_probe() {
  local probe="$BATS_TEST_TMPDIR/green-probe"
  command -v "${CC:-cc}" >/dev/null || skip "no C compiler (${CC:-cc})"
  if [ ! -x "$probe" ]; then
    cat >"$probe.c" <<'PROBE'
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include "green.h"

static int pair[2], fresh[2];

/* reader: parks in green_recv on pair[0] and says how it woke */
static void reader(void *arg)
{
    char buf[64];
    ssize_t n = green_recv(pair[0], buf, sizeof buf, 0);
    (void)arg;
    if (n >= 0)
        printf("reader got %zd bytes: %.*s\n", n, (int)n, buf);
    else
        printf("reader woke: %s\n", strerror(errno));
}

/* new_pair_on_same_number - a fresh watched socketpair whose first end
 * takes the number just freed, with data waiting on it */
static void new_pair_on_same_number(int old_fd)
{
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fresh) == -1 || fresh[0] != old_fd
        || green_attach(fresh[0]) == -1 || write(fresh[1], "stale", 5) != 5)
        printf("setup failed\n");
}

/* closer: closes the reader's descriptor while the reader is parked */
static void closer_parked(void *arg)
{
    int fd = pair[0];
    (void)arg;
    green_close(fd);
    new_pair_on_same_number(fd);
}

/* closer_woken: the reader is woken by data, and before it runs its
 * descriptor is closed and the number reused */
static void closer_woken(void *arg)
{
    int fd = pair[0];
    (void)arg;
    if (write(pair[1], "x", 1) != 1)
        printf("write failed\n");
    green_yield();              /* the hub sees the data, wakes the reader */
    green_close(fd);
    new_pair_on_same_number(fd);
}

static void napper(void *arg) { (void)arg; green_sleep(1); }
static void quick(void *arg) { (void)arg; }

static struct green *target;

static void joiner(void *arg)
{
    (void)arg;
    errno = 0;
    green_join(target);
    printf("join detached: %s\n", errno ? strerror(errno) : "no error");
}

static void finished_joiner(void *arg)
{
    struct green *g = green_spawn(quick, NULL);
    (void)arg;
    green_yield();
    green_yield();              /* g has run and ended by now */
    errno = 0;
    green_join(g);
    printf("join finished: %s\n", errno ? strerror(errno) : "no error");
}

static void holder(void *arg) { (void)arg; green_sleep(5); }
/* rounds: two coroutines yield to each other until the reader has its
 * data; the hub must still get to epoll_wait between their rounds */
static volatile int got_data;
static unsigned long yields;
static void yielder(void *arg)
{
    (void)arg;
    while (!got_data) {
        yields++;
        green_yield();
    }
}
static void waiting_reader(void *arg)
{
    char buf[8];
    ssize_t n = green_recv(pair[0], buf, sizeof buf, 0);
    (void)arg;
    got_data = 1;
    printf("reader got %zd bytes while the others yielded\n", n);
}
/* late_writer: the reader's data comes later, while the others yield */
static void late_writer(void *arg)
{
    (void)arg;
    green_sleep(1);
    if (write(pair[1], "late", 4) != 4)
        printf("write failed\n");
}
/* second_reader: parks on the descriptor the reader already waits on */
static void second_reader(void *arg)
{
    char buf[8];
    (void)arg;
    errno = 0;
    if (green_recv(pair[0], buf, sizeof buf, 0) == -1)
        printf("second reader: %s\n", strerror(errno));
    if (write(pair[1], "go", 2) != 2)       /* now let the first one go */
        printf("write failed\n");
}

/* deep - use a good part of the stack, so that a reused one is dirty */
static int deep(int depth)
{
    volatile char frame[2048];
    frame[0] = (char)depth;
    frame[sizeof frame - 1] = (char)depth;
    return depth == 0 ? frame[0] : deep(depth - 1) + frame[sizeof frame - 1];
}

static void dirty(void *arg) { (void)arg; deep(10); green_yield(); deep(10); }

/* guard_of - the permissions of the page at addr, from /proc/self/maps */
static const char *guard_of(void *addr)
{
    static char perms[5];
    unsigned long lo, hi, a = (unsigned long)addr;
    FILE *maps = fopen("/proc/self/maps", "r");
    strcpy(perms, "none");
    while (maps != NULL && fscanf(maps, "%lx-%lx %4s%*[^\n]", &lo, &hi, perms) == 3)
        if (lo <= a && a < hi)
            break;
        else
            strcpy(perms, "none");
    if (maps != NULL)
        fclose(maps);
    return perms;
}

int main(int argc, char *argv[])
{
    const char *mode = argc > 1 ? argv[1] : "";
    struct green *r, *c, *x, *y, *z;

    setvbuf(stdout, NULL, _IONBF, 0);
    if (green_init() == -1 || socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == -1
        || green_attach(pair[0]) == -1)
        return 1;
    if (strcmp(mode, "close-parked") == 0 || strcmp(mode, "close-woken") == 0) {
        r = green_spawn(reader, NULL);
        c = green_spawn(strcmp(mode, "close-parked") == 0 ? closer_parked : closer_woken, NULL);
        green_join(c);
        green_join(r);
    } else if (strcmp(mode, "join") == 0) {
        target = green_spawn(napper, NULL);
        green_detach(target);
        green_join(green_spawn(joiner, NULL));
        green_join(green_spawn(finished_joiner, NULL));
        /* coroutines alive at once must have a stack each */
        x = green_spawn(holder, NULL);
        y = green_spawn(holder, NULL);
        z = green_spawn(holder, NULL);
        printf("stacks %s\n", x == y || y == z || x == z ? "SHARED" : "distinct");
    } else if (strcmp(mode, "reuse") == 0) {
        for (int round = 0; round < 3; round++) {
            struct green *g[2 * GREEN_STACK_CACHE];
            for (int i = 0; i < 2 * GREEN_STACK_CACHE; i++)
                g[i] = green_spawn(dirty, NULL);
            for (int i = 0; i < 2 * GREEN_STACK_CACHE; i++)
                green_join(g[i]);
        }
        x = green_spawn(dirty, NULL);   /* from the cache */
        printf("reused guard page %s\n", guard_of(x->map_base));
        green_join(x);
    } else if (strcmp(mode, "rounds") == 0) {
        x = green_spawn(yielder, NULL);
        y = green_spawn(yielder, NULL);
        r = green_spawn(waiting_reader, NULL);
        c = green_spawn(late_writer, NULL);
        z = green_spawn(yielder, NULL);     /* one more, after them */
        green_join(r);
        green_join(z);
        green_join(x);
        green_join(y);
        green_join(c);
        printf("yields %s\n", yields > 0 ? "happened" : "none");
    } else if (strcmp(mode, "busy") == 0) {
        r = green_spawn(waiting_reader, NULL);
        c = green_spawn(second_reader, NULL);
        green_join(c);
        green_join(r);
    }
    return 0;
}
PROBE
    # shellcheck disable=SC2086  # the sanitizer flags are split on purpose
    ${CC:-cc} -std=c11 -g -Wall -Wextra -Wpedantic -Werror \
      ${SANITIZE:+-fsanitize=$SANITIZE -fno-sanitize-recover=all} \
      -I "$LAB/$L" -o "$probe" "$probe.c" || return 1
  fi
  run --separate-stderr timeout -k 2 10 "$probe" "$@"
}

# urgent_peer - build (once per test) a peer that exchanges one line,
# prints "ready", waits for a line on its standard input, then sends
# "hello", one byte of urgent data (MSG_OOB) and "world\n" as one TCP
# segment, and prints "reply " and the reply line (or "no reply: " and
# what came before its timeout). Its path is in $URGENT_PEER.
urgent_peer() {
  URGENT_PEER="$BATS_TEST_TMPDIR/urgent-peer"
  command -v "${CC:-cc}" >/dev/null || skip "no C compiler (${CC:-cc})"
  [ -x "$URGENT_PEER" ] && return 0
  cat >"$URGENT_PEER.c" <<'URGENT'
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* read_line - recv until a newline or until timeout_ms pass without a
 * byte; how many bytes are in buf */
static size_t read_line(int fd, char *buf, size_t size, int timeout_ms)
{
    size_t have = 0;

    while (have < size && memchr(buf, '\n', have) == NULL) {
        struct pollfd pfd = {fd, POLLIN, 0};
        ssize_t n;

        if (poll(&pfd, 1, timeout_ms) != 1 || (n = recv(fd, buf + have, size - have, 0)) <= 0)
            break;
        have += (size_t)n;
    }
    return have;
}

int main(int argc, char *argv[])
{
    struct sockaddr_in addr;
    char buf[64], go[8];
    int fd = socket(AF_INET, SOCK_STREAM, 0), timeout_ms;
    size_t have;

    if (argc != 3)
        return 2;
    timeout_ms = atoi(argv[2]) * 1000;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[1]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd == -1 || connect(fd, (struct sockaddr *)&addr, sizeof addr) == -1) {
        perror("connect");
        return 1;
    }
    if (send(fd, "a\n", 2, 0) != 2 || read_line(fd, buf, sizeof buf, timeout_ms) != 2) {
        printf("no first reply\n");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    if (fgets(go, sizeof go, stdin) == NULL)
        return 1;
    /* MSG_MORE holds the bytes back until the last send: one segment,
     * with the urgent mark in its middle */
    if (send(fd, "hello", 5, MSG_MORE) != 5 || send(fd, "X", 1, MSG_OOB | MSG_MORE) != 1
        || send(fd, "world\n", 6, 0) != 6) {
        perror("send");
        return 1;
    }
    have = read_line(fd, buf, sizeof buf, timeout_ms);
    if (have == 0 || buf[have - 1] != '\n') {
        printf("no reply: %.*s\n", (int)have, buf);
        return 1;
    }
    printf("reply %.*s", (int)have, buf);
    return 0;
}
URGENT
  ${CC:-cc} -std=c11 -Wall -Wextra -Wpedantic -Werror -o "$URGENT_PEER" "$URGENT_PEER.c"
}

# --- the contract ---------------------------------------------------------

@test "ready line is exactly 'listening on 127.0.0.1:PORT' with the real port" {
  start_server $L
  run cat "$SERVER_OUT"
  assert_output --regexp '^listening on 127\.0\.0\.1:[0-9]+$'
  [ "$SERVER_PORT" -gt 0 ]
}

@test "--help prints the usage on stdout and exits 0, for every program" {
  for prog in server client sleepers switches overflow; do
    run timeout 10 "$LAB/$L/$prog" --help
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
  assert_output --partial "unexpected argument"
  run "$LAB/$L/client" -x
  assert_failure 2
  assert_output --partial "Usage:"
  for bad in abc 65536 -1 ""; do
    run "$LAB/$L/client" -p "$bad" </dev/null
    assert_failure 2
    assert_line --index 0 "client: bad port '$bad'"
    assert_output --partial "Usage:"
  done
  run "$LAB/$L/client" extra </dev/null
  assert_failure 2
  assert_output --partial "unexpected argument"
  run "$LAB/$L/client" -c 0
  assert_failure 2
  assert_output --partial "bad connection count"
  run "$LAB/$L/client" -c many
  assert_failure 2
  run "$LAB/$L/sleepers" -u 0
  assert_failure 2
  assert_output --partial "bad unit"
  for bad in "-n 5x" "-n 0" "extra" "--bogus"; do
    # shellcheck disable=SC2086  # the option and its value, split on purpose
    run timeout 10 "$LAB/$L/switches" $bad
    assert_failure 2
    assert_output --partial "Usage:"
  done
  for bad in "-x" "extra"; do
    run timeout 10 "$LAB/$L/overflow" "$bad"
    assert_failure 2
    assert_output --partial "Usage:"
  done
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

  start_server $L
  two_clients_one_answered
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
  grep -q 'stopping' "$SERVER_ERR"
  # the server's sockets are gone: the clients see end of file
  run timeout 5 cat <&$c1
  assert_success
  exec {c1}>&- {c2}>&-

  start_server $L
  kill -INT "$SERVER_PID"
  wait_exit "$SERVER_PID"
  [ "$EXIT_STATUS" -eq 0 ]
}

@test "SIGTERM with 500 clients connected: exit 0, nothing leaked (under LSan)" {
  start_server $L
  fifo="$BATS_TEST_TMPDIR/hold.in"
  start_bg_input hold "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 500 -s "x"
  exec {feed}>"$fifo"
  wait_for_line "$BG_OUT" '^holding 500$'
  wait_until "$LAB_WAIT" lines_at_least 500 "$SERVER_ERR" 'connection from'
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
  run grep -E 'LeakSanitizer|AddressSanitizer|runtime error' "$SERVER_ERR"
  assert_failure
  exec {feed}>&-
}

@test "client: connection refused is one clear line and exit 1" {
  start_server $L
  port=$SERVER_PORT
  stop_server
  run timeout 10 "$LAB/$L/client" -p "$port" <<<"hello"
  assert_failure 1
  assert_output --partial "client: connect 127.0.0.1:$port: Connection refused"
}

# --- echo-upper, byte for byte --------------------------------------------

@test "lab client: lines come back upper-cased, empty lines skipped" {
  start_server $L
  run client_out <<<$'hello\n\nworld 42\nMiXeD case!'
  assert_success
  assert_output $'HELLO\nWORLD 42\nMIXED CASE!'
}

@test "lab client: a last line without a newline is sent too" {
  start_server $L
  run client_out < <(printf 'first\nlast')
  assert_success
  assert_output $'FIRST\nLAST'
}

@test "Chinese text and other UTF-8 pass unchanged, ASCII is upper-cased" {
  start_server $L
  run client_out <<<"你好, world: 网络编程 ü"
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

@test "a client that half-closes before reading a byte still gets all 256 KiB back" {
  start_server $L
  fifo="$BATS_TEST_TMPDIR/gate"
  start_bg_input lateread "$fifo" "$TOOLS/03-lateread" -p "$SERVER_PORT" -n 262144
  exec {gate}>"$fifo"
  reader=$BG_PID reader_out=$BG_OUT
  # Sent and half-closed with every reply still owed (the reader's
  # receive buffer is tiny): the client's coroutine is parked in send(),
  # or the kernel's buffers took it all and the server closed already...
  wait_for_line "$reader_out" '^sent 262144$' "$LAB_WAIT" "$reader"
  # ...and reading only now, the client still gets every byte.
  exec {gate}>&-
  wait_exit "$reader"
  [ "$EXIT_STATUS" -eq 0 ]
  assert_equal "$(cat "$reader_out")" $'sent 262144\nok 262144'
  wait_for_line "$SERVER_ERR" 'closed .*\(262144 bytes\)$'
}

@test "odd-sized writes of 3 bytes are never merged wrongly or lost" {
  start_server $L
  run peer echo -n 30000 -c 3
  assert_success
  assert_output "ok 30000"
}

@test "32 MiB through one connection while another client is served" {
  start_server $L
  start_bg big "$TOOLS/peer" echo -p "$SERVER_PORT" -n 33554432
  big=$BG_PID big_out=$BG_OUT
  run client_out <<<"meanwhile"
  assert_output "MEANWHILE"
  wait_exit "$big" 60
  [ "$EXIT_STATUS" -eq 0 ]
  run cat "$big_out"
  assert_output "ok 33554432"
}

# --- survival ---------------------------------------------------------------

@test "a client that resets, and one that sends garbage and leaves, cost nothing" {
  start_server $L
  run peer reset -s "half a message"
  assert_success
  run peer garbage -n 200000
  assert_success
  run client_out <<<"still here"
  assert_success
  assert_output "STILL HERE"
  kill -0 "$SERVER_PID"
}

@test "a client that sends urgent data (MSG_OOB) mid-line still gets the rest of the line back" {
  urgent_peer
  start_server $L
  fifo="$BATS_TEST_TMPDIR/urgent.in"
  start_bg_input urgent "$fifo" "$URGENT_PEER" "$SERVER_PORT" "$LAB_WAIT"
  urgent=$BG_PID urgent_out=$BG_OUT
  exec {go}>"$fifo"
  wait_for_line "$urgent_out" '^ready$' "$LAB_WAIT" "$urgent"
  # Its coroutine is parked now, registered with epoll. Then one segment
  # "hello" [urgent X] "world\n": recv() stops short at the urgent mark
  # with "world\n" still queued, and no new edge will come for it. A
  # green_recv() that took a short read for an empty queue (the old
  # short-read shortcut, now an exercise) would wait for ever.
  wait_until "$LAB_WAIT" sleeping_in_epoll "$SERVER_PID"
  printf 'go\n' >&$go
  exec {go}>&-
  wait_exit "$urgent" $(( LAB_WAIT + 5 ))
  run cat "$urgent_out"
  assert_output $'ready\nreply HELLOWORLD'
  [ "$EXIT_STATUS" -eq 0 ]
}

@test "a client that never reads costs only itself: others are served, memory stays flat" {
  start_server $L
  rss_before=$(server_rss_kib)
  start_bg flood "$TOOLS/peer" flood -p "$SERVER_PORT"
  # The replies pile up in the server's send buffer until it is full: from
  # then on the flood's coroutine is parked in send() and reads no more.
  wait_until "$LAB_WAIT" unsent_at_least 1000000
  run client_out <<<"not stuck"
  assert_output "NOT STUCK"
  run peer echo -n 100000
  assert_output "ok 100000"
  # one buffer of unsent reply per client: the server does not grow with
  # the megabytes the flood has sent
  [ "$(( $(server_rss_kib) - rss_before ))" -lt 8192 ]
}

# owing_both_ways_at_least N - true once N of the server's connections
# have bytes waiting both ways: unread in its receive queue (it stopped
# reading them) and unsent in its send queue (the client reads nothing)
owing_both_ways_at_least() {
  [ "$(ss -Htn state established "( sport = :$SERVER_PORT )" |
       awk '$1 > 0 && $2 > 0 { n++ } END { print n + 0 }')" -ge "$1" ]
}

@test "400 clients that send and never read grow the server by under 64 MB, and a newcomer is served at once" {
  start_server $L
  rss_before=$(server_rss_kib)
  # 400 connections from one process (small buffers), sending without end
  # and never reading. Each client's coroutine fills the kernel's send
  # buffer, then parks in green_send_all() holding its one 1 KiB buffer,
  # and reads no more: the rest waits in the kernel, unread.
  start_bg owe "$TOOLS/nonreaders" -p "$SERVER_PORT" -n 400
  owe=$BG_PID
  wait_for_line "$BG_OUT" '^connected 400$' "$LAB_WAIT" "$owe"
  wait_until "$LAB_WAIT" owing_both_ways_at_least 400
  started=$(date +%s%N)
  run client_out <<<"served at once"
  waited_ms=$(( ($(date +%s%N) - started) / 1000000 ))
  assert_output "SERVED AT ONCE"
  rss_after=$(server_rss_kib)
  echo "# rss ${rss_before} -> ${rss_after} KiB with 400 owed; newcomer in ${waited_ms} ms" >&3
  [ $(( rss_after - rss_before )) -lt 65536 ]
  kill "$owe"
}

@test "a client reset while its coroutine is parked in send: it ends, and the server sleeps (no spin)" {
  start_server $L
  start_bg flood "$TOOLS/peer" flood -p "$SERVER_PORT"
  flood=$BG_PID
  wait_until "$LAB_WAIT" unsent_at_least 1000000
  # The flood dies with megabytes unread: its kernel resets the
  # connection, and epoll reports EPOLLERR|EPOLLHUP (edge-triggered: once)
  # to the coroutine parked in send().
  kill -KILL "$flood"
  wait_for_line "$SERVER_ERR" 'send to .*(reset by peer|Broken pipe)'
  # Nothing left to do: the one thread goes back to sleep in epoll_wait.
  # A server spinning on the error would stay runnable (R) for ever.
  wait_until "$LAB_WAIT" sleeping_in_epoll "$SERVER_PID"
  run client_out <<<"still served"
  assert_output "STILL SERVED"
}

@test "1000 connections held open at once, then a client is still served" {
  start_server $L
  fifo="$BATS_TEST_TMPDIR/hold.in"
  start_bg_input hold "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 1000 -s "x"
  exec {feed}>"$fifo"
  wait_for_line "$BG_OUT" '^holding 1000$'
  wait_until "$LAB_WAIT" lines_at_least 1000 "$SERVER_ERR" 'connection from'
  run client_out <<<"one more"
  assert_output "ONE MORE"
  [ "$(task_count "$SERVER_PID")" -eq 1 ]
  # The holder closes with our replies unread, so its kernel resets each
  # connection: every one ends, as "closed" or "reset by peer".
  exec {feed}>&-
  wait_until "$LAB_WAIT" lines_at_least 1001 "$SERVER_ERR" 'closed|reset by peer'
}

@test "out of descriptors (EMFILE): the server waits, then serves the queued client" {
  start_server_cmd bash -c "ulimit -n 32; exec '$LAB/$L/server' -p 0"
  fifo="$BATS_TEST_TMPDIR/hold.in"
  start_bg_input hold "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 40
  exec {feed}>"$fifo"
  wait_for_line "$BG_OUT" '^holding'
  wait_for_line "$SERVER_ERR" 'accept .*Too many open files'
  # Said once, not once per retry: let it retry a few times (each retry
  # is a 100 ms green_sleep, a voluntary context switch in epoll_wait),
  # then count. (Counting at the end would be racy: while the held
  # connections close one by one, the server may fill up and say it again.)
  switches=$(voluntary_switches "$SERVER_PID")
  wait_until "$LAB_WAIT" switched_since "$SERVER_PID" "$switches" 4
  [ "$(grep -c 'Too many open files' "$SERVER_ERR")" -eq 1 ]
  # A client now waits in the kernel's accept queue...
  fifo2="$BATS_TEST_TMPDIR/late.in"
  start_bg_input late "$fifo2" "$LAB/$L/client" -p "$SERVER_PORT"
  late=$BG_PID late_out=$BG_OUT
  exec {feed2}>"$fifo2"
  printf 'late\n' >&$feed2
  # ...the held connections go away, descriptors free up, it is served.
  exec {feed}>&-
  wait_for_line "$late_out" '^LATE$'
  exec {feed2}>&-
  wait_exit "$late"
  [ "$EXIT_STATUS" -eq 0 ]
}

# --- the lesson's point: one thread, many clients at once -----------------

@test "three clients in mid-conversation are served by one thread" {
  start_server $L
  exec {c1}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
  exec {c2}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
  exec {c3}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
  # In lesson 01 the second client would wait for the first to leave.
  for round in 1 2; do
    for c in $c3 $c2 $c1; do
      printf 'client %s round %s\n' "$c" "$round" >&"$c"
      read -r -t "$LAB_WAIT" reply <&"$c"
      [ "$reply" = "CLIENT $c ROUND $round" ]
    done
  done
  [ "$(grep -c 'connection from' "$SERVER_ERR")" -eq 3 ]
  [ "$(task_count "$SERVER_PID")" -eq 1 ]
  exec {c1}>&- {c2}>&- {c3}>&-
}

@test "with clients connected and nothing to do, the one thread sleeps in epoll_wait (not busy)" {
  start_server $L
  two_clients_one_answered
  # The Python notes say a coroutine program looks to the CPU as if it
  # ran all the time, never waiting: here it waits, state S, in epoll_wait.
  wait_until "$LAB_WAIT" sleeping_in_epoll "$SERVER_PID"
  switches=$(voluntary_switches "$SERVER_PID")
  printf 'two\n' >&$c2
  read -r -t "$LAB_WAIT" reply <&$c2
  [ "$reply" = "TWO" ]
  # it woke for the request and went back to sleep: a voluntary switch
  wait_until "$LAB_WAIT" switched_since "$SERVER_PID" "$switches" 1
  wait_until "$LAB_WAIT" sleeping_in_epoll "$SERVER_PID"
  exec {c1}>&- {c2}>&-
}

@test "the stress client: 500 concurrent connections against one thread, no errors" {
  start_server $L
  run --separate-stderr timeout -k 2 120 "$LAB/$L/client" -p "$SERVER_PORT" --stress -n 10
  assert_success
  assert_output --regexp '^connections 500, messages 5000, errors 0, [0-9]+ messages/s'
  [ "$(task_count "$SERVER_PID")" -eq 1 ]
  wait_until "$LAB_WAIT" lines_at_least 500 "$SERVER_ERR" 'closed'
}

@test "the stress client counts errors and exits 1 when the server is gone" {
  start_server $L
  port=$SERVER_PORT
  stop_server
  run timeout -k 2 30 "$LAB/$L/client" -p "$port" -c 5 -n 3
  assert_failure 1
  assert_output --partial "connections 0, messages 0, errors 5"
}

# --- green.h itself ---------------------------------------------------------

@test "green.h: a coroutine parked on a descriptor that is closed wakes with EBADF" {
  green_probe close-parked
  assert_success
  assert_output "reader woke: Bad file descriptor"
}

@test "green.h: a woken coroutine whose descriptor was closed before it ran gets EBADF, not the new socket's data" {
  green_probe close-woken
  assert_success
  assert_output "reader woke: Bad file descriptor"
}

@test "green.h: coroutines that keep yielding do not keep the hub from epoll (rounds)" {
  green_probe rounds
  assert_success
  assert_line "reader got 4 bytes while the others yielded"
  assert_line "yields happened"
}

@test "green.h: a second coroutine parking on a descriptor another one waits on gets EBUSY" {
  green_probe busy
  assert_success
  assert_line "second reader: Device or resource busy"
  assert_line "reader got 2 bytes while the others yielded"
}

@test "green.h: join refuses a detached coroutine (no double free), joins a finished one" {
  green_probe join
  assert_success
  assert_line "join detached: Invalid argument"
  assert_line "join finished: no error"
  assert_line "stacks distinct"
}

@test "green.h: a stack from the cache is clean (sanitizers) and keeps its guard page" {
  green_probe reuse
  assert_success
  assert_output --partial "reused guard page ---p"
}

# --- the demos --------------------------------------------------------------

@test "sleepers: green_sleep overlaps the three sleeps (all start before any wakes)" {
  run --separate-stderr timeout 30 "$LAB/$L/sleepers" -u 20
  assert_success
  # lines 1-3: the three go to sleep; 4-6: they wake, shortest first
  [[ "${lines[0]}" == *"heng "*"going to sleep"* ]]
  [[ "${lines[1]}" == *"ha "*"going to sleep"* ]]
  [[ "${lines[2]}" == *"heiheihei going to sleep"* ]]
  [[ "${lines[3]}" == *"heng "*"woke up"* ]]
  [[ "${lines[4]}" == *"ha "*"woke up"* ]]
  [[ "${lines[5]}" == *"heiheihei woke up"* ]]
  assert_output --partial "they overlapped"
}

@test "sleepers --blocking: a plain sleep stalls every coroutine (one at a time)" {
  run --separate-stderr timeout 30 "$LAB/$L/sleepers" --blocking -u 20
  assert_success
  [[ "${lines[0]}" == *"heng "*"going to sleep"* ]]
  [[ "${lines[1]}" == *"heng "*"woke up"* ]]
  [[ "${lines[2]}" == *"ha "*"going to sleep"* ]]
  [[ "${lines[3]}" == *"ha "*"woke up"* ]]
  [[ "${lines[4]}" == *"heiheihei going to sleep"* ]]
  [[ "${lines[5]}" == *"heiheihei woke up"* ]]
}

@test "sleepers --cpu: computing tasks interleave but finish no sooner" {
  run timeout 60 "$LAB/$L/sleepers" --cpu -u 40
  assert_success
  assert_output --partial "one after another"
  assert_output --regexp 'switches: [0-9.]+ times the plain calls'
}

@test "overflow: a coroutine that overflows its stack dies of SIGSEGV in its guard page" {
  run timeout 30 "$LAB/$L/overflow"
  [ "$status" -eq 139 ]       # 128 + SIGSEGV: killed, not exited
  assert_output --partial "inside deep's guard page"
  refute_output --partial "canary"
}

@test "switches: prints the cost of each kind of switch" {
  run timeout 60 "$LAB/$L/switches" -n 2000
  assert_success
  assert_output --regexp 'swapcontext .* [0-9]+ ns'
  assert_output --regexp 'green_yield .* [0-9]+ ns'
  assert_output --regexp 'thread switch .* [0-9]+ ns'
  assert_output --regexp 'process switch .* [0-9]+ ns'
}
