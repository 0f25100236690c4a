# helpers.bash - shared helpers for the lab's bats tests
#
# Load with `load helpers` at the top of tests/NN-name.bats. Built on
# ../shared/TESTING.md:
#   - servers start on port 0, in their own process group (setsid), with
#     every inherited descriptor above 2 closed and stdin from /dev/null;
#   - readiness comes from the ready line in the server's stdout, never
#     from a probe connection;
#   - every client runs under `timeout -k`;
#   - teardown kills every process group the test started.
#
# Main entry points:
#   start_server LESSON [ARGS...]   start LESSON/server -p 0 ARGS; sets
#                                   SERVER_PID SERVER_PORT SERVER_OUT SERVER_ERR
#   start_bg NAME CMD [ARGS...]     start any command the same way; sets
#                                   BG_PID BG_OUT BG_ERR (NAME names the logs)
#   stop_server [PID]               SIGTERM the group, wait; sets STOP_STATUS
#   client LESSON [ARGS...]         LESSON/client -p $SERVER_PORT under timeout
#   peer MODE [ARGS...]             tests/tools/peer against $SERVER_PORT
#   wait_for_line FILE REGEX [SECS] wait until a line of FILE matches
#   wait_until SECS CMD...          wait until CMD succeeds
#   wait_exit PID [SECS]            wait for a background process to end

# LAB is the tree whose programs are tested: this lab, or with LAB_DIR set
# (make grade DIR=...) a student's checkout. The test tools always come
# from this lab.
_lab_tests="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"   # tests/, wherever the .bats is
LAB="$(cd "${LAB_DIR:-$_lab_tests/..}" && pwd)"
TOOLS="$_lab_tests/tools"
# LAB_WRAP runs every server under a wrapper, e.g. valgrind (make check).
: "${LAB_WRAP:=}"

# How long a test waits for an event before it fails. Generous, because
# a sanitizer build on a loaded two-core machine is slow; a passing test
# never waits this long.
: "${LAB_WAIT:=20}"
: "${CLIENT_TIMEOUT:=30}"

