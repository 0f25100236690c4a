#!/usr/bin/env bats
# interop: any client of the lab works with any echo server of the lab and
# with the Python notes' servers, and the Python notes' clients work with
# every lab server (LAB-SPEC, the echo-upper service).

load helpers

ECHO_LESSONS="01-blocking 02-nonblocking 03-select 04-poll 05-selectors 06-processes 07-threads 09-pools 10-coroutines"
INPUT=$'hello\n\nMixed Case 42\n你好, world'
EXPECTED=$'HELLO\nMIXED CASE 42\n你好, WORLD'

# built LESSON - true if LESSON's server and client exist
built() { [ -x "$LAB/$1/server" ] && [ -x "$LAB/$1/client" ]; }

# every_client_against_current_server - run every lab client once
every_client_against_current_server() {
  local l
  for l in $ECHO_LESSONS; do
    built "$l" || continue
    # Standard output only: a sanitizer build may warn on standard error.
    local out rc=0
    out=$(client "$l" <<<"$INPUT" 2>"$BATS_TEST_TMPDIR/client.err") || rc=$?
    if [ "$rc" -ne 0 ] || [ "$out" != "$EXPECTED" ]; then
      echo "# $l/client against this server: status $rc, output:" >&2
      echo "$out" | sed 's/^/#   /' >&2
      sed 's/^/#   stderr: /' "$BATS_TEST_TMPDIR/client.err" >&2
      return 1
    fi
  done
}

# python_client - the Python notes' client (000/003), reading lines
# until end of input, as a student would run it
python_client() {
  timeout -k 2 "$CLIENT_TIMEOUT" python3 -c '
import socket, sys
c = socket.socket()
c.connect(("127.0.0.1", int(sys.argv[1])))
for msg in sys.stdin.read().splitlines():
    if not msg:
        continue
    c.send((msg + "\n").encode("utf-8"))
    data = b""
    while not data.endswith(b"\n"):
        part = c.recv(1024)
        if not part:
            break
        data += part
    print(data.decode("utf-8"), end="")
c.close()
' "$SERVER_PORT"
}

check_server() {
  local lesson=$1
  built "$lesson" || skip "$lesson is not built"
  start_server "$lesson"
  every_client_against_current_server
  if command -v python3 >/dev/null; then
    run python_client <<<"$INPUT"
    assert_success
    assert_output "$EXPECTED"    # the Python client's stderr is empty
  fi
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
}

@test "every lab client and the Python notes' client against 01-blocking" { check_server 01-blocking; }
@test "every lab client and the Python notes' client against 02-nonblocking" { check_server 02-nonblocking; }
@test "every lab client and the Python notes' client against 03-select" { check_server 03-select; }
@test "every lab client and the Python notes' client against 04-poll" { check_server 04-poll; }
@test "every lab client and the Python notes' client against 05-selectors" { check_server 05-selectors; }
@test "every lab client and the Python notes' client against 06-processes" { check_server 06-processes; }
@test "every lab client and the Python notes' client against 07-threads" { check_server 07-threads; }
@test "every lab client and the Python notes' client against 09-pools" { check_server 09-pools; }
@test "every lab client and the Python notes' client against 10-coroutines" { check_server 10-coroutines; }

@test "every lab client against the Python notes' socketserver (003)" {
  command -v python3 >/dev/null || skip "python3 is not installed"
  # Seed 003's ThreadingTCPServer, with a free port and the lab's ready line.
  start_server_cmd python3 -u -c '
import socketserver
class Upper(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(1024)
            if not data:
                break
            self.request.sendall(data.upper())
socketserver.ThreadingTCPServer.allow_reuse_address = True
server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Upper)
print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
server.serve_forever()
'
  every_client_against_current_server
}
