#!/usr/bin/env bats
# 09-pools: the echo-upper server served by a thread pool or a pre-forked
# process pool, the client, and the futures demo.

load helpers

L=09-pools
MODES="threads processes"

# count_lines FILE REGEX - how many lines of FILE match the extended REGEX
count_lines() { grep -Ec -- "$2" "$1" 2>/dev/null || true; }

# lines_at_least FILE REGEX N - true once N lines of FILE match REGEX
lines_at_least() { [ "$(count_lines "$1" "$2")" -ge "$3" ]; }

# thread_count PID - threads of one process (its /proc/PID/task entries),
# less the background thread ThreadSanitizer adds to a program built with it
thread_count() {
  local n
  n=$(ls "/proc/$1/task" | wc -l)
  grep -aq __tsan_init "$LAB/$L/server" && n=$((n - 1))
  echo "$n"
}

# process_count PGID - live processes in the server's process group
process_count() { group_processes "$1" | wc -l; }

# accept_queue PORT - connections the kernel holds for the listening socket
# on PORT, not yet accepted (Recv-Q of a LISTEN socket in ss)
accept_queue() {
  ss -Hltn "( sport = :$1 )" 2>/dev/null | awk '{ s += $2 } END { print s + 0 }'
}

# The helpers below re-measure on every call: `wait_until SECS test
# "$(cmd)" ...` would measure once, before wait_until starts polling.

# server_bytes_at_least PORT N - N bytes or more wait unread at the server
server_bytes_at_least() { [ "$(recv_queue_bytes "$1")" -ge "$2" ]; }

# accept_queue_is PORT N - exactly N connections wait to be accepted
accept_queue_is() { [ "$(accept_queue "$1")" -eq "$2" ]; }

# processes_are PGID N - exactly N live processes in the group
processes_are() { [ "$(process_count "$1")" -eq "$2" ]; }

# --- the contract, in both modes -------------------------------------------

@test "ready line is exactly 'listening on 127.0.0.1:PORT' in both modes" {
  for mode in $MODES; do
    start_server $L --pool "$mode" -w 2
    run cat "$SERVER_OUT"
    assert_output --regexp '^listening on 127\.0\.0\.1:[0-9]+$'
    stop_server
  done
}

@test "--help prints the usage with Python's default pool sizes, exit 0" {
  run "$LAB/$L/server" --help
  assert_success
  assert_output --partial "Usage:"
  assert_output --partial "--pool threads|processes"
  cpus=$(getconf _NPROCESSORS_ONLN)
  threads=$(( cpus + 4 < 32 ? cpus + 4 : 32 ))
  assert_output --partial "threads min(32, cpus + 4) = $threads"
  assert_output --partial "processes cpus = $cpus"
  run "$LAB/$L/client" --help
  assert_success
  assert_output --partial "Usage:"
  run "$LAB/$L/futures" --help
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
  run "$LAB/$L/server" --pool fibres
  assert_failure 2
  assert_output --partial "bad pool 'fibres'"
  for w in 0 -3 x 257 99999999999; do
    run "$LAB/$L/server" -w "$w"
    assert_failure 2
    assert_output --partial "bad worker count"
  done
  run "$LAB/$L/server" extra
  assert_failure 2
  run "$LAB/$L/client" -x
  assert_failure 2
  assert_output --partial "Usage:"
  run "$LAB/$L/futures" --pool fibres
  assert_failure 2
  assert_output --partial "Usage:"
  for arg in "-w x" "-n 0" "-n 61" "-d -5"; do
    run "$LAB/$L/futures" $arg
    assert_failure 2
    assert_output --partial "Usage:"
  done
}

@test "a port in use exits 1 naming bind and the cause, in both modes" {
  start_server $L
  for mode in $MODES; do
    run "$LAB/$L/server" -p "$SERVER_PORT" --pool "$mode"
    assert_failure 1
    assert_output "server: bind 127.0.0.1:$SERVER_PORT: Address already in use (is another server on port $SERVER_PORT? use -p PORT, or -p 0 for any free port)"
  done
}

@test "SIGTERM to the group: exit 0, no worker left, also while clients are connected" {
  for mode in $MODES; do
    start_server $L --pool "$mode" -w 3
    exec {idle}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    exec {busy}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    printf 'x\n' >&$busy
    read -r -t "$LAB_WAIT" reply <&$busy
    [ "$reply" = "X" ]
    wait_until "$LAB_WAIT" lines_at_least "$SERVER_ERR" 'connection from' 2
    stop_server                         # fails if anything of the group is left
    [ "$STOP_STATUS" -eq 0 ]
    exec {idle}>&- {busy}>&-
  done
}