# _lab_load_library NAME - bats-support or bats-assert, each of its files
# sourced here: its own load.bash runs dirname(1) once per file, a dozen
# forks in every test (a tenth of the suite's CPU went to loading)
_lab_load_library() {
  local dir file
  for dir in ${BATS_LIB_PATH//:/ } /usr/lib/bats /usr/local/lib/bats; do
    [ -d "$dir/$1/src" ] || continue
    for file in "$dir/$1"/src/*.bash; do
      # shellcheck disable=SC1090  # a library file found at run time
      source "$file"
    done
    return 0
  done
  bats_load_library "$1"
}
_lab_load_library bats-support
_lab_load_library bats-assert

# _lab_pids - file listing the process groups this test started
_lab_pids() { echo "$BATS_TEST_TMPDIR/lab-pids"; }

# start_bg NAME CMD [ARGS...] - run CMD in the background in a new process
# group, stdin /dev/null, stdout/stderr to $BATS_TEST_TMPDIR/NAME.out/.err
start_bg() {
  local name=$1; shift
  BG_OUT="$BATS_TEST_TMPDIR/$name.out"
  BG_ERR="$BATS_TEST_TMPDIR/$name.err"
  : >"$BG_OUT"; : >"$BG_ERR"
  (
    # Close every descriptor bats gave us above 2 (fd 3 is bats' output
    # pipe: a child holding it makes bats wait forever).
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      [ "$fd" -gt 2 ] && eval "exec $fd>&-"
    done
    exec setsid "$@" </dev/null >"$BG_OUT" 2>"$BG_ERR"
  ) &
  BG_PID=$!
  echo "$BG_PID" >>"$(_lab_pids)"
  echo "$BG_PID $name" >>"$BATS_TEST_TMPDIR/lab-names"
}

# start_bg_input NAME FIFO CMD [ARGS...] - like start_bg, but the command's
# stdin is the named pipe FIFO (created here); keep it open for writing
# with `exec {fd}>FIFO` to feed the command, close it to send end of file
start_bg_input() {
  local name=$1 fifo=$2; shift 2
  [ -p "$fifo" ] || mkfifo "$fifo"
  BG_OUT="$BATS_TEST_TMPDIR/$name.out"
  BG_ERR="$BATS_TEST_TMPDIR/$name.err"
  : >"$BG_OUT"; : >"$BG_ERR"
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      [ "$fd" -gt 2 ] && eval "exec $fd>&-"
    done
    exec setsid "$@" <"$fifo" >"$BG_OUT" 2>"$BG_ERR"
  ) &
  BG_PID=$!
  echo "$BG_PID" >>"$(_lab_pids)"
  echo "$BG_PID $name" >>"$BATS_TEST_TMPDIR/lab-names"
}

# start_server LESSON [ARGS...] - start LESSON/server on port 0, wait for
# its ready line, set SERVER_PID, SERVER_PORT, SERVER_OUT, SERVER_ERR
start_server() {
  local lesson=$1; shift
  start_server_cmd "$LAB/$lesson/server" -p 0 "$@"
}

# start_server_cmd PROGRAM [ARGS...] - start any server command line (give
# it -p 0 yourself) and wait for its ready line
start_server_cmd() {
  local name="server${SERVER_COUNT:-}"
  SERVER_COUNT=$(( ${SERVER_COUNT:-0} + 1 ))
  # shellcheck disable=SC2086  # LAB_WRAP is a command line, split on purpose
  start_bg "$name" $LAB_WRAP "$@"
  SERVER_PID=$BG_PID SERVER_OUT=$BG_OUT SERVER_ERR=$BG_ERR
  if ! wait_for_line "$SERVER_OUT" '^listening on .*:[0-9]+$' "$LAB_WAIT" "$SERVER_PID"; then
    echo "# server did not print its ready line: $*" >&2
    echo "# --- stdout:" >&2; sed 's/^/# /' "$SERVER_OUT" >&2
    echo "# --- stderr:" >&2; sed 's/^/# /' "$SERVER_ERR" >&2
    return 1
  fi
  local ready
  ready=$(head -n 1 "$SERVER_OUT")
  SERVER_PORT=${ready##*:}
  SERVER_ADDR=${ready#listening on }
  SERVER_ADDR=${SERVER_ADDR%:*}
}

# wait_for_line FILE REGEX [SECS] [PID] - poll FILE until a line matches the
# extended REGEX; fail after SECS, or at once if PID (given) has exited
wait_for_line() {
  local file=$1 regex=$2 secs=${3:-$LAB_WAIT} pid=${4:-}
  local deadline=$(( $(_lab_now_ms) + secs * 1000 ))
  while ! grep -Eq -- "$regex" "$file" 2>/dev/null; do
    if [ -n "$pid" ] && _lab_gone "$pid"; then
      grep -Eq -- "$regex" "$file" 2>/dev/null && return 0
      echo "# process $pid exited before '$regex' appeared in $file" >&2
      return 1
    fi
    if [ "$(_lab_now_ms)" -ge "$deadline" ]; then
      echo "# timed out after ${secs}s waiting for '$regex' in $file;" \
        "it has $(wc -l <"$file" 2>/dev/null || echo 0) lines, the last: '$(tail -n 1 "$file" 2>/dev/null)'" >&2
      _lab_say_if_server_gone
      return 1
    fi
    sleep 0.02
  done
}

# _lab_say_if_server_gone - one line if the test's server is no longer running
_lab_say_if_server_gone() {
  [ -n "${SERVER_PID:-}" ] && _lab_gone "$SERVER_PID" &&
    echo "# the server (pid $SERVER_PID) is no longer running" >&2
  return 0
}

# wait_until SECS CMD [ARGS...] - poll until CMD succeeds, fail after SECS
wait_until() {
  local secs=$1; shift
  local deadline=$(( $(_lab_now_ms) + secs * 1000 ))
  until "$@"; do
    if [ "$(_lab_now_ms)" -ge "$deadline" ]; then
      echo "# timed out after ${secs}s waiting for: $*" >&2
      _lab_say_if_server_gone
      return 1
    fi
    sleep 0.02
  done
}

# wait_exit PID [SECS] - wait for a background process of this shell to end;
# sets EXIT_STATUS; fails if it is still running after SECS (then kills it)
wait_exit() {
  local pid=$1 secs=${2:-$LAB_WAIT}
  if ! wait_until "$secs" _lab_gone "$pid"; then
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 1
  fi
  EXIT_STATUS=0
  wait "$pid" || EXIT_STATUS=$?
  echo "$pid" >>"$BATS_TEST_TMPDIR/lab-reaped"
}

# _lab_now_ms - milliseconds since the epoch, from bash itself: the polling
# loops above run every 20 ms in every test, and a date(1) each time adds up
_lab_now_ms() { local us=${EPOCHREALTIME/[.,]/}; echo $(( us / 1000 )); }

# _lab_gone PID - true once PID has exited (a zombie counts as exited). The
# state is the field after the command name in /proc/PID/stat, read by bash
# itself: ps(1) every 20 ms in every waiting test was a tenth of the suite's CPU
_lab_gone() {
  local stat
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 0
  stat=${stat##*) }
  [[ -z "$stat" || "$stat" == Z* || "$stat" == X* ]]
}

# group_processes PGID - pids still alive in process group PGID (not zombies)
group_processes() {
  ps -eo pid=,pgid=,stat= | awk -v g="$1" '$2 == g && $3 !~ /^Z/ { print $1 }'
}

# stop_server [PID] - SIGTERM the server's process group and wait for the
# server to exit; sets STOP_STATUS to its exit status. Fails if it is still
# running after LAB_WAIT seconds or if anything of its group is left.
stop_server() {
  local pid=${1:-$SERVER_PID}
  kill -TERM -- "-$pid" 2>/dev/null
  if ! wait_exit "$pid" "$LAB_WAIT"; then
    echo "# server $pid did not exit after SIGTERM" >&2
    return 1
  fi
  STOP_STATUS=$EXIT_STATUS
  if ! wait_until 5 _lab_group_empty "$pid"; then
    echo "# processes left behind in group $pid: $(group_processes "$pid")" >&2
    return 1
  fi
}

_lab_group_empty() { [ -z "$(group_processes "$1")" ]; }

# client LESSON [ARGS...] - LESSON/client against the current server
client() {
  local lesson=$1; shift
  timeout -k 2 "$CLIENT_TIMEOUT" "$LAB/$lesson/client" -p "$SERVER_PORT" "$@"
}

# peer MODE [ARGS...] - the test peer (tests/tools/peer.c) against the server
peer() {
  local mode=$1; shift
  timeout -k 2 "$CLIENT_TIMEOUT" "$TOOLS/peer" "$mode" -p "$SERVER_PORT" "$@"
}

# socat_send TEXT - send TEXT with socat, half-close, print the reply
socat_send() {
  command -v socat >/dev/null || skip "socat is not installed (apt-get install socat)"
  printf '%s' "$1" | timeout -k 2 "$CLIENT_TIMEOUT" socat -t "$LAB_WAIT" - "TCP:127.0.0.1:$SERVER_PORT"
}

# server_rss_kib [PID] - resident memory of the server, in KiB
server_rss_kib() {
  awk '/^VmRSS:/ { print $2 }' "/proc/${1:-$SERVER_PID}/status"
}

# recv_queue_bytes PORT - bytes waiting unread in the kernel for the server
# side of established connections on local PORT (sum of ss Recv-Q)
recv_queue_bytes() {
  ss -Htn state established "( sport = :$1 )" 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'
}

# lab_sanitizer_reports - fail if a program this test ran in the background
# (server, peer, client) wrote a sanitizer report to its stderr log: a
# report does not always change an exit status the test looks at (a server
# stopped by teardown, a leak found at exit, a race in one thread). A test
# that races on purpose sets LAB_SANITIZER_OK=1.
lab_sanitizer_reports() {
  local found
  [ -n "${LAB_SANITIZER_OK:-}" ] && return 0
  found=$(grep -lE 'WARNING: ThreadSanitizer|ERROR: (Address|Leak)Sanitizer|runtime error:' \
    "$BATS_TEST_TMPDIR"/*.err 2>/dev/null) || return 0
  echo "# sanitizer report in: $found" >&2
  # shellcheck disable=SC2086  # a list of file names
  grep -hE -A12 'WARNING: ThreadSanitizer|ERROR: (Address|Leak)Sanitizer|runtime error:' $found | head -n 60 | sed 's/^/# /' >&2
  return 1
}

# lab_teardown - say which background program ended on its own, kill
# every process group this test started, then look for sanitizer reports
# in their logs
lab_teardown() {
  _lab_report_early_exits
  _lab_kill_all
  lab_sanitizer_reports
}

# _lab_report_early_exits - for each program started with start_bg that
# has exited although the test never waited for it (a server that crashed
# or stopped after its first client), one line with its exit status and
# the last lines of its stderr. bats shows them only when the test fails:
# they say why the client saw "Connection refused".
_lab_report_early_exits() {
  local pid name status
  [ -f "$BATS_TEST_TMPDIR/lab-names" ] || return 0
  while read -r pid name; do
    grep -qx "$pid" "$BATS_TEST_TMPDIR/lab-reaped" 2>/dev/null && continue
    _lab_gone "$pid" || continue
    status=0
    wait "$pid" 2>/dev/null || status=$?
    [ "$status" -gt 128 ] && status="$status (killed by signal $((status - 128)))"
    echo "# $name (pid $pid) exited by itself during the test, with status $status; its stderr ends:" >&2
    tail -n 3 "$BATS_TEST_TMPDIR/$name.err" 2>/dev/null | sed 's/^/#   /' >&2
  done <"$BATS_TEST_TMPDIR/lab-names"
  return 0
}

_lab_kill_all() {
  local pids pid
  [ -f "$(_lab_pids)" ] || return 0
  pids=$(cat "$(_lab_pids)")
  for pid in $pids; do kill -TERM -- "-$pid" 2>/dev/null; done
  for pid in $pids; do
    wait_until 5 _lab_group_empty "$pid" 2>/dev/null || kill -KILL -- "-$pid" 2>/dev/null
  done
  for pid in $pids; do wait "$pid" 2>/dev/null || true; done
  rm -f "$(_lab_pids)"
}

teardown() { lab_teardown; }
