#!/usr/bin/env bats
# 08-locks-queues: the ticket server and its buyers, the lock between
# processes, overselling without it, and the demos (money, deadlock,
# semaphore, event, queues, prodcons, ipc_queue).

load helpers

L=08-locks-queues

setup() {
  DATA="$BATS_TEST_TMPDIR/tickets.json"
}

# Every server of this file gets -f in its own temporary folder: none may
# leave a tickets.json in the repository (noted here, checked at the end).
setup_file() {
  local dir
  for dir in "$LAB" "$LAB/$L"; do
    [ -e "$dir/tickets.json" ] || [ -e "$dir/tickets.json.lock" ] || echo "$dir" >>"$BATS_FILE_TMPDIR/clean-dirs"
  done
}

# --- helpers of this lesson ------------------------------------------------

# office ARGS... - start the ticket server on a data file of this test
office() { start_server $L -f "$DATA" "$@"; }

# count REGEX FILE - how many lines of FILE match the extended REGEX
count() { grep -Ec -- "$1" "$2" || true; }

# wait_count FILE REGEX N - wait until at least N lines of FILE match REGEX
wait_count() { wait_until "$LAB_WAIT" _count_ge "$1" "$2" "$3"; }
_count_ge() { [ "$(count "$2" "$1")" -ge "$3" ]; }

# tickets_left - the ticket_num in the data file
tickets_left() { sed -n 's/.*"ticket_num": *\([0-9]*\).*/\1/p' "$DATA"; }

