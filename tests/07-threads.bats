#!/usr/bin/env bats
# 07-threads: the thread-per-client echo-upper server (server.c), the same
# server in socketserver's shape (socketserver.c), the client, and the demos.

load helpers
load two-servers

L=07-threads
SERVERS="server socketserver"

# threads PID - how many threads PID runs besides its main thread. A
# ThreadSanitizer build has one more, started by its runtime at the first
# pthread_create(): that one is not counted either.
threads() {
  local n
  n=$(( $(ls "/proc/$1/task" | wc -l) - 1 ))
  if [ "$TSAN" -eq 1 ] && [ "$n" -gt 0 ]; then n=$((n - 1)); fi
  echo "$n"
}
TSAN=0
grep -qa __tsan_init "$LAB/$L/server" 2>/dev/null && TSAN=1

# count_threads PID N - true when PID has exactly N client threads
count_threads() { [ "$(threads "$1")" -eq "$2" ]; }

# count_workers PID N - what tests/two-servers.bash counts: here, client threads
count_workers() { count_threads "$@"; }

# fds PID - how many descriptors PID has open
fds() { ls "/proc/$1/fd" | wc -l; }

# count_fds PID N - true when PID has exactly N descriptors open
count_fds() { [ "$(fds "$1")" -eq "$2" ]; }

# asleep_in_futex PID - true when PID's main thread sleeps in a futex (a
# pthread wait), or when the kernel does not say where it sleeps (wchan 0)
asleep_in_futex() {
  local wchan
  wchan=$(cat "/proc/$1/wchan" 2>/dev/null) || return 1
  [ "$wchan" = 0 ] || [[ "$wchan" == *futex* ]]
}

