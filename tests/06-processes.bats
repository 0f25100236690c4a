#!/usr/bin/env bats
# 06-processes: the forking echo-upper server (server.c), the same server in
# socketserver's shape (socketserver.c), the client, and the demos.

load helpers
load two-servers

L=06-processes
SERVERS="server socketserver"

# children PID - pids of the live (not zombie) children of PID
children() { ps -o pid=,stat= --ppid "$1" | awk '$2 !~ /^Z/ { print $1 }'; }

# zombies PID - pids of the zombie (defunct) children of PID
zombies() { ps -o pid=,stat= --ppid "$1" | awk '$2 ~ /^Z/ { print $1 }'; }

# count_children PID N - true when PID has exactly N live children
count_children() { [ "$(children "$1" | wc -l)" -eq "$2" ]; }

# count_workers PID N - what tests/two-servers.bash counts: here, live children
count_workers() { count_children "$@"; }

# no_children PID - true when PID has no child at all, live or zombie
no_children() { [ -z "$(ps -o pid= --ppid "$1")" ]; }

# ended PID - true once PID has ended: gone, or a zombie nobody reaped yet
ended() {
  local state
  state=$(ps -o stat= -p "$1") || return 0
  [[ "$state" == Z* ]]
}

# sockets PID - how many sockets PID has open
sockets() { ls -l "/proc/$1/fd" 2>/dev/null | grep -c 'socket:'; }

# teardown - stop what the test started; remove the copies made for
# another user
teardown() {
  local status=0
  lab_teardown || status=$?
  if [ -n "${SPARE_BIN:-}" ]; then rm -rf "$SPARE_BIN"; fi
  if [ -n "${DAEMON_PID:-}" ]; then kill -TERM "$DAEMON_PID" 2>/dev/null || true; fi
  return "$status"
}

# --- the contract ---------------------------------------------------------

@test "ready line is exactly 'listening on 127.0.0.1:PORT' (both servers)" { check_ready_line; }

@test "--help prints the usage on stdout and exits 0" { check_help; }

@test "a bad option or argument exits 2 with a reason and the usage" {
  for prog in $SERVERS; do
    run "$LAB/$L/$prog" --bogus
    assert_failure 2
    assert_output --partial "Usage:"
    run "$LAB/$L/$prog" -p notaport
    assert_failure 2
    assert_output --partial "bad port"
    run "$LAB/$L/$prog" -m 0
    assert_failure 2
    assert_output --partial "bad -m"
    run "$LAB/$L/$prog" extra
    assert_failure 2
    assert_output --partial "unexpected argument"
  done
  run "$LAB/$L/client" -x
  assert_failure 2
  assert_output --partial "Usage:"
}

@test "a port in use exits 1 naming bind and the cause" { check_port_in_use; }

@test "SIGTERM to the group: exit 0, nothing left (idle, and with clients)" { check_stop_group; }

@test "SIGTERM or SIGINT to the server alone: it ends its children itself, exits 0" {
  for prog in $SERVERS; do
    for sig in TERM INT; do
      start_prog $prog
      exec {conn}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
      printf 'hi\n' >&$conn
      read -r -t "$LAB_WAIT" reply <&$conn
      [ "$reply" = "HI" ]
      child=$(children "$SERVER_PID")
      [ -n "$child" ]

      kill "-$sig" "$SERVER_PID"            # the server only, not its group
      wait_exit "$SERVER_PID"
      [ "$EXIT_STATUS" -eq 0 ]
      run ps -p "$child"                    # gone, not left running or orphaned
      assert_failure
      run cat <&$conn                       # and the client saw the end
      assert_output ""
      exec {conn}>&-
    done
  done
}

