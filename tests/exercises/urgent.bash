# urgent.bash - shared by the urgent-data exercises (03's exceptfds, 04's
# POLLPRI): a client that sends urgent bytes, and the count of their log
# lines. Load after ../helpers; set URGENT_TAG (what the log line ends with).

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
  grep -cE "^server: 127\.0\.0\.1:[0-9]+: urgent byte '[$1]' \($URGENT_TAG\)$" "$SERVER_ERR"
}


# check_each_urgent_byte_once - two urgent bytes among three lines: the
# lines come back whole, each urgent byte is logged exactly once (read, not
# reported again and again), and the server stops cleanly
check_each_urgent_byte_once() {
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