# open_buyer - a raw connection to the server on a new fd, stored in BUYER
open_buyer() { exec {BUYER}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"; }

# reply_on FD - read one reply line from FD (without \r), print it
reply_on() {
  local line
  read -r -t "$LAB_WAIT" line <&"$1" || return 1
  printf '%s\n' "${line%$'\r'}"
}

# lock_waiters - processes blocked waiting for the lock on $DATA.lock,
# from /proc/locks (a waiter's line has "->" before the lock type)
lock_waiters() {
  local inode
  inode=$(stat -c %i "$DATA.lock")
  grep -c -- "-> .*:$inode " /proc/locks || true
}

# waiters_are N - true when exactly N processes wait for the lock (a
# function, so that wait_until counts again on every try)
waiters_are() { [ "$(lock_waiters)" -eq "$1" ]; }

# no_children PID - true when PID has no child process, not even a zombie
no_children() { [ -z "$(ps -o pid= --ppid "$1")" ]; }

# wake_buyers - SIGUSR1 to the server's process group: every buyer in its
# simulated delay stops waiting (the parent ignores it)
wake_buyers() { kill -USR1 -- "-$SERVER_PID"; }

# log_pid REGEX - the pid of the first "pid N: ..." log line matching REGEX
log_pid() { grep -E -- "$1" "$SERVER_ERR" | head -n 1 | sed 's/.*pid \([0-9]*\):.*/\1/'; }

# --- the contract ---------------------------------------------------------

@test "ready line is exactly 'listening on 127.0.0.1:PORT' with the real port" {
  office
  run cat "$SERVER_OUT"
  assert_output --regexp '^listening on 127\.0\.0\.1:[0-9]+$'
  [ "$SERVER_PORT" -gt 0 ]
}

@test "--help prints the usage on stdout and exits 0" {
  run "$LAB/$L/server" --help
  assert_success
  assert_output --partial "Usage:"
  assert_output --partial "--no-lock"
  run "$LAB/$L/client" --help
  assert_success
  assert_output --partial "Usage:"
  assert_output --partial "-n BUYERS"
}

@test "a bad option or argument exits 2 with a reason and the usage" {
  run "$LAB/$L/server" --bogus
  assert_failure 2
  assert_output --partial "Usage:"
  run "$LAB/$L/server" -p notaport
  assert_failure 2
  assert_output --partial "bad port"
  run "$LAB/$L/server" -t many
  assert_failure 2
  assert_output --partial "bad ticket count"
  run "$LAB/$L/server" --delay -5
  assert_failure 2
  assert_output --partial "bad delay"
  run "$LAB/$L/client" -n 0
  assert_failure 2
  assert_output --partial "bad buyer count"
  run "$LAB/$L/client" -x
  assert_failure 2
  assert_output --partial "Usage:"
  run "$LAB/$L/client" -p 99999
  assert_failure 2
  assert_output --partial "bad port"
}

@test "a port in use exits 1 naming bind and the cause, and leaves the data file alone" {
  office -t 5
  run socat_send $'BUY\n'
  assert_output "OK 4"
  run "$LAB/$L/server" -p "$SERVER_PORT" -f "$DATA" -t 99
  assert_failure 1
  assert_output "server: bind 127.0.0.1:$SERVER_PORT: Address already in use (is another server on port $SERVER_PORT? use -p PORT, or -p 0 for any free port)"
  [ "$(tickets_left)" -eq 4 ]
}

@test "a data file that cannot be written exits 1 naming it and the cause" {
  run "$LAB/$L/server" -p 0 -f "$BATS_TEST_TMPDIR/no/such/folder/t.json"
  assert_failure 1
  assert_output --partial "data file $BATS_TEST_TMPDIR/no/such/folder/t.json"
  assert_output --partial "No such file or directory"
}

@test "-t N writes a fresh JSON data file; the default is 5 tickets" {
  office
  run cat "$DATA"
  assert_output '{"ticket_num": 5}'
  stop_server
  office -t 123
  run cat "$DATA"
  assert_output '{"ticket_num": 123}'
}

@test "SIGTERM and SIGINT stop it with exit 0 and no buyer process left, even mid-purchase" {
  office
  stop_server
  [ "$STOP_STATUS" -eq 0 ]

  # Three buyers inside BUY: one holds the lock in its delay, two wait.
  office --delay 600000
  open_buyer; b1=$BUYER; open_buyer; b2=$BUYER; open_buyer; b3=$BUYER
  printf 'BUY\n' >&$b1; printf 'BUY\n' >&$b2; printf 'BUY\n' >&$b3
  wait_count "$SERVER_ERR" 'lock taken' 1
  wait_until "$LAB_WAIT" waiters_are 2
  [ "$(group_processes "$SERVER_PID" | wc -l)" -eq 4 ]
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
  exec {b1}>&- {b2}>&- {b3}>&-
  # The sale that was cut short never reached the data file.
  [ "$(tickets_left)" -eq 5 ]

  office
  open_buyer
  wait_for_line "$SERVER_ERR" 'connection from'
  kill -INT "$SERVER_PID"
  wait_exit "$SERVER_PID"
  [ "$EXIT_STATUS" -eq 0 ]
  exec {BUYER}>&-
}

@test "SIGTERM in the middle of a crowd of sales leaves no temporary file behind" {
  office -t 100000 --delay 0
  start_bg crowd "$LAB/$L/client" -p "$SERVER_PORT" -n 300
  wait_count "$SERVER_ERR" 'wrote ticket_num=' 20
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
  run bash -c "ls '$BATS_TEST_TMPDIR' | grep '^tickets\.json'"
  assert_output $'tickets.json\ntickets.json.lock'
  [[ "$(cat "$DATA")" =~ ^\{\"ticket_num\":\ [0-9]+\}$ ]]
}

@test "client: connection refused is one clear line and exit 1" {
  office
  port=$SERVER_PORT
  stop_server
  run timeout 10 "$LAB/$L/client" -p "$port" -n 3
  assert_failure 1
  assert_output --partial "Connection refused"
  [ "$(count 'Connection refused' <(printf '%s\n' "$output"))" -eq 1 ]
}

# --- the ticket protocol -----------------------------------------------------

@test "SEARCH, BUY, SOLD OUT and ERROR replies; \\r\\n accepted" {
  office -t 2 --delay 0
  run socat_send $'SEARCH\nBUY\nhello\nBUY\r\n\nBUY\nSEARCH\r\n'
  assert_success
  assert_output $'TICKETS 2\nOK 1\nERROR unknown request (try SEARCH or BUY)\nOK 0\nERROR empty request (try SEARCH or BUY)\nSOLD OUT\nTICKETS 0'
  run cat "$DATA"
  assert_output '{"ticket_num": 0}'
}

@test "bad requests get ERROR and the connection stays usable (binary, Chinese, 1 MiB line)" {
  office -t 5 --delay 0
  req="$BATS_TEST_TMPDIR/req"
  {
    printf 'buy\n'                      # requests are case-sensitive
    printf '买票\n'
    printf 'B\0UY\n'                    # a NUL inside
    head -c 1048576 /dev/zero | tr '\0' 'x'; printf '\n'
    printf 'BUY\n'
  } >"$req"
  run timeout -k 2 "$CLIENT_TIMEOUT" socat -t "$LAB_WAIT" - "TCP:127.0.0.1:$SERVER_PORT" <"$req"
  assert_success
  assert_output $'ERROR unknown request (try SEARCH or BUY)\nERROR unknown request (try SEARCH or BUY)\nERROR unknown request (try SEARCH or BUY)\nERROR request too long (max 256 bytes)\nOK 4'
}

@test "a last request without its newline is answered before the server closes" {
  office -t 3 --delay 0
  run socat_send 'BUY'
  assert_success
  assert_output "OK 2"
}

@test "client: BUYERS buyers search then buy; 'bought K of BUYERS' counts the OKs" {
  office -t 5 --delay 5
  run client $L -n 10
  assert_success
  [ "$(count '^buyer [0-9]+: TICKETS [0-9]+$' <(printf '%s\n' "$output"))" -eq 10 ]
  [ "$(count '^buyer [0-9]+: OK [0-9]+$' <(printf '%s\n' "$output"))" -eq 5 ]
  [ "$(count '^buyer [0-9]+: SOLD OUT$' <(printf '%s\n' "$output"))" -eq 5 ]
  assert_line --index 20 "bought 5 of 10"
  [ "$(tickets_left)" -eq 0 ]
  # Every buyer process is reaped once its buyer leaves: no zombies.
  wait_until "$LAB_WAIT" no_children "$SERVER_PID"
}

@test "-t 0: every buyer is told SOLD OUT" {
  office -t 0 --delay 0
  run client $L -n 3
  assert_success
  assert_line "bought 0 of 3"
  [ "$(count 'SOLD OUT' <(printf '%s\n' "$output"))" -eq 3 ]
}

# --- the lock -------------------------------------------------------------

@test "with the lock, 100 buyers at once get exactly the 40 tickets, each sold once" {
  office -t 40 --delay 2
  run client $L -n 100
  assert_success
  assert_line "bought 40 of 100"
  # Every sale saw a different count: the OK numbers are 39, 38, ..., 0.
  run bash -c "printf '%s\n' \"\$1\" | sed -n 's/^buyer [0-9]*: OK //p' | sort -n | uniq | wc -l" _ "$output"
  assert_output 40
  [ "$(tickets_left)" -eq 0 ]
  [ "$(count 'wrote ticket_num=' "$SERVER_ERR")" -eq 40 ]
}

@test "with the lock, two crowds at once never buy more than there is" {
  office -t 30 --delay 1
  client $L -n 50 >"$BATS_TEST_TMPDIR/a.out" &
  a=$!
  client $L -n 50 >"$BATS_TEST_TMPDIR/b.out" &
  b=$!
  wait "$a"; wait "$b"
  ka=$(sed -n 's/^bought \([0-9]*\) of 50$/\1/p' "$BATS_TEST_TMPDIR/a.out")
  kb=$(sed -n 's/^bought \([0-9]*\) of 50$/\1/p' "$BATS_TEST_TMPDIR/b.out")
  [ $((ka + kb)) -eq 30 ]
  [ "$(tickets_left)" -eq 0 ]
}

@test "the lock makes buyers take turns: one reads while the others wait in fcntl" {
  office -t 5 --delay 600000
  open_buyer; b1=$BUYER; open_buyer; b2=$BUYER; open_buyer; b3=$BUYER
  printf 'BUY\n' >&$b1; printf 'BUY\n' >&$b2; printf 'BUY\n' >&$b3
  # One holder, two processes asleep in F_SETLKW (seen in /proc/locks).
  wait_count "$SERVER_ERR" 'lock taken, read ticket_num=5' 1
  wait_until "$LAB_WAIT" waiters_are 2
  [ "$(count 'lock taken' "$SERVER_ERR")" -eq 1 ]
  # End the holder's delay: it writes 4, and the next one reads 4, not 5.
  wake_buyers
  wait_count "$SERVER_ERR" 'lock taken, read ticket_num=4' 1
  wait_until "$LAB_WAIT" waiters_are 1
  wake_buyers
  wait_count "$SERVER_ERR" 'lock taken, read ticket_num=3' 1
  wake_buyers
  wait_count "$SERVER_ERR" 'wrote ticket_num=2' 1
  replies=$( { reply_on $b1; reply_on $b2; reply_on $b3; } | sort)
  [ "$replies" = $'OK 2\nOK 3\nOK 4' ]
  [ "$(tickets_left)" -eq 2 ]
  exec {b1}>&- {b2}>&- {b3}>&-
}

# --- without the lock: overselling -------------------------------------------

@test "--no-lock oversells: 5 buyers who all read 2 tickets are all sold one" {
  office -t 2 --no-lock --delay 600000
  fds=()
  for _ in 1 2 3 4 5; do open_buyer; fds+=("$BUYER"); printf 'BUY\n' >&$BUYER; done
  # Every buyer has read the count before any of them writes it back...
  wait_count "$SERVER_ERR" 'read ticket_num=2 \(no lock\)' 5
  [ "$(count 'wrote' "$SERVER_ERR")" -eq 0 ]
  # ...so when the delay ends, each one sells "the last but one" ticket.
  wake_buyers
  ok=0
  for fd in "${fds[@]}"; do
    reply=$(reply_on "$fd")
    [ "$reply" = "OK 1" ] && ok=$((ok + 1))
    exec {fd}>&-
  done
  [ "$ok" -eq 5 ]
  [ "$ok" -gt 2 ]                       # more tickets sold than existed
  [ "$(tickets_left)" -eq 1 ]           # and the file does not even know
}

# --- survival ---------------------------------------------------------------

@test "a buyer that hangs up mid-purchase costs nothing; the count stays consistent" {
  office -t 5 --delay 600000
  open_buyer
  printf 'BUY\n' >&$BUYER
  wait_count "$SERVER_ERR" 'lock taken, read ticket_num=5' 1
  exec {BUYER}>&-                       # gone before the reply
  wake_buyers
  wait_for_line "$SERVER_ERR" 'closed .*bought 1\)'
  run peer reset -s $'BUY\n'
  assert_success
  stop_server
  office -t 5 --delay 1
  run peer reset -s $'SEARCH\nBUY\n'
  run client $L -n 3
  assert_success
  # Every sale written is a sale counted: 5 - left = the log's writes.
  [ $((5 - $(tickets_left))) -eq "$(count 'wrote ticket_num=' "$SERVER_ERR")" ]
  kill -0 "$SERVER_PID"
}

@test "a buyer killed while holding the lock: the kernel releases it, the file is whole" {
  office -t 5 --delay 600000
  open_buyer; b1=$BUYER
  printf 'BUY\n' >&$b1
  wait_count "$SERVER_ERR" 'lock taken, read ticket_num=5' 1
  holder=$(log_pid 'lock taken')
  open_buyer; b2=$BUYER
  printf 'BUY\n' >&$b2
  wait_until "$LAB_WAIT" waiters_are 1
  kill -KILL "$holder"
  # The second buyer gets the lock and reads 5: the dead one wrote nothing.
  wait_count "$SERVER_ERR" 'lock taken, read ticket_num=5' 2
  wake_buyers
  run reply_on $b2
  assert_output "OK 4"
  run reply_on $b1
  assert_failure                        # its server process died
  exec {b1}>&- {b2}>&-
  run cat "$DATA"
  assert_output '{"ticket_num": 4}'
}

@test "garbage, resets and a buyer that never reads cost nothing to other buyers" {
  office -t 5 --delay 0
  run peer garbage -n 200000
  run peer reset -s "half a req"
  start_bg flood "$TOOLS/peer" flood -p "$SERVER_PORT"
  wait_count "$SERVER_ERR" 'connection from' 3      # garbage, reset, flood
  run client $L -n 5
  assert_success
  assert_line "bought 5 of 5"
  kill -0 "$SERVER_PID"
}

@test "200 buyers connected at once each get a process; all end on SIGTERM" {
  office -t 5 --delay 0
  fifo="$BATS_TEST_TMPDIR/hold.in"
  start_bg_input hold "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 200
  exec {feed}>"$fifo"
  wait_for_line "$BG_OUT" '^holding 200$'
  wait_count "$SERVER_ERR" 'connection from' 200
  run client $L -n 5
  assert_success
  assert_line "bought 5 of 5"
  [ "$(group_processes "$SERVER_PID" | wc -l)" -ge 201 ]
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
  exec {feed}>&-
}

@test "the data file is never seen half-written, and no temporary file is left" {
  office -t 300 --delay 0
  bad="$BATS_TEST_TMPDIR/bad-reads"
  : >"$bad"
  ( while [ ! -e "$BATS_TEST_TMPDIR/done" ]; do
      content=$(cat "$DATA" 2>&1)
      [[ "$content" =~ ^\{\"ticket_num\":\ [0-9]+\}$ ]] || printf '%s\n' "$content" >>"$bad"
    done ) 3>&- &
  reader=$!
  run client $L -n 200
  touch "$BATS_TEST_TMPDIR/done"
  wait "$reader"
  assert_line "bought 200 of 200"
  [ ! -s "$bad" ]
  [ "$(tickets_left)" -eq 100 ]
  [ "$(ls "$BATS_TEST_TMPDIR" | grep -c '^tickets\.json')" -eq 2 ]   # data + .lock
}

# --- the data file across restarts (LAB-SPEC: nothing lost, nothing silent) ---

# refuses_to_start TEXT - a data file holding exactly TEXT (printf format)
# stops the start: exit 1, one line naming the file, no ready line, and the
# file byte-identical afterwards
refuses_to_start() {
  printf "$1" >"$DATA"
  cp "$DATA" "$BATS_TEST_TMPDIR/before"
  run timeout -k 2 "$CLIENT_TIMEOUT" "$LAB/$L/server" -p 0 -f "$DATA" </dev/null
  [ "$status" -eq 1 ] || { echo "# status $status for $(printf '%q' "$1"): $output" >&2; return 1; }
  [ "${#lines[@]}" -eq 1 ] || { echo "# not one line: $output" >&2; return 1; }
  [[ "${lines[0]}" == "server: data file $DATA is not "* ]] || { echo "# $output" >&2; return 1; }
  cmp "$DATA" "$BATS_TEST_TMPDIR/before"
}

@test "a restart keeps the count of the data file; -t N resets it" {
  office -t 5 --delay 0
  run socat_send $'BUY\nBUY\n'
  assert_output $'OK 4\nOK 3'
  stop_server
  cp "$DATA" "$BATS_TEST_TMPDIR/before"
  office --delay 0                      # no -t: the sale goes on
  cmp "$DATA" "$BATS_TEST_TMPDIR/before"
  grep -q '^server: 3 tickets in ' "$SERVER_ERR"
  run socat_send $'SEARCH\nBUY\n'
  assert_output $'TICKETS 3\nOK 2'
  stop_server
  office -t 9 --delay 0                 # -t: the class starts a new sale
  run socat_send $'SEARCH\n'
  assert_output "TICKETS 9"
  stop_server
  printf '  {"ticket_num": 7}\n' >"$DATA"   # leading blanks are fine
  office --delay 0
  run socat_send $'SEARCH\n'
  assert_output "TICKETS 7"
}

@test "a data file that is not {\"ticket_num\": N} stops the start and is left byte-identical" {
  refuses_to_start ''                                   # empty
  refuses_to_start 'garbage{{{'
  refuses_to_start '{"ticket_num": 7abc}'
  refuses_to_start '{"ticket_num": -3}'                 # negative
  refuses_to_start '{"ticket_num": 99999999999}'        # huge
  refuses_to_start '{"ticket_num": 5} and more'
  refuses_to_start '{"ticket_num": 5}\0'                # a NUL after it
  refuses_to_start '{"tickets": 5}'
  refuses_to_start '{"ticket_num": "5"}'
  # -t N is the explicit way out: it writes a fresh file.
  office -t 4
  run cat "$DATA"
  assert_output '{"ticket_num": 4}'
}

@test "a start takes the lock before it touches the data file" {
  office -t 5 --delay 600000
  open_buyer
  printf 'BUY\n' >&$BUYER
  wait_count "$SERVER_ERR" 'lock taken, read ticket_num=5' 1
  # A second server on the same file, resetting it: it must wait for the
  # buyer who holds the lock (seen asleep in F_SETLKW in /proc/locks)...
  start_bg second "$LAB/$L/server" -p 0 -f "$DATA" -t 50
  second_out=$BG_OUT
  wait_until "$LAB_WAIT" waiters_are 1
  [ ! -s "$second_out" ]                # no ready line while it waits
  [ "$(tickets_left)" -eq 5 ]
  # ...and write only after that sale is written: 5 -> 4 -> reset to 50.
  wake_buyers
  run reply_on $BUYER
  assert_output "OK 4"
  wait_for_line "$second_out" '^listening on '
  [ "$(tickets_left)" -eq 50 ]
  exec {BUYER}>&-
}

@test "kill -9 at random moments of a crowd of sales: a restart finds tickets minus OKs, never more" {
  office -t 1000 --delay 2
  before=1000
  for round in 1 2 3 4 5; do
    if [ "$round" -gt 1 ]; then
      office --delay 2                  # the restart keeps the file
      grep -q "^server: $before tickets in " "$SERVER_ERR"
    fi
    start_bg "crowd$round" "$LAB/$L/client" -p "$SERVER_PORT" -n 40
    crowd=$BG_PID crowd_out=$BG_OUT
    wait_count "$SERVER_ERR" 'wrote ticket_num=' $((RANDOM % 15 + 1))
    kill -KILL -- "-$SERVER_PID"        # the server and every buyer, at once
    wait_exit "$crowd"
    # The file is whole, whatever instant the kill hit.
    [[ "$(cat "$DATA")" =~ ^\{\"ticket_num\":\ [0-9]+\}$ ]]
    left=$(tickets_left)
    wrote=$(count 'wrote ticket_num=' "$SERVER_ERR")
    oks=$(count '^buyer [0-9]+: OK [0-9]+$' "$crowd_out")
    answered=$(count '^buyer [0-9]+: (OK [0-9]+|SOLD OUT)$' "$crowd_out")
    asked=$(count '^buyer [0-9]+: TICKETS [0-9]+$' "$crowd_out")   # then sent BUY
    echo "# round $round: $before before, $wrote written, $oks OK, $((asked - answered)) cut mid-BUY, $left left" >&3
    # Every OK a buyer received is a sale written; a sale written whose OK
    # was lost with the kill is possible only for a buyer cut mid-BUY.
    [ "$left" -le $((before - oks)) ]
    [ "$left" -ge $((before - oks - (asked - answered))) ]
    # The server's own log agrees: each sale it wrote is gone, and one more
    # at most (killed between its rename() and its log line).
    [ $((before - left - wrote)) -ge 0 ] && [ $((before - left - wrote)) -le 1 ]
    before=$left
  done
}

# --- the demos ----------------------------------------------------------------

# demo NAME ARGS... - run a demo program of this lesson under timeout
demo() {
  local name=$1; shift
  timeout -k 2 "$CLIENT_TIMEOUT" "$LAB/$L/$name" "$@" </dev/null
}

@test "every demo has --help (exit 0) and refuses a bad option (exit 2)" {
  for prog in money deadlock semaphore event queues prodcons ipc_queue; do
    run demo $prog --help
    assert_success
    assert_output --partial "Usage:"
    run demo $prog --bogus
    assert_failure 2
    assert_output --partial "Usage:"
  done
}

@test "money: with the mutex, 100 threads leave exactly 0" {
  run demo money --pause 1
  assert_success
  assert_line "money = 0 (expected 0; 0 decrements lost)"
  run demo money -n 4 -i 200000 --pause 0
  assert_success
  assert_line "money = 0 (expected 0; 0 decrements lost)"
}

@test "money --no-lock: 100 threads that all read before anyone writes leave 99" {
  # Races on purpose: a build with ThreadSanitizer reports it (that is the
  # lesson), so let TSan report without failing the exit status here.
  TSAN_OPTIONS="${TSAN_OPTIONS:-} exitcode=0" run demo money --no-lock --pause 200
  assert_success
  assert_line --partial "WITHOUT a lock"
  # Every thread sleeps 200 ms between its read and its write, so all of
  # them read 100 first; far more than 0 is left.
  line=$(printf '%s\n' "$output" | grep '^money = [0-9]* (expected 0')
  left=$(sed 's/^money = \([0-9]*\).*/\1/' <<<"$line")
  [ "$left" -gt 0 ]
}

@test "deadlock: it hangs, the timed lock detects it and says so, exit 1" {
  run demo deadlock --pause 100 --timeout 1
  assert_failure 1
  assert_line --partial "DEADLOCK"
  assert_line --regexp "^[0-9]+ of 10 threads finished: deadlock detected"
  # func1: whoever gets A first also gets B (no one else can hold B yet).
  first=$(sed -n '2s/ got lock A$//p' <<<"$output")
  [ -n "$first" ]
  assert_line --index 2 "$first got lock B"
}

@test "deadlock --recursive: one recursive lock, every thread finishes, exit 0" {
  run demo deadlock --recursive -n 5 --pause 20
  assert_success
  refute_line --partial "DEADLOCK"
  assert_line "all 5 threads finished: no deadlock"
  [ "$(count 'got lock' <(printf '%s\n' "$output"))" -eq 20 ]    # A, B, B, A each
}

@test "semaphore: 20 threads, never more than 5 inside, all get in and out" {
  run demo semaphore --pause 30
  assert_success
  [ "$(count '^trooper +[0-9]+ in ' <(printf '%s\n' "$output"))" -eq 20 ]
  [ "$(count '^trooper +[0-9]+ out ' <(printf '%s\n' "$output"))" -eq 20 ]
  # The count printed on every line, and the list beside it, stay <= 5.
  run bash -c "printf '%s\n' \"\$1\" | sed -n 's/.*inside (\([0-9]*\)):.*/\1/p' | sort -n | tail -n 1" _ "$output"
  [ "$output" -le 5 ]
  run demo semaphore -n 6 -s 2 --pause 10
  assert_line --regexp "at most [12] were inside at once \(slots: 2\)"
}

@test "semaphore: a counter with no owner (anyone may post), a mutex with one (EPERM)" {
  # --owner unlocks another thread's mutex on purpose: a build with
  # ThreadSanitizer reports it (that is the lesson), so let it not fail here.
  TSAN_OPTIONS="${TSAN_OPTIONS:-} exitcode=0" run demo semaphore -n 2 -s 5 --pause 0 --owner
  assert_success
  assert_line "main never waited, yet sem_post() works: 6 slots now (a counter, no owner)"
  assert_line "a mutex locked by main, unlocked by another thread: Operation not permitted (a lock has an owner)"
}

@test "event: wait(timeout) returns 0 when unset; no car moves before GREEN; all do after" {
  run demo event -n 5 --red 300 --patience 50
  assert_success
  assert_line --index 0 "main: is_set() = 0; wait(100 ms) returned 0"
  green=$(printf '%s\n' "$output" | grep -n '^light: GREEN$' | cut -d: -f1)
  [ -n "$green" ]
  # Every "drives off" comes after GREEN, and after that car's "waits".
  # (Whether a car reaches the light before it turns green depends on the
  # scheduler: on a loaded machine a late car may find it green already.)
  while IFS=: read -r n _; do [ "$n" -gt "$green" ]; done < <(printf '%s\n' "$output" | grep -n 'drives off')
  for car in 0 1 2 3 4; do
    waits=$(printf '%s\n' "$output" | grep -n "^car $car waits at the red light$" | cut -d: -f1)
    drives=$(printf '%s\n' "$output" | grep -n "^car $car drives off$" | cut -d: -f1)
    [ -n "$waits" ] && [ -n "$drives" ] && [ "$waits" -lt "$drives" ]
  done
  [ "$(count '^car [0-9]+ drives off$' <(printf '%s\n' "$output"))" -eq 5 ]
  assert_line "impatient car: wait returned 1, drives off"
  assert_line "main: clear(): the light is red again, is_set() = 0"
}

@test "queues: FIFO, blocking, timeouts, nowait, LIFO and priority, as Python's queue" {
  run demo queues --timeout 50
  assert_success
  assert_line "full() = True, empty() = False"
  assert_line "put_nowait(666) -> Full at once"
  assert_line "  ...Full: nobody made room in time"
  assert_line "get_nowait() -> Empty at once"
  assert_line "  ...Empty: none left (the Python version prints 'none left' here)"
  # FIFO: the order of the puts.
  [ "$(printf '%s\n' "$output" | sed -n 's/^get() -> \([0-9]\{3\}\)$/\1/p' | tr '\n' ' ')" = "111 222 333 444 555 " ]
  # Blocking: main's get/put return only after the helper thread acted.
  run bash -c "printf '%s\n' \"\$1\" | sed -n '/^== blocking/,/^== Lifo/p'" _ "$output"
  assert_output "== blocking: a second thread wakes the first ==
main: get() on an empty queue blocks...
  helper: put(hello)
main: ...get() -> hello
main: put(second) on a full Queue(1) blocks...
  helper: get() makes room
main: ...put(second) done
== LifoQueue(3): last in, first out (a stack) =="
  run demo queues --timeout 50
  run bash -c "printf '%s\n' \"\$1\" | sed -n '/^== Lifo/,\$p' | grep '^get()'" _ "$output"
  assert_output "get() -> 3
get() -> 2
get() -> 1
get() -> (-5, '444')
get() -> (0, '333')
get() -> (10, '111')
get() -> (100, '222')"
}

@test "prodcons: 10 dishes made and eaten; join() returns only after the last task_done" {
  run demo prodcons --pause 20
  assert_success
  [ "$(count ' made ' <(printf '%s\n' "$output"))" -eq 10 ]
  [ "$(count ' ate ' <(printf '%s\n' "$output"))" -eq 10 ]
  last_ate=$(printf '%s\n' "$output" | grep -n ' ate ' | tail -n 1 | cut -d: -f1)
  joined=$(printf '%s\n' "$output" | grep -n 'q.join() returned' | cut -d: -f1)
  [ "$joined" -gt "$last_ate" ]
  # Every dish eaten was made, exactly once.
  run bash -c "printf '%s\n' \"\$1\" | sed -n \"s/.* ate \(.*\)'s \(.*\)/\1 made \2/p\" | sort | uniq -d" _ "$output"
  assert_output ""
  run demo prodcons --pause 0
  assert_line "main: eaters stopped, nothing left running"
}

@test "ipc_queue: parent<-child, child->child, 3 writers whole, timeout; pipe and mq" {
  for via in pipe mq; do
    run demo ipc_queue --via $via
    assert_success
    assert_line --regexp "^  parent [0-9]+ got from child [0-9]+: I am technician No. 23"
    assert_line --regexp "^  consumer child [0-9]+ got from child [0-9]+: I am technician No. 23"
    [ "$(count '^  parent got: writer [1-3], message [1-5] of 5$' <(printf '%s\n' "$output"))" -eq 15 ]
    assert_line "  all 15 messages whole, each writer's in its own order"
    assert_line "  Empty: nothing came in time"
  done
  run demo ipc_queue --via carrier-pigeon
  assert_failure 2
}

@test "a low descriptor limit (ulimit -n 16) does not stop 50 buyers: each has its own process" {
  start_server_cmd bash -c "ulimit -n 16; exec '$LAB/$L/server' -p 0 -f '$DATA' -t 5 --delay 0"
  fifo="$BATS_TEST_TMPDIR/hold.in"
  start_bg_input hold "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 50
  exec {feed}>"$fifo"
  wait_for_line "$BG_OUT" '^holding 50$'
  wait_count "$SERVER_ERR" 'connection from' 50
  # The parent closes its copy of every connection after fork(), so it
  # never holds more than a handful of descriptors.
  [ "$(ls /proc/"$SERVER_PID"/fd | wc -l)" -lt 16 ]
  run client $L -n 5
  assert_success
  assert_line "bought 5 of 5"
  [ "$(count 'Too many open files' "$SERVER_ERR")" -eq 0 ]
  exec {feed}>&-
}

@test "no test of this file left a tickets.json in the repository" {
  local dir
  [ -f "$BATS_FILE_TMPDIR/clean-dirs" ] || skip "both folders had a tickets.json before the tests"
  while read -r dir; do
    [ ! -e "$dir/tickets.json" ]
    [ ! -e "$dir/tickets.json.lock" ]
  done <"$BATS_FILE_TMPDIR/clean-dirs"
}