# teardown - stop what the test started, then fail if any program the test
# ran in the background (servers, peers, clients) reported a sanitizer
# finding on its stderr: a report does not always change an exit status
# the test looks at (a server killed by teardown, a race in a thread)
teardown() {
  lab_teardown
  local found
  found=$(grep -lE 'WARNING: ThreadSanitizer|ERROR: (Address|Leak)Sanitizer|runtime error:' \
    "$BATS_TEST_TMPDIR"/*.err 2>/dev/null) || return 0
  echo "# sanitizer report in: $found" >&2
  sed 's/^/# /' $found >&2
  return 1
}

# --- the contract ---------------------------------------------------------

@test "ready line is exactly 'listening on 127.0.0.1:PORT' (both servers)" { check_ready_line; }

@test "--help prints the usage on stdout and exits 0" { check_help; }

@test "a bad option or argument exits 2 with a reason and the usage" {
  for prog in $SERVERS; do
    run "$LAB/$L/$prog" --bogus
    assert_failure 2
    assert_output --partial "Usage:"
    run "$LAB/$L/$prog" -p 99999
    assert_failure 2
    assert_output --partial "bad port"
    run "$LAB/$L/$prog" -m -3
    assert_failure 2
    assert_output --partial "bad -m"
  done
  run "$LAB/$L/client" -x
  assert_failure 2
  assert_output --partial "Usage:"
}

@test "a port in use exits 1 naming bind and the cause" { check_port_in_use; }

@test "SIGTERM to the group: exit 0, nothing left (idle, and with clients)" { check_stop_group; }

@test "SIGTERM or SIGINT with threads asleep in recv() and send(): exit 0" {
  for prog in $SERVERS; do
    for sig in TERM INT; do
      start_prog $prog
      exec {conn}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
      printf 'hi\n' >&$conn
      read -r -t "$LAB_WAIT" reply <&$conn
      [ "$reply" = "HI" ]                   # a thread asleep in recv()
      start_bg flood-$prog-$sig "$TOOLS/peer" flood -p "$SERVER_PORT"
      wait_until "$LAB_WAIT" count_threads "$SERVER_PID" 2   # one in send()
      kill "-$sig" "$SERVER_PID"
      wait_exit "$SERVER_PID"
      [ "$EXIT_STATUS" -eq 0 ]
      run cat <&$conn                       # the client saw the end
      assert_output ""
      exec {conn}>&-
    done
  done
}

@test "SIGTERM with 300 threads: every one finishes its client before exit 0" {
  # The stop waits for the threads by the clock, not by counting wake-ups:
  # 300 threads ending at once wake the main thread 300 times.
  for prog in $SERVERS; do
    start_prog $prog -m 400
    fifo="$BATS_TEST_TMPDIR/hold-$prog"
    start_bg_input hold-$prog "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 300
    exec {feed}>"$fifo"
    wait_for_line "$BG_OUT" '^holding 300$'
    wait_until "$LAB_WAIT" count_threads "$SERVER_PID" 300
    kill -TERM "$SERVER_PID"
    wait_exit "$SERVER_PID"
    [ "$EXIT_STATUS" -eq 0 ]
    run grep -c 'closed' "$SERVER_ERR"
    assert_output 300
    run grep 'did not end' "$SERVER_ERR"
    assert_output ""
    exec {feed}>&-
  done
}

@test "client: connection refused is one clear line and exit 1" { check_client_refused; }

# --- echo-upper, byte for byte --------------------------------------------

@test "lab client: lines upper-cased, empty lines skipped, Chinese unchanged" { check_lab_client_lines; }

@test "socat (an independent client) gets the same bytes back" { check_socat; }

@test "1 MiB of binary data comes back whole and in order, then half-close" { check_binary_1mib; }

# --- survival ---------------------------------------------------------------

@test "a client that resets, and one that sends garbage and leaves, cost nothing" { check_reset_and_garbage; }

@test "a client that never reads stalls only its own thread" {
  for prog in $SERVERS; do
    start_prog $prog
    start_bg flood-$prog "$TOOLS/peer" flood -p "$SERVER_PORT"
    wait_until "$LAB_WAIT" count_threads "$SERVER_PID" 1
    run client $L <<<"served anyway"
    assert_output "SERVED ANYWAY"
  done
}

@test "300 clients at once: 300 threads, then no thread or descriptor left over" {
  for prog in $SERVERS; do
    start_prog $prog -m 400
    base_fds=$(fds "$SERVER_PID")
    fifo="$BATS_TEST_TMPDIR/hold-$prog"
    start_bg_input hold-$prog "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 300
    exec {feed}>"$fifo"
    wait_for_line "$BG_OUT" '^holding 300$'
    wait_until "$LAB_WAIT" count_threads "$SERVER_PID" 300
    exec {feed}>&-                          # the peer closes all 300
    wait_until "$LAB_WAIT" count_lines "$SERVER_ERR" 'closed' 300
    wait_until "$LAB_WAIT" count_threads "$SERVER_PID" 0
    wait_until "$LAB_WAIT" count_fds "$SERVER_PID" "$base_fds"
    # 300 threads logged at once, yet every line is whole: one write() each
    run grep -cvE "^$prog: (connection from|closed) 127\.0\.0\.1:[0-9]+(,| \(0 bytes\)$)" "$SERVER_ERR"
    assert_output 0
    run client $L <<<"after 300"
    assert_output "AFTER 300"
  done
}

@test "1000 clients one after another: no thread or descriptor leaked" {
  start_prog server
  base_fds=$(fds "$SERVER_PID")
  for i in $(seq 1000); do
    exec {conn}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    exec {conn}>&-
  done
  wait_until "$LAB_WAIT" count_lines "$SERVER_ERR" 'closed' 1000
  wait_until "$LAB_WAIT" count_threads "$SERVER_PID" 0
  wait_until "$LAB_WAIT" count_fds "$SERVER_PID" "$base_fds"
}

@test "5000 short connections (load --short): no error, no thread or descriptor left" {
  for prog in $SERVERS; do
    start_prog $prog
    base_fds=$(fds "$SERVER_PID")
    run timeout -k 2 120 "$TOOLS/load" -p "$SERVER_PORT" --short -c 8 -n 5000
    assert_success
    assert_output --regexp ' errors=0 '
    requests=$(sed -n 's/.* requests=\([0-9]*\) .*/\1/p' <<<"$output")
    [ "$requests" -ge 5000 ]                  # (load may finish a few in flight)
    wait_until "$LAB_WAIT" count_threads "$SERVER_PID" 0
    wait_until "$LAB_WAIT" count_fds "$SERVER_PID" "$base_fds"
  done
}

@test "-m 2: a third client waits in the backlog until a thread ends" { check_limit_backlog; }

@test "-m 1: at the limit, SIGTERM ends the server even when the wall clock is set back" {
  # The wait at the limit is bounded (100 ms), but a deadline on the wall
  # clock (CLOCK_REALTIME, pthread_cond_timedwait's default) moves with
  # it: set back an hour (NTP, an administrator, a resumed VM) while the
  # server waits, and the 100 ms last an hour, deaf to SIGTERM. A
  # preloaded clock_gettime() that reads the wall clock an hour ahead
  # plays the step. A sanitizer's runtime or a wrapper would interpose
  # clock_gettime() first.
  if grep -aqE '__(tsan|asan)_init' "$LAB/$L/server" || [ -n "$LAB_WRAP" ]; then
    skip "needs a build without sanitizers or wrapper"
  fi
  shim=$BATS_TEST_TMPDIR/clock-ahead
  cat >"$shim.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <time.h>
int clock_gettime(clockid_t id, struct timespec *ts)
{
    int (*real)(clockid_t, struct timespec *) =
        (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    int rc = real(id, ts);

    if (rc == 0 && id == CLOCK_REALTIME)
        ts->tv_sec += 3600;
    return rc;
}
EOF
  "${CC:-cc}" -shared -fPIC -o "$shim.so" "$shim.c" -ldl || skip "cannot build the preload"
  for prog in $SERVERS; do
    start_server_cmd env LD_PRELOAD="$shim.so" "$LAB/$L/$prog" -p 0 -m 1
    exec {c1}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    printf 'one\n' >&$c1
    read -r -t "$LAB_WAIT" reply <&$c1
    [ "$reply" = "ONE" ]
    exec {c2}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"   # waits in the backlog
    printf 'two\n' >&$c2
    wait_until "$LAB_WAIT" queued_at_least "$SERVER_PORT" 4
    wait_until "$LAB_WAIT" asleep_in_futex "$SERVER_PID"   # in the wait
    kill -TERM "$SERVER_PID"
    wait_exit "$SERVER_PID"
    [ "$EXIT_STATUS" -eq 0 ]
    exec {c1}>&- {c2}>&-
  done
}

@test "EMFILE under ulimit -n 64: accept fails, then service resumes" {
  for prog in $SERVERS; do
    start_server_cmd bash -c "ulimit -n 64 && exec '$LAB/$L/$prog' -p 0 -m 200"
    base_fds=$(fds "$SERVER_PID")
    fifo="$BATS_TEST_TMPDIR/hold-$prog"
    start_bg_input hold-$prog "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 100
    exec {feed}>"$fifo"
    wait_for_line "$BG_OUT" '^holding 100$'
    wait_for_line "$SERVER_ERR" 'accept: Too many open files'
    [ "$(grep -c 'accept:' "$SERVER_ERR")" -eq 1 ]   # one line, not a flood
    exec {feed}>&-                          # descriptors come back...
    wait_until "$LAB_WAIT" count_lines "$SERVER_ERR" 'closed' 100
    run client $L <<<"service resumes"      # ...and the server serves again
    assert_output "SERVICE RESUMES"
    wait_until "$LAB_WAIT" count_threads "$SERVER_PID" 0
    wait_until "$LAB_WAIT" count_fds "$SERVER_PID" "$base_fds"   # nothing leaked
  done
}

@test "pthread_create fails (EAGAIN under ulimit -v): that client only, then service resumes" {
  # Room in the address space for a few 8 MiB thread stacks, no more. A
  # sanitizer reserves terabytes of shadow memory: it cannot run so limited.
  if grep -aqE '__(tsan|asan)_init' "$LAB/$L/server" || [ -n "$LAB_WRAP" ]; then
    skip "needs a build without sanitizers or wrapper"
  fi
  for prog in $SERVERS; do
    start_server_cmd bash -c "ulimit -s 8192 && ulimit -v 40000 && exec '$LAB/$L/$prog' -p 0 -m 100"
    base_fds=$(fds "$SERVER_PID")
    fifo="$BATS_TEST_TMPDIR/hold-$prog"
    start_bg_input hold-$prog "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 10
    exec {feed}>"$fifo"
    wait_for_line "$BG_OUT" '^holding 10$'
    wait_for_line "$SERVER_ERR" "pthread_create for .*: Resource temporarily unavailable"
    kill -0 "$SERVER_PID"                   # the server lives on
    exec {feed}>&-                          # the held clients leave...
    # ...and all 10 have been dealt with (served, or lost to EAGAIN), so
    # that none is left in the backlog to race the next client for a stack
    wait_until "$LAB_WAIT" count_lines "$SERVER_ERR" 'closed|pthread_create for|recv from|send to' 10
    wait_until "$LAB_WAIT" count_threads "$SERVER_PID" 0
    wait_until "$LAB_WAIT" count_fds "$SERVER_PID" "$base_fds"   # nothing leaked
    run client $L <<<"service resumes"      # ...and the server serves again
    assert_output "SERVICE RESUMES"
  done
}

# --- the lesson's point: a thread per client ------------------------------

@test "two clients are served at the same time, by two threads of one process" {
  for prog in $SERVERS; do
    start_prog $prog
    exec {c1}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    printf 'one\n' >&$c1
    read -r -t "$LAB_WAIT" reply <&$c1
    [ "$reply" = "ONE" ]
    exec {c2}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    printf 'two\n' >&$c2
    read -r -t "$LAB_WAIT" reply <&$c2
    [ "$reply" = "TWO" ]
    [ "$(threads "$SERVER_PID")" -eq 2 ]    # one per client
    [ -z "$(ps -o pid= --ppid "$SERVER_PID")" ]   # and no child process
    exec {c1}>&- {c2}>&-
  done
}

@test "the two socketserver.c files differ only in the mix-in's worker functions and words" {
  a=$LAB/06-processes/socketserver.c b=$LAB/$L/socketserver.c lib=$LAB/lib/socketserver.c
  # BaseServer, TCPServer, the handler and the mix-in's shared methods
  # are written once, in lib/socketserver.c: neither lesson has its own
  # copy, and both use that one
  for fn in serve_forever handle_request_noblock get_request finish_request \
            shutdown_request server_close add_worker remove_worker \
            process_request service_actions stop_workers echo_setup \
            echo_handle echo_finish socketserver_main; do
    [ "$(grep -c "^[a-z][a-z_ ]*[ *]$fn(" "$lib")" -eq 1 ] || fail "$fn() is not in lib/socketserver.c once"
    for f in "$a" "$b"; do
      run grep -n "^[a-z][a-z_ ]*[ *]$fn(" "$f"
      [ -z "$output" ] || fail "$f has its own $fn(): $output"
    done
  done
  for f in "$a" "$b"; do
    grep -qx '#include "../lib/socketserver.h"' "$f" || fail "$f does not use lib/socketserver.h"
    grep -q 'return socketserver_main(argc, argv, "900[67]", &[a-z]*_mixin,' "$f" \
      || fail "$f does not run lib's server with its mix-in"
  done
  # both files define the same worker functions, in the same order
  names() { sed -n '/^\/\* ---- \(Forking\|Threading\)MixIn/,/^\/\* ---- the program/s/^static [a-z_ ]*[ *]\([a-z_]*\)(.*/\1/p' "$1"; }
  [ -n "$(names "$a")" ] || fail "no mix-in block in $a"
  [ "$(names "$a" | grep -v -e on_sigchld -e forget_child -e serve_in_child -e process_request_thread)" = \
    "$(names "$b" | grep -v -e on_sigchld -e forget_child -e serve_in_child -e process_request_thread)" ]
  # outside the header comment and the ForkingMixIn/ThreadingMixIn block,
  # only a handful of lines differ (includes, port, the mix-in's name)
  strip() { sed -e '1,/^ \*\//d' -e '/^\/\* ---- \(Forking\|Threading\)MixIn/,/^\/\* ---- the program/d' "$1"; }
  run diff <(strip "$a") <(strip "$b")
  n=$(grep -c '^[<>]' <<<"$output")
  [ "$n" -le 14 ] || fail "$n lines differ outside the mix-in block: $output"
}

# --- the demos ------------------------------------------------------------

@test "basics: both ways to start, join, shared money 666, names, active count" {
  # -u 300: Thread-1 (one unit) must be over when Thread-2 (two) is
  # joined; a margin of 300 ms holds on a loaded machine
  run timeout -k 2 30 "$LAB/$L/basics" -u 300
  assert_success
  assert_line "egon is running"
  assert_line "egon is over"
  assert_line "egon is over (MyThread)"
  assert_line "main: joined MyThread"
  assert_line "main: money = 666 after the thread (one memory, shared)"
  assert_line "hello world from Thread-1"
  assert_line "hello world from Thread-2"
  # (a sanitizer may add a thread of its own to both counts)
  alive=$(sed -n 's/^main: \([0-9]*\) threads alive.*/\1/p' <<<"$output")
  after=$(sed -n 's/^main (MainThread): \([0-9]*\) thread alive after joining Thread-2$/\1/p' <<<"$output")
  [ "$alive" -ge 3 ]
  [ $((alive - after)) -eq 2 ]
}

@test "daemon: join vs return vs pthread_exit decide which threads finish" {
  # -u 300: t1 (one unit) must end before t2 (three units) is joined
  run timeout -k 2 30 "$LAB/$L/daemon" -u 300
  assert_success
  assert_line "end123"
  assert_line "end456"
  run timeout -k 2 30 "$LAB/$L/daemon" -u 5000 --return
  assert_success
  refute_line "end123"
  refute_line "end456"
  # each thread has said its first line before main goes on: no race
  [ "${lines[0]}" = "123" ] && [ "${lines[1]}" = "456" ] && [ "${lines[2]}" = "main......" ]
  # Under ThreadSanitizer the runtime's own thread never ends, so a process
  # whose main thread called pthread_exit() would never end either.
  [ "$TSAN" -eq 1 ] && skip "--pthread-exit waits for the sanitizer's thread"
  run timeout -k 2 30 "$LAB/$L/daemon" -u 50 --pthread-exit
  assert_success
  assert_line "end123"
  assert_line "end456"
}

@test "cpu_vs_io: prints the table with the Python notes' figures beside C's" {
  run timeout -k 2 60 "$LAB/$L/cpu_vs_io" -c 4 -i 1000000 -n 50 -s 100
  assert_success
  assert_line --regexp '^cores: [0-9]+'
  assert_line --regexp '^4 CPU-bound tasks \(1000000 loops\) +[0-9.]+ s +[0-9.]+ s +38\.7 s +9\.7 s$'
  assert_line --regexp '^50 IO-bound tasks \(sleep 100 ms\) +[0-9.]+ s +[0-9.]+ s +2\.0 s +11\.8 s$'
}
