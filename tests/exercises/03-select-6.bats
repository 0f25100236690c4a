#!/usr/bin/env bats
# Exercise 6 of 03-select/NOTES.md: the third set. Pass select() an
# exception set (exceptfds, the Python notes' xlist) holding every client,
# read the urgent byte a client sends with MSG_OOB (recv(..., MSG_OOB)) when
# the set reports it, and log it as "ADDR: urgent byte 'C' (exceptfds)".
# The exception set is level-triggered like the others: a server that logs
# the byte without reading it is told again at once, and logs it again and
# again.
# Run with: make exercise L=03 N=6

load ../helpers

L=03-select

# start_urgent_client - a client in Python (the lab's tools send no urgent
# data), fed through a named pipe: a line "!C" sends the byte C with
# MSG_OOB; any other line is sent with its newline and the reply line is
# printed; at end of input it half-closes and prints the rest
start_urgent_client() {
  cat >"$BATS_TEST_TMPDIR/urgent.py" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
reply = b""
for line in sys.stdin:
    if line.startswith("!"):
        s.send(line[1:2].encode(), socket.MSG_OOB)
        continue
    s.sendall(line.encode())
    while b"\n" not in reply:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("server closed the connection")
        reply += chunk
    got, reply = reply.split(b"\n", 1)
    print(got.decode(), flush=True)
s.shutdown(socket.SHUT_WR)
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    reply += chunk
sys.stdout.write(reply.decode())
PY
  start_bg_input urgent "$BATS_TEST_TMPDIR/urgent.in" python3 "$BATS_TEST_TMPDIR/urgent.py" "$SERVER_PORT"
}

# urgent_lines C - how many times the server logged the urgent byte C
urgent_lines() {
  grep -cE "^server: 127\.0\.0\.1:[0-9]+: urgent byte '[$1]' \(exceptfds\)$" "$SERVER_ERR"
}

@test "exercise 6: each urgent byte is logged once, as \"ADDR: urgent byte 'C' (exceptfds)\"" {
  command -v python3 >/dev/null || skip "python3 is not installed"
  start_server $L
  start_urgent_client
  urgent=$BG_PID
  exec {to}>"$BATS_TEST_TMPDIR/urgent.in"
  echo "ab" >&$to
  wait_for_line "$BG_OUT" '^AB$'
  echo "!!" >&$to                     # urgent '!', and nothing after it yet
  wait_for_line "$SERVER_ERR" "urgent byte '!'"
  echo "cd" >&$to
  wait_for_line "$BG_OUT" '^CD$'
  assert_equal "$(urgent_lines '!')" 1   # read, not reported again and again
  echo "!?" >&$to
  wait_for_line "$SERVER_ERR" "urgent byte '[?]'"
  echo "ef" >&$to
  exec {to}>&-
  wait_exit "$urgent"
  assert_equal "$EXIT_STATUS" 0
  # the urgent bytes are not part of the stream: only the rest comes back
  assert_equal "$(cat "$BG_OUT")" $'AB\nCD\nEF'
  assert_equal "$(urgent_lines '?')" 1
  stop_server
  assert_equal "$STOP_STATUS" 0
}

# timed_out_after_urgent_x - the server logged a select() timeout after it
# logged the urgent byte 'x'
timed_out_after_urgent_x() {
  sed -n "/urgent byte 'x'/,\$p" "$SERVER_ERR" | grep -q 'select timed out after'
}

@test "exercise 6: a client that sent an urgent byte and went quiet costs no busy loop" {
  command -v python3 >/dev/null || skip "python3 is not installed"
  start_server $L -v
  start_urgent_client
  urgent=$BG_PID
  exec {to}>"$BATS_TEST_TMPDIR/urgent.in"
  echo "!x" >&$to
  wait_for_line "$SERVER_ERR" "urgent byte 'x'"
  # select() then sleeps until its tick (logged with -v): nothing is left
  # to report. Unread, the byte would wake it at once, round after round.
  wait_until "$LAB_WAIT" timed_out_after_urgent_x
  assert_equal "$(urgent_lines 'x')" 1
  exec {to}>&-
  wait_exit "$urgent"
  assert_equal "$EXIT_STATUS" 0
  stop_server
  assert_equal "$STOP_STATUS" 0
  # a handful of select() calls, not thousands
  calls=$(grep -oE 'stopping after [0-9]+ select calls' "$SERVER_ERR" | grep -oE '[0-9]+')
  [ "$calls" -lt 100 ]
}