@test "SIGTERM with 100 children, one of them stopped: it is SIGKILLed, exit 0" {
  # A stopped child cannot act on SIGTERM; only the SIGKILL after the grace
  # period ends it, however quickly the 99 others are reaped meanwhile.
  for prog in $SERVERS; do
    start_prog $prog -m 200
    fifo="$BATS_TEST_TMPDIR/hold-$prog"
    start_bg_input hold-$prog "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 100
    exec {feed}>"$fifo"
    wait_for_line "$BG_OUT" '^holding 100$'
    wait_until "$LAB_WAIT" count_children "$SERVER_PID" 100
    stopped=$(children "$SERVER_PID" | head -n 1)
    kill -STOP "$stopped"
    kill -TERM "$SERVER_PID"                # the server only, not its group
    wait_exit "$SERVER_PID"
    [ "$EXIT_STATUS" -eq 0 ]
    run ps -p "$stopped"                    # killed and reaped
    assert_failure
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

@test "a client that never reads stalls only its own child" {
  for prog in $SERVERS; do
    start_prog $prog
    start_bg flood-$prog "$TOOLS/peer" flood -p "$SERVER_PORT"
    # its child fills the socket buffers and sleeps in send()
    wait_until "$LAB_WAIT" count_children "$SERVER_PID" 1
    run client $L <<<"served anyway"
    assert_output "SERVED ANYWAY"
    stop_server                             # and the stuck child ends too
    [ "$STOP_STATUS" -eq 0 ]
  done
}

@test "300 clients at once: 300 children, then no zombie left" {
  for prog in $SERVERS; do
    start_prog $prog -m 400
    fifo="$BATS_TEST_TMPDIR/hold-$prog"
    start_bg_input hold-$prog "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 300
    exec {feed}>"$fifo"
    wait_for_line "$BG_OUT" '^holding 300$'
    wait_until "$LAB_WAIT" count_children "$SERVER_PID" 300
    exec {feed}>&-                          # the peer closes all 300
    wait_until "$LAB_WAIT" count_lines "$SERVER_ERR" "closed .*\\(0 bytes\\)" 300
    # every child has ended and been reaped: no <defunct> entries remain
    wait_until "$LAB_WAIT" no_children "$SERVER_PID"
    run zombies "$SERVER_PID"
    assert_output ""
    run client $L <<<"after 300"
    assert_output "AFTER 300"
  done
}

@test "300 clients one after another: every child reaped" {
  start_prog server
  for i in $(seq 300); do
    exec {conn}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    exec {conn}>&-
  done
  wait_until "$LAB_WAIT" count_lines "$SERVER_ERR" 'closed' 300
  wait_until "$LAB_WAIT" no_children "$SERVER_PID"
  [ "$(grep -c 'served by child' "$SERVER_ERR")" -eq 300 ]
}

@test "3000 short connections (load --short): no error, no child, no zombie left" {
  for prog in $SERVERS; do
    start_prog $prog
    base_fds=$(ls "/proc/$SERVER_PID/fd" | wc -l)
    run timeout -k 2 120 "$TOOLS/load" -p "$SERVER_PORT" --short -c 4 -n 3000
    assert_success
    assert_output --regexp ' errors=0 '
    requests=$(sed -n 's/.* requests=\([0-9]*\) .*/\1/p' <<<"$output")
    [ "$requests" -ge 3000 ]                  # (load may finish a few in flight)
    wait_until "$LAB_WAIT" no_children "$SERVER_PID"
    [ "$(ls "/proc/$SERVER_PID/fd" | wc -l)" -eq "$base_fds" ]
  done
}

@test "-m 2: a third client waits in the backlog until a child ends" { check_limit_backlog; }

@test "-m 1: at the limit, SIGTERM to the server alone still ends it and its child" {
  for prog in $SERVERS; do
    start_prog $prog -m 1
    exec {c1}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    printf 'one\n' >&$c1
    read -r -t "$LAB_WAIT" reply <&$c1
    [ "$reply" = "ONE" ]
    child=$(children "$SERVER_PID")
    exec {c2}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"   # waits in the backlog
    printf 'two\n' >&$c2
    wait_until "$LAB_WAIT" queued_at_least "$SERVER_PORT" 4
    kill -TERM "$SERVER_PID"
    wait_exit "$SERVER_PID"
    [ "$EXIT_STATUS" -eq 0 ]
    run ps -p "$child"
    assert_failure
    exec {c1}>&- {c2}>&-
  done
}

@test "EMFILE: out of descriptors, accept fails, then service resumes" {
  command -v prlimit >/dev/null || skip "prlimit (util-linux) is not installed"
  for prog in $SERVERS; do
    start_prog $prog
    # Lower the server's descriptor limit to what it has open now: the next
    # accept() has no descriptor left to return.
    open_fds=$(ls "/proc/$SERVER_PID/fd" | wc -l)
    prlimit --pid "$SERVER_PID" --nofile="$open_fds:"
    fifo="$BATS_TEST_TMPDIR/late-$prog"
    start_bg_input late-$prog "$fifo" "$LAB/$L/client" -p "$SERVER_PORT"
    late=$BG_PID late_out=$BG_OUT
    exec {feed}>"$fifo"
    printf 'late\n' >&$feed
    wait_for_line "$SERVER_ERR" 'accept: Too many open files'
    [ "$(grep -c 'accept:' "$SERVER_ERR")" -eq 1 ]   # one line, not a flood
    prlimit --pid "$SERVER_PID" --nofile=1024:
    wait_for_line "$late_out" '^LATE$'
    exec {feed}>&-
    wait_exit "$late"
    [ "$EXIT_STATUS" -eq 0 ]
  done
}

@test "fork fails (EAGAIN, process limit): that client only is lost" {
  [ "$(id -u)" -eq 0 ] || skip "needs root to run the server as another user"
  command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
  # RLIMIT_NPROC counts every process of a uid, and root is exempt: so the
  # server runs as a uid of its own, no user's (nobody may be busy in a
  # run beside this one), and from copies in a folder of its own, so that
  # no mode of the lab's files has to change
  spare_uid=$(( 200000 + $$ % 100000 ))
  [ -z "$(ps -o pid= -u "$spare_uid")" ] || skip "uid $spare_uid already runs processes"
  SPARE_BIN=$(mktemp -d /tmp/06-eagain.XXXXXX)
  chmod 755 "$SPARE_BIN"
  for prog in $SERVERS; do cp "$LAB/$L/$prog" "$SPARE_BIN/"; done
  for prog in $SERVERS; do
    # Room for the server and one child: the second simultaneous client's
    # fork() fails.
    start_server_cmd setpriv --reuid="$spare_uid" --regid="$spare_uid" --clear-groups \
      bash -c "ulimit -u 2 && exec '$SPARE_BIN/$prog' -p 0"
    exec {c1}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    wait_until "$LAB_WAIT" count_children "$SERVER_PID" 1
    run client $L <<<"no room"
    assert_failure 1
    wait_for_line "$SERVER_ERR" 'fork for .*: Resource temporarily unavailable'
    exec {c1}>&-                            # the first client leaves...
    wait_until "$LAB_WAIT" no_children "$SERVER_PID"
    run client $L <<<"room again"           # ...and a new one is served
    assert_output "ROOM AGAIN"
    stop_server
    [ "$STOP_STATUS" -eq 0 ]
  done
}

# --- the lesson's point: a process per client -----------------------------

@test "two clients are served at the same time, each by its own process" {
  for prog in $SERVERS; do
    start_prog $prog
    exec {c1}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    printf 'one\n' >&$c1
    read -r -t "$LAB_WAIT" reply <&$c1
    [ "$reply" = "ONE" ]
    # client 1 stays connected; client 2 is answered anyway (01 would wait)
    exec {c2}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    printf 'two\n' >&$c2
    read -r -t "$LAB_WAIT" reply <&$c2
    [ "$reply" = "TWO" ]
    run children "$SERVER_PID"
    [ "${#lines[@]}" -eq 2 ]
    [ "${lines[0]}" != "${lines[1]}" ]
    exec {c1}>&- {c2}>&-
  done
}

@test "after fork the parent keeps only the listener, the child only its client" {
  for prog in $SERVERS; do
    start_prog $prog
    exec {c1}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    printf 'x\n' >&$c1
    read -r -t "$LAB_WAIT" reply <&$c1
    child=$(children "$SERVER_PID")
    [ "$(sockets "$SERVER_PID")" -eq 1 ]    # the listening socket
    [ "$(sockets "$child")" -eq 1 ]         # the connection
    run ss -Htlnp "( sport = :$SERVER_PORT )"
    refute_output --partial "pid=$child,"   # the child does not listen
    exec {c1}>&-
  done
}

@test "stopping does not wait for a child the server did not fork" {
  # The shell starts a sleep, then execs the server in the same process:
  # the sleep is the server's child, but not one of its clients' children.
  start_server_cmd bash -c 'sleep 600 & exec "$0" -p 0' "$LAB/$L/server"
  run client $L <<<"hi"
  assert_output "HI"
  kill -TERM "$SERVER_PID"                  # the server only
  wait_exit "$SERVER_PID"
  [ "$EXIT_STATUS" -eq 0 ]
}

# --- the demos ------------------------------------------------------------

@test "demos: --help prints the usage and exits 0, a bad option exits 2" {
  for prog in join isolation lifecycle zombie orphan daemon unixdaemon; do
    run "$LAB/$L/$prog" --help
    assert_success
    assert_output --partial "Usage: $prog"
    run "$LAB/$L/$prog" --bogus
    assert_failure 2
  done
}

@test "join: three children sleep side by side and are all joined" {
  run timeout -k 2 20 "$LAB/$L/join" -u 50
  assert_success
  for i in 1 2 3; do
    assert_line --regexp "^child $i is running \(pid [0-9]+\)$"
    assert_line "child $i is over"
  done
  # main speaks only after the last child is over
  [ "$(grep -n 'all three joined' <<<"$output" | cut -d: -f1)" -gt \
    "$(grep -n 'child 3 is over' <<<"$output" | cut -d: -f1)" ]
  assert_line --partial "side by side"
  assert_line --regexp '^hello world \(pid [0-9]+\)$'
  assert_line "get out!"
  run timeout -k 2 20 "$LAB/$L/join" -u 20 --serial
  assert_success
  [ "${lines[0]%% (*}" = "child 1 is running" ]
  [ "${lines[1]}" = "child 1 is over" ]
  [ "${lines[2]%% (*}" = "child 2 is running" ]
}

@test "isolation: the child's money is 666, the parent's stays 100 at the same address" {
  run timeout -k 2 20 "$LAB/$L/isolation"
  assert_success
  assert_line --index 1 --regexp '^child  \(pid [0-9]+\): money = 666 '
  assert_line --index 2 --regexp '^parent \(pid [0-9]+\): money = 100 .* after the child ended$'
  addr0=$(grep -o '&money = 0x[0-9a-f]*' <<<"${lines[0]}")
  addr1=$(grep -o '&money = 0x[0-9a-f]*' <<<"${lines[1]}")
  [ "$addr0" = "$addr1" ]
}

@test "lifecycle: S, terminate, Z, is_alive False, exitcode -15 and 3" {
  run timeout -k 2 20 "$LAB/$L/lifecycle"
  assert_success
  assert_line --partial "state S (sleeping), is_alive() = True"
  assert_line --partial "state Z (a zombie"
  assert_line --partial "kill(pid, 0) still succeeds"
  assert_line --partial "is_alive() = False (waitpid reaped it), exitcode = -15"
  assert_line --regexp '^parent: now /proc/[0-9]+ is gone$'
  assert_line --partial "_exit(3): exitcode = 3"
}

@test "zombie: ps shows the unreaped children as Z, then they are gone" {
  start_bg zombie "$LAB/$L/zombie" -n 3 -s 60
  wait_for_line "$BG_OUT" 'reaping them in'
  run zombies "$BG_PID"
  [ "${#lines[@]}" -eq 3 ]
  run timeout -k 2 20 "$LAB/$L/zombie" -n 2 -s 0
  assert_success
  [ "$(grep -c 'state Z' <<<"$output")" -eq 2 ]
  [ "$(grep -c 'is gone' <<<"$output")" -eq 2 ]
}

@test "orphan: the child is adopted (by the subreaper with --subreaper)" {
  run timeout -k 2 20 "$LAB/$L/orphan" --subreaper
  assert_success
  main=$(sed -n 's/^main   (pid \([0-9]*\)).*/\1/p' <<<"${lines[0]}")
  assert_line --regexp "my parent is now $main \(orphan\), a subreaper$"
  assert_line --regexp "reaped the orphan [0-9]+, adopted by me$"

  # without: main waits for the orphan's last line (a pipe's end of file),
  # whoever adopted it; that adopter is not the parent that died
  run timeout -k 2 20 "$LAB/$L/orphan"
  assert_success
  parent=$(sed -n 's/^parent (pid \([0-9]*\)).*/\1/p' <<<"$output")
  adopter=$(sed -n 's/.*my parent died; my parent is now \([0-9]*\) .*/\1/p' <<<"$output")
  [ -n "$parent" ] && [ -n "$adopter" ] && [ "$adopter" != "$parent" ]
  [ "${#lines[@]}" -eq 5 ]                  # all printed before main ended
}

@test "daemon: the daemon child dies with its parent; without it, it lives on" {
  run timeout -k 2 20 "$LAB/$L/daemon" -u 100
  assert_success
  child=$(sed -n 's/^child  (pid \([0-9]*\)).*/\1/p' <<<"$output")
  [ -n "$child" ]
  # dead: gone, or a zombie waiting for whoever adopted it (init in a
  # container may never reap it, so kill -0 is no test here)
  wait_until "$LAB_WAIT" ended "$child"
  refute_output --partial "dying of old age"

  start_bg nodaemon "$LAB/$L/daemon" --no-daemon -u 50
  wait_for_line "$BG_OUT" 'lives on as an orphan'
  wait_for_line "$BG_OUT" 'egon the steward is dying of old age'
}

# is_ancestor PID - true when PID is 1 or an ancestor of this shell (a
# subreaper above us adopts orphans before init does)
is_ancestor() {
  local p=$$
  [ "$1" -eq 1 ] && return 0
  while [ "$p" -gt 1 ]; do
    [ "$p" -eq "$1" ] && return 0
    p=$(ps -o ppid= -p "$p" | tr -d ' ')
  done
  return 1
}

@test "unixdaemon: started from a terminal, it detaches (own session, no terminal, adopted, /, umask 0, nothing inherited) and stops on SIGTERM" {
  command -v script >/dev/null || skip "script (util-linux) is not installed"
  log=$BATS_TEST_TMPDIR/daemon.log
  exec {inherited}>"$BATS_TEST_TMPDIR/inherited"      # a descriptor it must close
  # script(1) gives the launcher a terminal, as a user's shell would
  run timeout -k 2 20 script -qec "tty; ps -o sid= -p \$\$; exec $LAB/$L/unixdaemon -l $log" \
    /dev/null </dev/null
  exec {inherited}>&-
  assert_success
  assert_line --index 0 --regexp '^/dev/pts/[0-9]+'     # the launcher had one
  launcher_sid=$(tr -dc 0-9 <<<"${lines[1]}")
  DAEMON_PID=$(sed -n 's/.*started, pid \([0-9]*\);.*/\1/p' <<<"$output")
  [ -n "$DAEMON_PID" ]
  # /proc/PID/stat after "(comm) ": state ppid pgrp session tty_nr
  read -r _ ppid pgrp sid tty _ < <(sed 's/.*) //' "/proc/$DAEMON_PID/stat")
  [ "$tty" -eq 0 ]                                      # no controlling terminal
  [ "$sid" -ne "$launcher_sid" ]                        # setsid(): a session of its own
  [ "$pgrp" -eq "$sid" ]                                # ... and its process group
  [ "$sid" -ne "$DAEMON_PID" ]                          # second fork: not the leader
  wait_until "$LAB_WAIT" ended "$sid"                   # the leader is gone
  is_ancestor "$ppid" || fail "parent $ppid is neither init nor a subreaper above us"
  [ "$(readlink "/proc/$DAEMON_PID/cwd")" = / ]         # chdir("/")
  grep -qx $'Umask:\t0000' "/proc/$DAEMON_PID/status"   # umask(0)
  # 0, 1, 2 on /dev/null and the log: nothing inherited, no terminal
  run ls -l "/proc/$DAEMON_PID/fd"
  [ "$(grep -c -- '-> /dev/null$' <<<"$output")" -eq 3 ]
  [ "$(grep -c -- '-> ' <<<"$output")" -eq 4 ]
  assert_output --partial "-> $log"
  wait_for_line "$log" "started: pid $DAEMON_PID, .*controlling terminal: none"
  kill -TERM "$DAEMON_PID"
  wait_for_line "$log" 'stopping on a stop signal'
  wait_until "$LAB_WAIT" ended "$DAEMON_PID"
  DAEMON_PID=
}