@test "SIGTERM or SIGINT to the server alone ends every worker it started" {
  # Only the server's own pid gets the signal: it must end its workers
  # itself (threads blocked in recv, or worker processes).
  for mode in $MODES; do
    for sig in TERM INT; do
      start_server $L --pool "$mode" -w 3
      exec {conn}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
      printf 'hi\n' >&$conn
      read -r -t "$LAB_WAIT" reply <&$conn
      [ "$reply" = "HI" ]
      kill -"$sig" "$SERVER_PID"
      wait_exit "$SERVER_PID"
      [ "$EXIT_STATUS" -eq 0 ]
      wait_until 5 processes_are "$SERVER_PID" 0
      # the server closed our connection: end of file, not a hang
      run timeout 5 cat <&$conn
      assert_success
      exec {conn}>&-
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

# --- echo-upper, byte for byte, in both modes ------------------------------

@test "lab client: lines upper-cased, empty lines skipped, Chinese unchanged" {
  for mode in $MODES; do
    start_server $L --pool "$mode" -w 2
    run client $L <<<$'hello\n\nworld 42\n你好, world: 网络编程 ü'
    assert_success
    assert_output $'HELLO\nWORLD 42\n你好, WORLD: 网络编程 ü'
    stop_server
  done
}

@test "socat (an independent client) gets the same bytes back" {
  for mode in $MODES; do
    start_server $L --pool "$mode" -w 2
    run socat_send $'abc\ndef\n'
    assert_success
    assert_output $'ABC\nDEF'
    stop_server
  done
}

@test "1 MiB of binary data comes back whole and in order, then half-close" {
  for mode in $MODES; do
    start_server $L --pool "$mode" -w 2
    run peer echo -n 1048576 -c 1000
    assert_success
    assert_output "ok 1048576"
    run peer echo -n 30000 -c 3
    assert_success
    assert_output "ok 30000"
    stop_server
  done
}

# --- survival ----------------------------------------------------------------

@test "a client that resets, and one that sends garbage and leaves, cost nothing" {
  for mode in $MODES; do
    start_server $L --pool "$mode" -w 1
    run peer reset -s "half a message"
    assert_success
    run peer garbage -n 200000
    assert_success
    run client $L <<<"still here"
    assert_success
    assert_output "STILL HERE"
    stop_server
  done
}

@test "a client that never reads holds one worker; the other serves everyone else" {
  for mode in $MODES; do
    start_server $L --pool "$mode" -w 2
    start_bg flood "$TOOLS/peer" flood -p "$SERVER_PORT"
    # The flood has a worker: it is blocked in send() to a full socket.
    wait_for_line "$SERVER_ERR" 'connection from'
    wait_until "$LAB_WAIT" server_bytes_at_least "$SERVER_PORT" 1
    for i in 1 2 3; do
      run client $L <<<"client $i"
      assert_success
      assert_output "CLIENT $i"
    done
    stop_server                         # the worker blocked in send() is woken
    [ "$STOP_STATUS" -eq 0 ]
  done
}

@test "100 held connections: the server keeps its N workers and serves after" {
  for mode in $MODES; do
    start_server $L --pool "$mode" -w 4
    fifo="$BATS_TEST_TMPDIR/hold-$mode"
    start_bg_input "hold-$mode" "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 100 -s "x"
    holder=$BG_PID
    exec {feed}>"$fifo"
    wait_for_line "$BG_OUT" '^holding 100$'
    wait_until "$LAB_WAIT" lines_at_least "$SERVER_ERR" 'connection from' 4
    if [ "$mode" = threads ]; then
      # main thread + 4 workers, one process
      [ "$(thread_count "$SERVER_PID")" -eq 5 ]
      [ "$(process_count "$SERVER_PID")" -eq 1 ]
    else
      # the parent + 4 worker processes
      [ "$(process_count "$SERVER_PID")" -eq 5 ]
    fi
    exec {feed}>&-
    wait_exit "$holder"
    run client $L <<<"after the crowd"
    assert_output "AFTER THE CROWD"
    wait_until "$LAB_WAIT" lines_at_least "$SERVER_ERR" 'connection from' 101
    stop_server
  done
}

# group_fds PGID - open descriptors of every process of the group, summed
group_fds() {
  local pid n=0
  for pid in $(group_processes "$1"); do
    n=$(( n + $(ls "/proc/$pid/fd" 2>/dev/null | wc -l) ))
  done
  echo "$n"
}

# group_fds_are PGID N - exactly N descriptors open in the group
group_fds_are() { [ "$(group_fds "$1")" -eq "$2" ]; }

@test "400 short connections leak no descriptor, in both modes" {
  for mode in $MODES; do
    start_server $L --pool "$mode" -w 3
    [ "$mode" = threads ] || wait_until "$LAB_WAIT" lines_at_least "$SERVER_ERR" 'accepting' 3
    before=$(group_fds "$SERVER_PID")
    run timeout -k 2 60 "$TOOLS/load" -p "$SERVER_PORT" --short -c 4 -n 400
    assert_success
    assert_output --partial "errors=0"
    # load is done once it has its replies; the server closes its side
    # when it reads the client's end of file, perhaps a moment later
    wait_until "$LAB_WAIT" group_fds_are "$SERVER_PID" "$before"
    stop_server
  done
}

@test "processes: a worker killed with SIGKILL costs its clients only, and is replaced" {
  start_server $L --pool processes -w 2
  wait_until "$LAB_WAIT" lines_at_least "$SERVER_ERR" 'accepting' 2
  victim=$(sed -nE 's/.*worker [0-9]+ \(pid ([0-9]+)\): accepting.*/\1/p' "$SERVER_ERR" | head -n 1)
  kill -KILL "$victim"
  # reaped (no zombie left), and a new worker forked in its place
  wait_until "$LAB_WAIT" lines_at_least "$SERVER_ERR" ': accepting' 3
  wait_until "$LAB_WAIT" processes_are "$SERVER_PID" 3
  run ps -o stat= -p "$victim"
  assert_failure
  for i in 1 2 3; do
    run client $L <<<"survivor $i"
    assert_output "SURVIVOR $i"
  done
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
  run cat "$SERVER_ERR"
  assert_output --partial "a worker died before it stopped"
}

@test "threads: out of descriptors (EMFILE), the server waits and then serves again" {
  # With 16 descriptors, the main thread runs out after about 12 accepts.
  start_server_cmd bash -c "ulimit -n 16; exec '$LAB/$L/server' -p 0 -w 4"
  fifo="$BATS_TEST_TMPDIR/hold"
  start_bg_input hold "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 30
  holder=$BG_PID
  exec {feed}>"$fifo"
  wait_for_line "$BG_OUT" '^holding 30$'
  wait_for_line "$SERVER_ERR" 'accept: Too many open files'
  exec {feed}>&-
  wait_exit "$holder"
  wait_until "$LAB_WAIT" lines_at_least "$SERVER_ERR" 'connection from' 30
  run client $L <<<"served again"
  assert_output "SERVED AGAIN"
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
}

# --- the lesson's point: a fixed pool ---------------------------------------

@test "with -w 2, two clients are served at once and a third waits for a free worker" {
  for mode in $MODES; do
    start_server $L --pool "$mode" -w 2

    # Clients 1 and 2 are served at the same time.
    exec {c1}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    exec {c2}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    printf 'one\n' >&$c1
    printf 'two\n' >&$c2
    read -r -t "$LAB_WAIT" reply <&$c1; [ "$reply" = "ONE" ]
    read -r -t "$LAB_WAIT" reply <&$c2; [ "$reply" = "TWO" ]

    # Client 3 connects and sends: its bytes reach the server's kernel...
    fifo="$BATS_TEST_TMPDIR/c3-$mode"
    start_bg_input "c3-$mode" "$fifo" "$LAB/$L/client" -p "$SERVER_PORT"
    c3=$BG_PID c3_out=$BG_OUT
    exec {feed}>"$fifo"
    printf 'three\n' >&$feed
    wait_until "$LAB_WAIT" server_bytes_at_least "$SERVER_PORT" 6
    if [ "$mode" = threads ]; then
      # ...the main thread accepted it and queued it for the pool...
      wait_until "$LAB_WAIT" lines_at_least "$SERVER_ERR" '^server: accepted' 3
    fi
    # ...but no worker is free to serve it.
    [ "$(count_lines "$SERVER_ERR" 'connection from')" -eq 2 ]
    [ ! -s "$c3_out" ]

    # Client 1 leaves: its worker takes client 3.
    exec {c1}>&-
    wait_for_line "$c3_out" '^THREE$'
    [ "$(count_lines "$SERVER_ERR" 'connection from')" -eq 3 ]
    exec {feed}>&-
    wait_exit "$c3"
    [ "$EXIT_STATUS" -eq 0 ]
    exec {c2}>&-
    stop_server
  done
}

@test "threads: at most 16 accepted connections wait; the rest stay in the kernel" {
  start_server $L --pool threads -w 1
  fifo="$BATS_TEST_TMPDIR/hold"
  start_bg_input hold "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 21
  holder=$BG_PID
  exec {feed}>"$fifo"
  wait_for_line "$BG_OUT" '^holding 21$'
  # 1 served + 16 queued + 1 accepted whose submit waits = 18 accepted;
  # the other 3 wait, not accepted, in the listening socket's queue.
  wait_until "$LAB_WAIT" accept_queue_is "$SERVER_PORT" 3
  wait_until "$LAB_WAIT" lines_at_least "$SERVER_ERR" '^server: accepted' 18
  [ "$(count_lines "$SERVER_ERR" '^server: accepted')" -eq 18 ]
  grep -q 'accepted .*, 16 already waiting' "$SERVER_ERR"
  [ "$(thread_count "$SERVER_PID")" -eq 2 ]
  exec {feed}>&-
  wait_exit "$holder"
  run client $L <<<"next"
  assert_output "NEXT"
  stop_server
}

@test "processes: N pre-forked workers, each accepting in its own process" {
  start_server $L --pool processes -w 3
  wait_until "$LAB_WAIT" lines_at_least "$SERVER_ERR" 'accepting' 3
  pids=$(sed -nE 's/.*\(pid ([0-9]+)\): accepting.*/\1/p' "$SERVER_ERR" | sort -u | wc -l)
  [ "$pids" -eq 3 ]
  [ "$(process_count "$SERVER_PID")" -eq 4 ]
  # Every worker is a child of the server, in its process group.
  for pid in $(group_processes "$SERVER_PID"); do
    [ "$pid" -eq "$SERVER_PID" ] || [ "$(ps -o ppid= -p "$pid" | tr -d ' ')" -eq "$SERVER_PID" ]
  done
  stop_server
}

@test "threads: the worker threads are the only extra threads, in one process" {
  start_server $L --pool threads -w 5
  wait_for_line "$SERVER_ERR" 'thread pool: 5 worker threads'
  [ "$(thread_count "$SERVER_PID")" -eq 6 ]
  [ "$(process_count "$SERVER_PID")" -eq 1 ]
  stop_server
}

# --- the futures demo ---------------------------------------------------------

@test "futures: 20 tasks of n**n on 5 threads, results exact and in order" {
  run timeout -k 2 60 "$LAB/$L/futures" --pool threads -d 20
  assert_success
  assert_output --partial ">>> 0 ** 0 = 1"
  assert_output --partial ">>> 15 ** 15 = 437893890380859375"
  assert_output --partial ">>> 16 ** 16 = 18446744073709551616"
  assert_output --partial ">>> 19 ** 19 = 1978419655660313589123979"
  # the results come out in submission order
  run bash -c "timeout -k 2 60 '$LAB/$L/futures' --pool threads -d 0 </dev/null | sed -nE 's/^>>> ([0-9]+) .*/\1/p' | paste -sd ' '"
  assert_output "$(seq -s ' ' 0 19)"
}

@test "futures: on processes, callbacks get every result, tasks run in 5 other pids" {
  run timeout -k 2 60 "$LAB/$L/futures" --pool processes -d 20 --callbacks
  assert_success
  [ "$(grep -c '^call_back>>>: ' <<<"$output")" -eq 20 ]
  assert_output --partial "call_back>>>: 19 ** 19 = 1978419655660313589123979"
  pids=$(sed -nE 's/^task [0-9]+ runs in pid ([0-9]+).*/\1/p' <<<"$output" | sort -u | wc -l)
  [ "$pids" -ge 1 ] && [ "$pids" -le 5 ]
  # and never in the main process
  main=$(sed -nE 's/^main runs in pid ([0-9]+).*/\1/p' <<<"$output")
  [ -n "$main" ]
  refute_output --partial "runs in pid $main,"
}

@test "futures: result(timeout) times out, done() is false, a late callback runs at once" {
  # 6 tasks of 1 s on 5 workers: the 6th cannot be done before 2 s have
  # passed, and the demo asks at once.
  run timeout -k 2 60 "$LAB/$L/futures" --pool threads -d 1000 -n 6
  assert_success
  assert_output --partial "timed out"
  assert_output --partial "done() = false"
  assert_output --partial "already done: the callback ran at once"
}

@test "futures: a worker process killed mid-task breaks its future; no callback sees a missing result" {
  # One task of 60 s on one worker: killing that worker is the only way
  # the task ends, so the future must come back broken (Python's
  # BrokenProcessPool), at once, and every callback must say so.
  start_bg futures "$LAB/$L/futures" --pool processes --callbacks -w 1 -n 1 -d 60000
  fut=$BG_PID fut_out=$BG_OUT
  wait_for_line "$fut_out" '^task 0 runs in pid [0-9]+' "$LAB_WAIT" "$fut"
  victim=$(sed -nE 's/^task 0 runs in pid ([0-9]+).*/\1/p' "$fut_out")
  kill -KILL "$victim"
  wait_exit "$fut"
  [ "$EXIT_STATUS" -eq 0 ]
  run cat "$fut_out"
  assert_output --partial "call_back>>>: 0 ** 0 = (worker died)"
  assert_output --partial "already done: the callback ran at once"
  refute_output --partial "(null)"
}

@test "processes: submitting while the last worker dies releases every future once" {
  # The submitter and the collector thread (which marks in-flight futures
  # broken when every worker is gone) race for the same future; under
  # AddressSanitizer a second release shows as a use after free.
  run timeout -k 2 60 "$TOOLS/09-poolbreak" 300
  assert_success
  assert_output "ok 300"
}

@test "processes: SIGTERM to one worker ends that worker only; it is replaced, the others serve on" {
  start_server $L --pool processes -w 2
  wait_until "$LAB_WAIT" lines_at_least "$SERVER_ERR" 'accepting' 2
  victim=$(sed -nE 's/.*worker [0-9]+ \(pid ([0-9]+)\): accepting.*/\1/p' "$SERVER_ERR" | head -n 1)
  kill -TERM "$victim"
  wait_for_line "$SERVER_ERR" "worker [0-9]+ \\(pid $victim\\) ended with status 0; starting another"
  wait_until "$LAB_WAIT" lines_at_least "$SERVER_ERR" ': accepting' 3
  wait_until "$LAB_WAIT" processes_are "$SERVER_PID" 3
  for i in 1 2 3; do
    run client $L <<<"still open $i"
    assert_output "STILL OPEN $i"
  done
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
}

@test "SIGTERM to the server alone with every worker busy and connections queued" {
  # threads: 1 worker busy, 16 connections in the pool's queue and the
  # main thread asleep in submit for room; processes: 1 worker busy, the
  # rest in the kernel's accept queue.
  for mode in $MODES; do
    start_server $L --pool "$mode" -w 1
    fifo="$BATS_TEST_TMPDIR/hold-$mode"
    start_bg_input "hold-$mode" "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 21 -s x
    holder=$BG_PID
    exec {feed}>"$fifo"
    wait_for_line "$BG_OUT" '^holding 21$'
    if [ "$mode" = threads ]; then
      wait_until "$LAB_WAIT" accept_queue_is "$SERVER_PORT" 3
      wait_until "$LAB_WAIT" lines_at_least "$SERVER_ERR" '16 already waiting' 1
    else
      wait_until "$LAB_WAIT" accept_queue_is "$SERVER_PORT" 20
    fi
    wait_until "$LAB_WAIT" lines_at_least "$SERVER_ERR" 'connection from' 1
    kill -TERM "$SERVER_PID"
    wait_exit "$SERVER_PID"
    [ "$EXIT_STATUS" -eq 0 ]
    wait_until 5 processes_are "$SERVER_PID" 0
    exec {feed}>&-
    wait_exit "$holder"
  done
}

@test "futures: on threads, every done-callback runs exactly once" {
  run timeout -k 2 60 "$LAB/$L/futures" --pool threads --callbacks -w 3 -n 60 -d 0
  assert_success
  [ "$(grep -c '^call_back>>>: ' <<<"$output")" -eq 60 ]
  [ "$(grep '^call_back>>>: ' <<<"$output" | sort -u | wc -l)" -eq 60 ]
  assert_output --partial "call_back>>>: 59 ** 59 = "
}

# --- a pool that never shrinks, made whole before the ready line ------------

# worker_pids PID - the live worker processes (children) of the server
worker_pids() { ps -o pid=,stat= --ppid "$1" | awk '$2 !~ /^Z/ { print $1 }'; }

# zombies_of PID - how many children of PID are zombies (dead, not reaped)
zombies_of() { ps -o stat= --ppid "$1" | grep -c '^Z' || true; }

# AS_NOBODY - a prefix that runs a command as the user nobody: RLIMIT_NPROC
# binds every user but root (the kernel exempts root, and any process with
# CAP_SYS_RESOURCE or CAP_SYS_ADMIN), so the tests that run out of
# processes drop root first.
# NPROC_UID - the user whose processes the limit then counts.
if [ "$(id -u)" -eq 0 ]; then
  AS_NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups" NPROC_UID=65534
else
  AS_NOBODY="" NPROC_UID=$(id -u)
fi

# tasks_of_uid UID - processes and threads the user has now (what
# RLIMIT_NPROC counts)
tasks_of_uid() { ps -L -u "$1" -o lwp= | wc -l; }

@test "processes: kill one worker, then every worker, again and again under load: back within a second, no zombie, no other connection lost" {
  start_server $L --pool processes -w 3
  wait_until "$LAB_WAIT" lines_at_least "$SERVER_ERR" ': accepting' 3
  start_bg load "$TOOLS/load" -p "$SERVER_PORT" --short -c 4 -d 6
  loader=$BG_PID loader_out=$BG_OUT
  wait_until "$LAB_WAIT" lines_at_least "$SERVER_ERR" 'closed 127' 20     # under load
  killed=0 started=3
  for round in 1 2 3 4 5 6; do
    if [ $((round % 2)) -eq 1 ]; then
      victims=$(worker_pids "$SERVER_PID" | head -n 1)          # one worker
    else
      victims=$(worker_pids "$SERVER_PID")                      # every worker
    fi
    n=$(wc -w <<<"$victims")
    t0=$(date +%s%N)
    kill -KILL $victims
    killed=$((killed + n)) started=$((started + n))
    # reaped, logged and forked again: one 'accepting' line per new worker
    wait_until "$LAB_WAIT" lines_at_least "$SERVER_ERR" ': accepting' "$started"
    wait_until "$LAB_WAIT" processes_are "$SERVER_PID" 4
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    echo "# round $round: $n killed, 3 workers again after $ms ms"
    [ -n "$LAB_WRAP" ] || [ "$ms" -lt 1000 ]
    [ "$(zombies_of "$SERVER_PID")" -eq 0 ]
    for pid in $victims; do run ps -o stat= -p "$pid"; assert_failure; done
    [ "$(count_lines "$SERVER_ERR" 'a worker died before it stopped')" -eq "$killed" ]
  done
  wait_exit "$loader" 30
  [ "$EXIT_STATUS" -eq 0 ]
  cat "$loader_out"
  # every connection of the load was answered, but at most one per killed
  # worker: the one that worker was serving when it died
  errors=$(sed -nE 's/.* errors=([0-9]+) .*/\1/p' "$loader_out")
  requests=$(sed -nE 's/.* requests=([0-9]+) .*/\1/p' "$loader_out")
  echo "# $requests requests, $errors lost, $killed workers killed"
  [ "$errors" -le "$killed" ]
  [ "$requests" -gt 100 ]
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
}

@test "processes: a worker that cannot be replaced (out of processes) is tried again each second; the server serves on" {
  command -v prlimit >/dev/null || skip "prlimit is not installed (util-linux)"
  command -v setpriv >/dev/null || skip "setpriv is not installed (util-linux)"
  start_server_cmd $AS_NOBODY "$LAB/$L/server" -p 0 --pool processes -w 2
  wait_until "$LAB_WAIT" lines_at_least "$SERVER_ERR" ': accepting' 2
  nproc=$($AS_NOBODY prlimit --pid "$SERVER_PID" --nproc --noheadings --output SOFT)
  $AS_NOBODY prlimit --pid "$SERVER_PID" --nproc=1:     # no new process for it
  victim=$(worker_pids "$SERVER_PID" | head -n 1)
  kill -KILL "$victim"
  wait_for_line "$SERVER_ERR" 'fork \(worker [12]\), trying again in a second: Resource temporarily unavailable'
  [ "$(zombies_of "$SERVER_PID")" -eq 0 ]
  run client $L <<<"one worker left"
  assert_output "ONE WORKER LEFT"
  $AS_NOBODY prlimit --pid "$SERVER_PID" --nproc="$nproc":
  wait_until "$LAB_WAIT" lines_at_least "$SERVER_ERR" ': accepting' 3
  wait_until "$LAB_WAIT" processes_are "$SERVER_PID" 3
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
}

@test "out of processes at start: exit 1 naming the cause, no ready line, nothing left behind" {
  command -v setpriv >/dev/null || skip "setpriv is not installed (util-linux)"
  for mode in $MODES; do
    # the server itself and two workers fit; the third does not
    limit=$(( $(tasks_of_uid "$NPROC_UID") + 3 ))
    start_bg "nproc-$mode" $AS_NOBODY bash -c "ulimit -u $limit && exec '$LAB/$L/server' -p 0 --pool $mode -w 6"
    pid=$BG_PID out=$BG_OUT err=$BG_ERR
    wait_exit "$pid"
    cat "$err"
    [ "$EXIT_STATUS" -eq 1 ]
    [ ! -s "$out" ]                               # no ready line
    if [ "$mode" = threads ]; then
      grep -Eq '^server: pthread_create \(worker [0-9] of 6\): Resource temporarily unavailable$' "$err"
    else
      grep -Eq '^server: fork \(worker [0-9] of 6\): Resource temporarily unavailable$' "$err"
    fi
    wait_until 5 processes_are "$pid" 0           # no worker left, orphaned or not
  done
}

# group_rss_kib PGID - resident memory of every process of the group, summed
group_rss_kib() {
  local pid kib=0
  for pid in $(group_processes "$1"); do
    kib=$(( kib + $(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0) ))
  done
  echo "$kib"
}

@test "400 clients that send and never read: the group grows by less than 64 MB; the next client waits for a worker, then is served" {
  # A pool's promise, exactly: N blocking workers are held by N peers that
  # never read, the next connections wait in the pool's queue (threads) and
  # in the kernel's backlog, and the rest are not even accepted. Memory is
  # bounded by the pool, not by the clients; service is not.
  for mode in $MODES; do
    start_server $L --pool "$mode" -w 4
    [ "$mode" = threads ] || wait_until "$LAB_WAIT" lines_at_least "$SERVER_ERR" ': accepting' 4
    before=$(group_rss_kib "$SERVER_PID")
    fifo="$BATS_TEST_TMPDIR/nonreaders-$mode"
    start_bg_input "nonreaders-$mode" "$fifo" "$TOOLS/nonreaders" -i -p "$SERVER_PORT" -n 400
    nonreaders=$BG_PID nr_out=$BG_OUT
    exec {feed}>"$fifo"
    wait_for_line "$nr_out" '^opened 400$'
    # every worker is held, and the backlog is full (Recv-Q of LISTEN is
    # backlog + 1 when it is)
    wait_until "$LAB_WAIT" lines_at_least "$SERVER_ERR" 'connection from' 4
    wait_until "$LAB_WAIT" accept_queue_is "$SERVER_PORT" 129
    start_bg_input "next-$mode" "$BATS_TEST_TMPDIR/next-$mode" "$LAB/$L/client" -p "$SERVER_PORT"
    next=$BG_PID next_out=$BG_OUT
    exec {next_feed}>"$BATS_TEST_TMPDIR/next-$mode"
    printf 'next\n' >&$next_feed
    after=$(group_rss_kib "$SERVER_PID")
    echo "# $mode: RSS of the group $before KiB before, $after KiB with 400 non-readers"
    [ $(( after - before )) -lt $(( 64 * 1024 )) ]
    [ "$(count_lines "$SERVER_ERR" 'connection from')" -eq 4 ]    # no fifth worker
    [ ! -s "$next_out" ]
    exec {feed}>&-                              # the non-readers leave
    wait_exit "$nonreaders"
    wait_for_line "$next_out" '^NEXT$'          # a worker is free again
    exec {next_feed}>&-
    wait_exit "$next"
    [ "$EXIT_STATUS" -eq 0 ]
    stop_server
    [ "$STOP_STATUS" -eq 0 ]
  done
}
