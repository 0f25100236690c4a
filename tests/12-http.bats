#!/usr/bin/env bats
# 12-http: the static-file HTTP/1.1 server on epoll, and the small client.
#
# Checked with three independent clients: curl, raw bytes over bash's
# /dev/tcp and socat (for malformed requests curl will not send), the
# lab's own client, and a real browser (headless Chromium).

load helpers

L=12-http
WWW="$LAB/$L/www"

# teardown - helpers.bash's, after giving back a root that a test made
# unreadable (mode 0311), so that bats can delete it, also if it failed
teardown() { [ -z "${ROOT:-}" ] || chmod -f u+rwx "$ROOT"; lab_teardown; }

# --- helpers of this file ---------------------------------------------------

# hcurl ARGS... - curl under timeout, quiet but showing errors
hcurl() { timeout -k 2 "$CLIENT_TIMEOUT" curl -sS --max-time 20 "$@"; }

# code PATH [CURL ARGS...] - the status code for GET PATH (sent as is)
code() {
  local path=$1; shift
  hcurl --path-as-is -o /dev/null -w '%{http_code}' "$@" "http://127.0.0.1:$SERVER_PORT$path"
}

# raw TEXT - send TEXT (printf escapes) with socat, half-close, print the
# whole reply; the server closes after it has answered everything
raw() {
  command -v socat >/dev/null || skip "socat is not installed (apt-get install socat)"
  printf "$1" | timeout -k 2 "$CLIENT_TIMEOUT" socat -t "$LAB_WAIT" - "TCP:127.0.0.1:$SERVER_PORT"
}

# make_root - a document root in the test's temp folder: the sample site,
# a sub folder, a file with no known extension, and a secret file beside
# (outside) the root; sets ROOT and SECRET
make_root() {
  ROOT="$BATS_TEST_TMPDIR/root"
  SECRET="$BATS_TEST_TMPDIR/secret.txt"
  mkdir -p "$ROOT/sub"
  cp "$WWW"/* "$ROOT/"
  printf '<!DOCTYPE html><title>sub</title>in the sub folder\n' >"$ROOT/sub/index.html"
  printf 'raw bytes\n' >"$ROOT/data.xyz"
  echo "TOP-SECRET-$$-outside-the-root" >"$SECRET"
}

# header NAME FILE - the value of header NAME in a saved response head
header() { tr -d '\r' <"$2" | awk -v n="$(echo "$1" | tr A-Z a-z)" -F': ' \
  'tolower($1) == n { sub(/^[^:]*: /, ""); print; exit }'; }

# open_conn - a raw connection on fd $CONN (bash's /dev/tcp)
open_conn() { exec {CONN}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"; }

# send_queue_bytes - bytes the server has sent and its clients not yet
# read (sum of ss Send-Q on the server side of established connections)
send_queue_bytes() {
  ss -Htn state established "( sport = :$SERVER_PORT )" | awk '{ s += $2 } END { print s + 0 }'
}
server_backlogged() { [ "$(send_queue_bytes)" -gt 0 ]; }

# connections_seen N - true once the server has logged N connections
connections_seen() { [ "$(grep -c 'connection from' "$SERVER_ERR")" -ge "$1" ]; }

# read_to_eof FD - everything the server sends until it closes
read_to_eof() { timeout -k 2 "$CLIENT_TIMEOUT" cat <&"$1"; }

# --- the contract ---------------------------------------------------------

@test "ready line is exactly 'listening on 127.0.0.1:PORT'; the default port is 8000" {
  start_server $L
  run cat "$SERVER_OUT"
  assert_output --regexp '^listening on 127\.0\.0\.1:[0-9]+$'
  run "$LAB/$L/server" --help
  assert_success
  assert_output --partial "Usage:"
  assert_output --partial "default 8000"
  run "$LAB/$L/client" --help
  assert_success
  assert_output --partial "Usage:"
}

@test "bad options exit 2 with the usage; a missing root or a port in use exit 1" {
  run "$LAB/$L/server" --bogus
  assert_failure 2
  assert_output --partial "Usage:"
  run "$LAB/$L/server" -p 70000
  assert_failure 2
  assert_output --partial "bad port"
  run "$LAB/$L/server" --idle-timeout 0
  assert_failure 2
  assert_output --partial "bad idle timeout"
  run "$LAB/$L/server" -p 0 -r "$BATS_TEST_TMPDIR/no-such-dir"
  assert_failure 1
  assert_output --partial "No such file or directory"
  start_server $L
  run "$LAB/$L/server" -p "$SERVER_PORT"
  assert_failure 1
  assert_output --partial "server: bind 127.0.0.1:$SERVER_PORT: Address already in use"
  run "$LAB/$L/client" -x /
  assert_failure 2
  run "$LAB/$L/client" ftp://example.test/
  assert_failure 2
  assert_output --partial "only http://"
}

@test "SIGTERM and SIGINT stop it with exit 0, also with clients connected" {
  start_server $L
  stop_server
  [ "$STOP_STATUS" -eq 0 ]

  start_server $L
  open_conn
  wait_for_line "$SERVER_ERR" 'connection from'
  kill -INT "$SERVER_PID"
  wait_exit "$SERVER_PID"
  [ "$EXIT_STATUS" -eq 0 ]
  exec {CONN}>&-
  [ -z "$(group_processes "$SERVER_PID")" ]
}

@test "the default root is the www folder beside the program, from any folder" {
  cd "$BATS_TEST_TMPDIR"
  start_server $L
  hcurl -o got.html "http://127.0.0.1:$SERVER_PORT/"
  cmp got.html "$WWW/index.html"
  grep -q "serving $WWW" "$SERVER_ERR"
}

# --- answers and headers ---------------------------------------------------

@test "GET / answers 200 with index.html, Content-Type, exact Content-Length, Date" {
  start_server $L
  hcurl -D "$BATS_TEST_TMPDIR/head" -o "$BATS_TEST_TMPDIR/body" "http://127.0.0.1:$SERVER_PORT/"
  run head -n 1 "$BATS_TEST_TMPDIR/head"
  assert_output $'HTTP/1.1 200 OK\r'
  [ "$(header Content-Type "$BATS_TEST_TMPDIR/head")" = "text/html; charset=utf-8" ]
  [ "$(header Content-Length "$BATS_TEST_TMPDIR/head")" = "$(stat -c %s "$WWW/index.html")" ]
  [ "$(header Connection "$BATS_TEST_TMPDIR/head")" = "keep-alive" ]
  header Date "$BATS_TEST_TMPDIR/head" | grep -Eq '^[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT$'
  cmp "$BATS_TEST_TMPDIR/body" "$WWW/index.html"
}

@test "Content-Type follows the extension: css, png, an unknown one" {
  make_root
  start_server $L -r "$ROOT"
  run hcurl -o /dev/null -w '%{content_type}' "http://127.0.0.1:$SERVER_PORT/style.css"
  assert_output "text/css; charset=utf-8"
  run hcurl -o /dev/null -w '%{content_type}' "http://127.0.0.1:$SERVER_PORT/logo.png"
  assert_output "image/png"
  run hcurl -o /dev/null -w '%{content_type}' "http://127.0.0.1:$SERVER_PORT/data.xyz"
  assert_output "application/octet-stream"
  hcurl -o "$BATS_TEST_TMPDIR/logo" "http://127.0.0.1:$SERVER_PORT/logo.png"
  cmp "$BATS_TEST_TMPDIR/logo" "$WWW/logo.png"
}

@test "HEAD gives the same headers as GET and not one byte of body" {
  start_server $L
  run raw 'HEAD /style.css HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'
  assert_success
  assert_output --partial "Content-Length: $(stat -c %s "$WWW/style.css")"
  assert_output --partial "Content-Type: text/css"
  # the reply ends with the blank line that ends the head
  [ "$(printf 'HEAD / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' |
       timeout 20 socat -t 10 - "TCP:127.0.0.1:$SERVER_PORT" | tail -c 4 | od -An -c | tr -d ' ')" = '\r\n\r\n' ]
  # an error answer to HEAD has no body either, though it says how long one would be
  run raw 'HEAD /missing HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'
  assert_output --partial "404 Not Found"
  refute_output --partial "<html>"
}

# epoch_of NAME FILE - header NAME of a saved head (an HTTP date) in seconds
epoch_of() { date -u -d "$(header "$1" "$2")" +%s; }

@test "Last-Modified is each file's own time, and never later than Date (RFC 9110 sec. 8.8.2.1)" {
  make_root
  touch -d '2001-02-03 04:05:06 UTC' "$ROOT/style.css"
  touch -d '2011-12-13 14:15:16 UTC' "$ROOT/index.html"
  printf 'future\n' >"$ROOT/future.txt"
  touch -d '2400-01-01 00:00:00 UTC' "$ROOT/future.txt"
  # past the year 2^31 (gmtime() fails) where the file system keeps such a
  # time, as tmpfs does; ext4 stores it as the year 2446, still the future
  printf 'far\n' >"$ROOT/far.txt"
  touch -d @100000000000000000 "$ROOT/far.txt" 2>/dev/null || touch -d '2440-01-01' "$ROOT/far.txt"
  start_server $L -r "$ROOT"
  # two files in turn, on one connection: each keeps its own time
  run hcurl -D - -o /dev/null -o /dev/null -o /dev/null "http://127.0.0.1:$SERVER_PORT/style.css" \
        "http://127.0.0.1:$SERVER_PORT/index.html" "http://127.0.0.1:$SERVER_PORT/style.css"
  run grep -i '^Last-Modified: ' <<<"${output//$'\r'/}"
  assert_output "Last-Modified: Sat, 03 Feb 2001 04:05:06 GMT
Last-Modified: Tue, 13 Dec 2011 14:15:16 GMT
Last-Modified: Sat, 03 Feb 2001 04:05:06 GMT"
  # a time in the future is replaced by the time of the response
  for f in future.txt far.txt; do
    hcurl -D "$BATS_TEST_TMPDIR/h" -o /dev/null "http://127.0.0.1:$SERVER_PORT/$f"
    header Last-Modified "$BATS_TEST_TMPDIR/h" |
      grep -Eq '^[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT$'
    lm=$(epoch_of Last-Modified "$BATS_TEST_TMPDIR/h")
    now=$(epoch_of Date "$BATS_TEST_TMPDIR/h")
    (( lm <= now && lm >= now - 1 )) || { echo "# $f: Last-Modified $lm, Date $now"; false; }
  done
}

@test "status codes: 404, 405 with Allow, 501, 505, and 400 for malformed requests" {
  start_server $L
  [ "$(code /no-such-page.html)" = 404 ]
  run hcurl -i -X POST "http://127.0.0.1:$SERVER_PORT/"
  assert_output --partial "HTTP/1.1 405 Method Not Allowed"
  assert_output --partial "Allow: GET, HEAD"
  [ "$(code / -X DELETE)" = 405 ]
  [ "$(code / -X BREW)" = 501 ]
  run raw 'GET / HTTP/2.0\r\nHost: t\r\n\r\n'
  assert_output --partial "HTTP/1.1 505 HTTP Version Not Supported"
  run raw 'GET / HTTP/1.1\r\n\r\n'                       # 1.1 needs Host
  assert_output --partial "HTTP/1.1 400 Bad Request"
  run raw 'GET / HTTP/1.0\r\n\r\n'                       # 1.0 does not
  assert_output --partial "HTTP/1.1 200 OK"
  run raw 'GET / HTTP/1.1\r\nHost : t\r\n\r\n'           # space before the colon
  assert_output --partial "400 Bad Request"
  run raw 'GET /%%zz HTTP/1.1\r\nHost: t\r\n\r\n'        # a bad escape
  assert_output --partial "400 Bad Request"
  run raw 'GET / HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n' # obs-fold
  assert_output --partial "400 Bad Request"
  run raw 'hello there\r\n\r\n'
  assert_output --partial "400 Bad Request"
  # request smuggling shapes: the body's length in doubt is an error, then close
  for cl in '5\r\nContent-Length: 6' '+5' '-1' '0x5' '5, 5' '99999999999999999999'; do
    run raw "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: $cl\r\n\r\nhelloGET /style.css HTTP/1.1\r\nHost: t\r\n\r\n"
    assert_output --partial "400 Bad Request"
    refute_output --partial "200 OK"             # the hidden request is never answered
  done
  run raw 'GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n\r\n'
  assert_output --partial "400 Bad Request"
  run raw 'GET / HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: t\r\n\r\n'
  assert_output --partial "400 Bad Request"
  # every answer, errors too, has a Content-Length and a Content-Type
  run raw 'GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'
  assert_output --partial "Content-Length: "
  assert_output --partial "Content-Type: text/html"
  kill -0 "$SERVER_PID"
}

@test "a request line over 8 KiB gets 414, a header section over 16 KiB gets 431" {
  start_server $L
  long=$(head -c 9000 /dev/zero | tr '\0' a)
  [ "$(code "/$long")" = 414 ]
  big=$(head -c 17000 /dev/zero | tr '\0' b)
  [ "$(code / -H "X-Big: $big")" = 431 ]
  many=()
  for i in $(seq 120); do many+=(-H "X-Field-$i: v"); done
  [ "$(code / "${many[@]}")" = 431 ]
  # a line that never ends is cut off at the limit, not buffered forever
  run raw "GET /$(head -c 20000 /dev/zero | tr '\0' c)"
  assert_output --partial "414 URI Too Long"
  # a client still sending a 1 MiB head gets the answer, not a reset
  { printf 'GET / HTTP/1.1\r\nHost: t\r\n'
    for i in $(seq 2000); do printf 'X-Pad-%d: %0500d\r\n' "$i" 0; done; } >"$BATS_TEST_TMPDIR/big-head"
  run timeout -k 2 "$CLIENT_TIMEOUT" socat -t "$LAB_WAIT" - "TCP:127.0.0.1:$SERVER_PORT" <"$BATS_TEST_TMPDIR/big-head"
  assert_output --partial "431 Request Header Fields Too Large"
  [ "$(code /)" = 200 ]
}

@test "Host must be one valid host[:port] (RFC 9112 sec. 3.2); a bare CR is never a line end" {
  start_server $L
  for host in 'a b' 'a/b' 'a@b' 'a:8x' '[::1' 'a%%zz' '[::1]x' '' ':8000' '[]'; do
    run raw "GET / HTTP/1.1\r\nHost: $host\r\nConnection: close\r\n\r\n"
    assert_output --partial "400 Bad Request" || { echo "# Host: $host"; false; }
  done
  for host in 'example.test' 'example.test:8000' '127.0.0.1:8000' '[::1]:8000' 'xn--bcher-kva.example'; do
    run raw "GET / HTTP/1.1\r\nHost: $host\r\nConnection: close\r\n\r\n"
    assert_output --partial "200 OK" || { echo "# Host: $host"; false; }
  done
  # empty lines (CR LF or LF) before a request are skipped (sec. 2.2), a lone CR is not
  run raw '\r\n\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'
  assert_output --partial "200 OK"
  run raw '\rGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'
  assert_output --partial "400 Bad Request"
}

@test "Host: empty, repeated or missing in HTTP/1.1 is 400; a 100 KB method is 501, not 414" {
  start_server $L
  # an empty Host names no host (RFC 9110 sec. 4.2.1): 400, also as an only field
  run raw 'GET / HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n'
  assert_output --partial "400 Bad Request"
  run raw 'GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\nConnection: close\r\n\r\n'
  assert_output --partial "400 Bad Request"
  run raw 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n'
  assert_output --partial "400 Bad Request"
  run raw 'GET / HTTP/1.0\r\n\r\n'                       # 1.0 needs no Host
  assert_output --partial "200 OK"
  # a method of 100 KB: "not implemented", at once, whatever follows
  method=$(head -c 100000 /dev/zero | tr '\0' M)
  run raw "$method / HTTP/1.1\r\nHost: t\r\n\r\n"
  assert_output --partial "501 Not Implemented"
  refute_output --partial "414"
  run raw "$method"
  assert_output --partial "501 Not Implemented"
  [ "$(code /)" = 200 ]
}

# --- connections -----------------------------------------------------------

@test "keep-alive: curl reuses one connection for several requests" {
  start_server $L
  run hcurl -v -o /dev/null -o /dev/null -o /dev/null "http://127.0.0.1:$SERVER_PORT/" \
    "http://127.0.0.1:$SERVER_PORT/style.css" "http://127.0.0.1:$SERVER_PORT/logo.png"
  assert_success
  assert_output --partial "Re-using existing connection"
  wait_for_line "$SERVER_ERR" 'after 3 requests'
  [ "$(grep -c 'connection from' "$SERVER_ERR")" -eq 1 ]
}

@test "Connection: close is honoured, and HTTP/1.0 closes unless asked to keep alive" {
  start_server $L
  open_conn
  printf 'GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' >&$CONN
  run read_to_eof "$CONN"                 # ends because the server closed
  assert_success
  assert_output --partial "Connection: close"
  exec {CONN}>&-

  open_conn
  printf 'GET /style.css HTTP/1.0\r\n\r\n' >&$CONN
  run read_to_eof "$CONN"
  assert_output --partial "Connection: close"
  exec {CONN}>&-

  # 1.0 with keep-alive: a second request on the same connection is answered
  open_conn
  printf 'GET /style.css HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n' >&$CONN
  run read_to_eof "$CONN"
  [ "$(grep -c 'HTTP/1.1 200 OK' <<<"$output")" -eq 2 ]
  assert_output --partial "Connection: keep-alive"
  exec {CONN}>&-
}

@test "pipelined requests in one write are all answered, in order; a body is skipped" {
  start_server $L
  run raw 'GET /style.css HTTP/1.1\r\nHost: t\r\n\r\nPOST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello worldGET /nope HTTP/1.1\r\nHost: t\r\n\r\nHEAD / HTTP/1.1\r\nHost: t\r\n\r\n'
  assert_success
  run grep -a '^HTTP/1.1' <<<"$output"
  assert_output $'HTTP/1.1 200 OK\r\nHTTP/1.1 405 Method Not Allowed\r\nHTTP/1.1 404 Not Found\r\nHTTP/1.1 200 OK\r'
}

@test "a 10 MB file arrives byte for byte, with curl and with the lab's client" {
  make_root
  head -c 10000000 /dev/urandom >"$ROOT/big.bin"
  start_server $L -r "$ROOT"
  hcurl -o "$BATS_TEST_TMPDIR/got1" "http://127.0.0.1:$SERVER_PORT/big.bin"
  cmp "$ROOT/big.bin" "$BATS_TEST_TMPDIR/got1"
  client $L "http://127.0.0.1:$SERVER_PORT/big.bin" >"$BATS_TEST_TMPDIR/got2"
  cmp "$ROOT/big.bin" "$BATS_TEST_TMPDIR/got2"
}

# --- request framing: where one request ends and the next begins ------------

@test "a chunked body is decoded and skipped: extensions, trailers, the next request answered (RFC 9112 sec. 7.1)" {
  start_server $L
  run raw 'GET /style.css HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value;q="a b"\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Checksum: 42\r\n\r\nGET /nope HTTP/1.1\r\nHost: t\r\n\r\nPOST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'
  run grep -a '^HTTP/1.1' <<<"$output"
  assert_output $'HTTP/1.1 200 OK\r\nHTTP/1.1 404 Not Found\r\nHTTP/1.1 501 Not Implemented\r'
  # Transfer-Encoding: Chunked (any case), and a body that arrives a byte at a time
  open_conn
  printf 'GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: Chunked\r\n\r\n' >&$CONN
  for part in '1' '0' '\r' '\n' 'x' 'y' 'z' '0123456789abc' '\r' '\n' '0\r' '\n\r' '\n'; do
    printf "$part" >&$CONN
  done
  printf 'GET /style.css HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' >&$CONN
  run read_to_eof "$CONN"
  [ "$(grep -c 'HTTP/1.1 200 OK' <<<"$output")" -eq 2 ]
  assert_output --partial "Content-Type: text/css"
  exec {CONN}>&-
  # curl sends a chunked upload the same way: the POST is read, then answered
  run hcurl -i -X POST -H "Transfer-Encoding: chunked" -H "Expect:" --data-binary "some data" \
    "http://127.0.0.1:$SERVER_PORT/" --next -i "http://127.0.0.1:$SERVER_PORT/style.css"
  assert_output --partial "405 Method Not Allowed"
  assert_output --partial "200 OK"
  [ "$(grep -c 'connection from' "$SERVER_ERR")" -eq 3 ]   # curl's two requests on one
}

@test "request smuggling shapes: a body whose end is in doubt gets 400 and a close, and what hides behind it is never answered (RFC 9112 sec. 6.1-6.3)" {
  start_server $L
  hidden='GET /style.css HTTP/1.1\r\nHost: t\r\n\r\n'
  te='Transfer-Encoding'
  # CL and TE together, in either order; TE not ending in chunked, twice, empty; TE in HTTP/1.0
  for head in "Content-Length: 4\\r\\n$te: chunked" "$te: chunked\\r\\nContent-Length: 4" \
              "$te: gzip" "$te: chunked, gzip" "$te: chunked, chunked" "$te: chunked\\r\\n$te: chunked" \
              "$te: " "$te: chunked;x=1" "$te: \"chunked\""; do
    run raw "GET / HTTP/1.1\\r\\nHost: t\\r\\n$head\\r\\n\\r\\n0\\r\\n\\r\\n$hidden"
    assert_output --partial "400 Bad Request"
    assert_output --partial "Connection: close"
    refute_output --partial "text/css"
  done
  run raw "GET / HTTP/1.0\\r\\n$te: chunked\\r\\n\\r\\n0\\r\\n\\r\\n$hidden"
  assert_output --partial "400 Bad Request"
  refute_output --partial "text/css"
  # malformed chunks: bad hex, a sign, 0x, overflow, space, bare LF or CR,
  # no CRLF after the data, bad extensions, an over-long line, a bad trailer
  long=$(head -c 1100 /dev/zero | tr '\0' x)
  for body in '5g\r\nhello\r\n0\r\n\r\n' '+5\r\nhello\r\n0\r\n\r\n' '-5\r\nhello\r\n0\r\n\r\n' \
              '0x5\r\nhello\r\n0\r\n\r\n' '10000000000000005\r\nhello\r\n0\r\n\r\n' \
              ' 5\r\nhello\r\n0\r\n\r\n' '5 \r\nhello\r\n0\r\n\r\n' '5\nhello\r\n0\r\n\r\n' \
              '5\rhello\r\n0\r\n\r\n' '5\r\nhello\n0\r\n\r\n' '3\r\nhello\r\n0\r\n\r\n' \
              '0\r\n\n' '5;\r\nhello\r\n0\r\n\r\n' '5;a=\r\nhello\r\n0\r\n\r\n' \
              "5;a=$long\\r\\nhello\\r\\n0\\r\\n\\r\\n" '0\r\nnot a field\r\n\r\n'; do
    run raw "GET / HTTP/1.1\\r\\nHost: t\\r\\n$te: chunked\\r\\n\\r\\n$body$hidden"
    assert_output --partial "400 Bad Request"
    refute_output --partial "200 OK"
  done
  kill -0 "$SERVER_PID"
  grep -q 'bad request: chunk size is not hexadecimal -> 400' "$SERVER_ERR"
  grep -q 'bad request: both Content-Length and Transfer-Encoding -> 400' "$SERVER_ERR"
}

@test "100 MiB of body, by length and in chunks, is skipped as it comes: the next request is answered, the server stays small" {
  command -v socat >/dev/null || skip "socat is not installed (apt-get install socat)"
  start_server $L
  next='GET /style.css HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'
  run bash -c "{ printf 'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 104857600\r\n\r\n'
                 head -c 104857600 /dev/zero; printf '$next'; } |
               timeout -k 2 $CLIENT_TIMEOUT socat -t $LAB_WAIT - TCP:127.0.0.1:$SERVER_PORT | grep -a '^HTTP'"
  assert_output $'HTTP/1.1 405 Method Not Allowed\r\nHTTP/1.1 200 OK\r'
  run bash -c "{ printf 'GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n'
                 for i in \$(seq 100); do printf '100000;part=%d\r\n' \$i; head -c 1048576 /dev/zero; printf '\r\n'; done
                 printf '0\r\n\r\n$next'; } |
               timeout -k 2 $CLIENT_TIMEOUT socat -t $LAB_WAIT - TCP:127.0.0.1:$SERVER_PORT | grep -a '^HTTP'"
  assert_output $'HTTP/1.1 200 OK\r\nHTTP/1.1 200 OK\r'
  hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$SERVER_PID/status")
  echo "# peak resident memory: $hwm KiB"
  [ "$hwm" -lt 16384 ]
}

@test "a full buffer always gets a verdict: a 16 KiB head and a 1 KiB chunk line fit, a longer chunk line is 400" {
  start_server $L
  pad=$(head -c 16200 /dev/zero | tr '\0' a)
  ext=$(head -c 1000 /dev/zero | tr '\0' b)
  run raw "GET / HTTP/1.1\r\nHost: t\r\nX-Pad: $pad\r\nTransfer-Encoding: chunked\r\n\r\n5;e=$ext\r\nhello\r\n0\r\n\r\nGET /style.css HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
  [ "$(grep -c 'HTTP/1.1 200 OK' <<<"$output")" -eq 2 ]
  ext=$(head -c 1030 /dev/zero | tr '\0' b)
  run raw "GET / HTTP/1.1\r\nHost: t\r\nX-Pad: $pad\r\nTransfer-Encoding: chunked\r\n\r\n5;e=$ext\r\nhello\r\n0\r\n\r\n"
  assert_output --partial "400 Bad Request"
  grep -q 'bad request: chunk line too long -> 400' "$SERVER_ERR"
}

@test "Expect: 100-continue gets its answer at once, before the body it announced (RFC 9110 sec. 10.1.1)" {
  start_server $L
  open_conn
  printf 'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n' >&$CONN
  IFS= read -r -t "$LAB_WAIT" status <&$CONN
  [ "$status" = $'HTTP/1.1 405 Method Not Allowed\r' ]
  exec {CONN}>&-
  # curl waits for it, then sends nothing: the answer came first
  head -c 2000000 /dev/zero >"$BATS_TEST_TMPDIR/upload"
  run hcurl -i -H "Expect: 100-continue" --expect100-timeout 15 \
    --data-binary @"$BATS_TEST_TMPDIR/upload" "http://127.0.0.1:$SERVER_PORT/"
  assert_output --partial "405 Method Not Allowed"
  assert_output --partial "Connection: close"
}

# --- validators and conditional requests (RFC 9110 sec. 8.8, 13) ------------

# etag_of PATH - the ETag the server sends for PATH
etag_of() { hcurl -I "http://127.0.0.1:$SERVER_PORT$1" | tr -d '\r' | awk -F': ' 'tolower($1) == "etag" { print $2 }'; }

@test "ETag and Last-Modified on every file; If-None-Match and If-Modified-Since answer 304 (RFC 9110 sec. 13.1.2, 13.1.3)" {
  make_root
  start_server $L -r "$ROOT"
  url="http://127.0.0.1:$SERVER_PORT/style.css"
  # curl keeps the ETag and sends it back: 304, the validators, no body, no Content-Length or -Type
  hcurl --etag-save "$BATS_TEST_TMPDIR/etag" -o /dev/null "$url"
  grep -Eq '^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+\.[0-9a-f]+"$' "$BATS_TEST_TMPDIR/etag"
  run hcurl -i --etag-compare "$BATS_TEST_TMPDIR/etag" "$url"
  assert_line --index 0 $'HTTP/1.1 304 Not Modified\r'
  assert_output --partial "ETag: $(cat "$BATS_TEST_TMPDIR/etag")"
  refute_output --partial "Last-Modified: "     # sec. 15.4.5: the ETag is enough
  refute_output --partial "Content-Length"
  refute_output --partial "Content-Type"
  [ "${lines[-1]}" = $'\r' ] || [ -z "${lines[-1]}" ]
  etag=$(cat "$BATS_TEST_TMPDIR/etag")
  # lists, W/ (weak comparison), *, several lines; a HEAD as a GET
  [ "$(code /style.css -H "If-None-Match: \"x\", W/$etag")" = 304 ]
  [ "$(code /style.css -H 'If-None-Match: "x"' -H "If-None-Match: $etag")" = 304 ]
  [ "$(code /style.css -H 'If-None-Match: *')" = 304 ]
  [ "$(code /style.css -H 'If-None-Match: "x"')" = 200 ]
  [ "$(code /style.css -I -H "If-None-Match: $etag")" = 304 ]
  # curl -z: If-Modified-Since, in each of the three date formats
  [ "$(code /style.css -z "$ROOT/style.css")" = 304 ]
  lm=$(hcurl -I "$url" | tr -d '\r' | awk -F': ' 'tolower($1) == "last-modified" { print $2 }')
  read -r _ day mon year clock _ <<<"$lm"
  [ "$(code /style.css -H "If-Modified-Since: $lm")" = 304 ]
  [ "$(code /style.css -H "If-Modified-Since: $(date -u -d "$lm" '+%A, %d-%b-%y %T GMT')")" = 304 ]
  [ "$(code /style.css -H "If-Modified-Since: $(date -u -d "$lm" '+%a %b %e %T %Y')")" = 304 ]
  [ "$(code /style.css -H "If-Modified-Since: $(date -u -d "$lm - 1 second" '+%a, %d %b %Y %T GMT')")" = 200 ]
  [ "$(code /style.css -H 'If-Modified-Since: yesterday')" = 200 ]
  # If-None-Match wins over If-Modified-Since (sec. 13.2.2, step 3 before 4)
  [ "$(code /style.css -H 'If-None-Match: "x"' -H "If-Modified-Since: $lm")" = 200 ]
  # a conditional GET of a missing file is still 404
  [ "$(code /nope.css -H 'If-None-Match: *')" = 404 ]
  # the file changes: a new ETag, and the old one no longer matches
  echo "/* changed */" >>"$ROOT/style.css"
  [ "$(etag_of /style.css)" != "$etag" ]
  [ "$(code /style.css -H "If-None-Match: $etag")" = 200 ]
  grep -q '"GET /style.css HTTP/1.1" 304' "$SERVER_ERR"
}

@test "If-Match and If-Unmodified-Since: another version of the file gets 412, checked before 304 (RFC 9110 sec. 13.1.1, 13.1.4)" {
  start_server $L
  etag=$(etag_of /style.css)
  [ "$(code /style.css -H 'If-Match: "x"')" = 412 ]
  [ "$(code /style.css -H "If-Match: W/$etag")" = 412 ]       # strong comparison
  [ "$(code /style.css -H "If-Match: \"x\", $etag")" = 200 ]
  [ "$(code /style.css -H 'If-Match: *')" = 200 ]
  [ "$(code /style.css -H 'If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT')" = 412 ]
  [ "$(code /style.css -H 'If-Unmodified-Since: Fri, 01 Jan 2100 00:00:00 GMT')" = 200 ]
  [ "$(code /style.css -H 'If-Match: "x"' -H "If-None-Match: $etag")" = 412 ]
  run hcurl -i -H 'If-Match: "x"' "http://127.0.0.1:$SERVER_PORT/style.css"
  assert_output --partial "412 Precondition Failed"
  assert_output --partial "Connection: keep-alive"
}

# --- byte ranges (RFC 9110 sec. 14) ----------------------------------------

@test "Range: one byte range gets 206 and Content-Range; past the end 416 with bytes */N; several ranges the whole file" {
  make_root
  head -c 10000000 /dev/urandom >"$ROOT/big.bin"
  start_server $L -r "$ROOT"
  url="http://127.0.0.1:$SERVER_PORT/big.bin"
  run hcurl -D "$BATS_TEST_TMPDIR/head" -r 0-9 -o "$BATS_TEST_TMPDIR/part" "$url"
  grep -q $'^HTTP/1.1 206 Partial Content\r$' "$BATS_TEST_TMPDIR/head"
  [ "$(header Content-Range "$BATS_TEST_TMPDIR/head")" = "bytes 0-9/10000000" ]
  [ "$(header Content-Length "$BATS_TEST_TMPDIR/head")" = 10 ]
  [ "$(header Accept-Ranges "$BATS_TEST_TMPDIR/head")" = bytes ]
  cmp <(head -c 10 "$ROOT/big.bin") "$BATS_TEST_TMPDIR/part"
  # the middle of a big file, by sendfile() from that offset; an open end; a suffix
  hcurl -r 5000000-5999999 -o "$BATS_TEST_TMPDIR/part" "$url"
  cmp <(tail -c +5000001 "$ROOT/big.bin" | head -c 1000000) "$BATS_TEST_TMPDIR/part"
  hcurl -r 9999000- -o "$BATS_TEST_TMPDIR/part" "$url"
  cmp <(tail -c 1000 "$ROOT/big.bin") "$BATS_TEST_TMPDIR/part"
  hcurl -r -500 -o "$BATS_TEST_TMPDIR/part" "$url"
  cmp <(tail -c 500 "$ROOT/big.bin") "$BATS_TEST_TMPDIR/part"
  run hcurl -D - -o /dev/null -r 9999990-20000000 "$url"
  assert_output --partial "Content-Range: bytes 9999990-9999999/10000000"
  # a broken-off download resumes where it stopped: curl -C -
  head -c 3333333 "$ROOT/big.bin" >"$BATS_TEST_TMPDIR/resumed"
  hcurl -C - -o "$BATS_TEST_TMPDIR/resumed" "$url"
  cmp "$ROOT/big.bin" "$BATS_TEST_TMPDIR/resumed"
  # unsatisfiable: 416, bytes */N, and the connection stays open
  run raw 'GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=10000000-\r\n\r\nGET /style.css HTTP/1.1\r\nHost: t\r\n\r\n'
  assert_output --partial "416 Range Not Satisfiable"
  assert_output --partial "Content-Range: bytes */10000000"
  assert_output --partial "Content-Type: text/css"
  # ignored (sec. 14.2): several ranges, another unit, end before start, HEAD
  [ "$(code /big.bin -r 0-1,5-6 -o /dev/null)" = 200 ]
  [ "$(code /style.css -H 'Range: lines=0-1')" = 200 ]
  [ "$(code /style.css -H 'Range: bytes=5-1')" = 200 ]
  run hcurl -sI -r 0-9 "$url"
  assert_line --index 0 $'HTTP/1.1 200 OK\r'
  assert_output --partial "Content-Length: 10000000"
  grep -q '"GET /big.bin HTTP/1.1" 206' "$SERVER_ERR"
}

@test "If-Range: the range only if the file is still the version named, else the whole file (RFC 9110 sec. 13.1.5)" {
  make_root
  start_server $L -r "$ROOT"
  etag=$(etag_of /style.css)
  size=$(stat -c %s "$ROOT/style.css")
  [ "$(code /style.css -r 0-9 -H "If-Range: $etag")" = 206 ]
  [ "$(code /style.css -r 0-9 -H 'If-Range: "other"')" = 200 ]
  [ "$(code /style.css -r 0-9 -H "If-Range: W/$etag")" = 200 ]
  # a date is never known to be a strong validator here (sec. 8.8.2.2): the whole file
  touch -d '2020-01-01 00:00:00 UTC' "$ROOT/style.css"
  [ "$(code /style.css -r 0-9 -H 'If-Range: Wed, 01 Jan 2020 00:00:00 GMT')" = 200 ]
  [ "$(code /style.css -r 0-9 -H "If-Range: $etag")" = 200 ]   # touched: a new version
  [ "$(code /style.css -r 0-9 -H "If-Range: $(etag_of /style.css)")" = 206 ]
  run hcurl -r 0-9 -H 'If-Range: "other"' "http://127.0.0.1:$SERVER_PORT/style.css"
  [ "${#output}" -ge $((size - 1)) ]
}

# --- the parser's verdicts, case by case ------------------------------------

@test "the parser's verdict on each named case: framing, conditions, ranges (12-http/fuzz/expected)" {
  cd "$LAB/$L/fuzz/corpus"
  # a 1000-byte file modified at 06 Nov 1994 08:49:37, asked in Nov 2023
  run "$TOOLS/12-parse" -c 1000 784111777 1700000000 *
  assert_success
  refute_output --partial "SPLIT MISMATCH"
  # every expected line is in the output (files the fuzzer adds may come on top)
  run comm -23 <(grep -v '^#' "$LAB/$L/fuzz/expected" | sort) <(sort <<<"$output")
  assert_output ""
}

# --- the root is a fence ---------------------------------------------------

# check_traversal [SERVER OPTIONS] - targets that climb out of the root,
# as text: the first fence (http_target_to_path) refuses them all
check_traversal() {
  make_root
  start_server $L -r "$ROOT" "$@"
  for path in /../secret.txt /sub/../../secret.txt /%2e%2e/secret.txt /%2E%2E%2Fsecret.txt \
              /..%2fsecret.txt /sub/%2e%2e/%2e%2e/secret.txt /./../secret.txt \
              /../../../../../../etc/passwd /%2e%2e/%2e%2e/%2e%2e/etc/passwd; do
    c=$(code "$path")
    [[ "$c" = 403 || "$c" = 404 ]] || { echo "# $path answered $c"; false; }
  done
  [ "$(code /%252e%252e/secret.txt)" = 404 ]   # decoded once: a name "%2e%2e"
  run raw 'GET http://t/../secret.txt HTTP/1.1\r\nHost: t\r\n\r\n'
  assert_output --partial "403 Forbidden"
  # and what climbs but stays inside is fine
  [ "$(code /sub/../style.css)" = 200 ]
  [ "$(code /sub/%2e%2e/style.css)" = 200 ]
  ! grep -q "TOP-SECRET" "$SERVER_ERR"
}

# check_symlinks [SERVER OPTIONS] - symbolic links inside the root: the
# second fence (openat2 RESOLVE_BENEATH, or realpath() and a prefix
# check with --no-openat2) refuses every one that leads out, however it
# is reached, and follows those that stay inside
check_symlinks() {
  make_root
  ln -s "$SECRET" "$ROOT/leak.txt"             # absolute, out
  ln -s ../secret.txt "$ROOT/rel-leak.txt"     # relative, climbs out
  ln -s ../../secret.txt "$ROOT/sub/deep-leak.txt"
  ln -s leak.txt "$ROOT/chain.txt"             # a link to a link that leads out
  ln -s "$BATS_TEST_TMPDIR" "$ROOT/up"         # folders that lead out
  ln -s .. "$ROOT/parent"
  ln -s /etc "$ROOT/etc"
  ln -s /proc/self/root "$ROOT/procroot"       # a /proc "magic" link
  ln -s loop "$ROOT/loop"                      # a link to itself
  ln -s style.css "$ROOT/alias.css"            # links that stay inside
  ln -s ../style.css "$ROOT/sub/up.css"
  ln -s sub "$ROOT/subalias"
  start_server $L -r "$ROOT" "$@"
  for path in /leak.txt /rel-leak.txt /sub/deep-leak.txt /chain.txt /up/secret.txt \
              /parent/secret.txt /etc/passwd /procroot/etc/passwd /loop \
              /%6ceak.txt /%70arent/secret.txt /sub/%64eep-leak.txt /parent%2fsecret.txt; do
    c=$(code "$path")
    [ "$c" = 403 ] || { echo "# $path answered $c"; false; }
    run hcurl "http://127.0.0.1:$SERVER_PORT$path"
    refute_output --partial "TOP-SECRET"
  done
  [ "$(code /alias.css)" = 200 ]
  [ "$(code /sub/up.css)" = 200 ]
  run hcurl "http://127.0.0.1:$SERVER_PORT/subalias/"
  assert_output --partial "in the sub folder"
}

@test "traversal is refused, plain, percent-encoded, with encoded slashes, absolute form" {
  check_traversal
}

@test "traversal is refused the same with --no-openat2 (the realpath() fence)" {
  check_traversal --no-openat2
}

@test "a symbolic link that leads out of the root is refused; one inside is followed" {
  check_symlinks
  # openat2 refuses every absolute link, even one that points back inside
  ln -s "$ROOT/style.css" "$ROOT/abs.css"
  [ "$(code /abs.css)" = 403 ]
}

@test "with --no-openat2, realpath() and the prefix check refuse the same links" {
  check_symlinks --no-openat2
  # realpath() compares where a link ends: an absolute one back inside is served
  ln -s "$ROOT/style.css" "$ROOT/abs.css"
  [ "$(code /abs.css)" = 200 ]
}

@test "on a kernel without openat2 (ENOSYS, injected by strace) it says so and uses realpath()" {
  command -v strace >/dev/null || skip "strace is not installed (apt-get install strace)"
  [ -z "$LAB_WRAP" ] || skip "LAB_WRAP would wrap strace, not the server"
  inject=(strace -f -qq -o /dev/null -e trace=openat2 -e inject=openat2:error=ENOSYS)
  "${inject[@]}" true 2>/dev/null || skip "strace cannot trace or inject faults here"
  make_root
  ln -s "$SECRET" "$ROOT/leak.txt"
  ln -s "$ROOT/style.css" "$ROOT/abs.css"
  start_server_cmd "${inject[@]}" "$LAB/$L/server" -p 0 -r "$ROOT"
  grep -q "openat2 unavailable, using realpath() instead: Function not implemented" "$SERVER_ERR"
  [ "$(code /index.html)" = 200 ]
  [ "$(code /sub/)" = 200 ]
  [ "$(code /leak.txt)" = 403 ]
  [ "$(code /abs.css)" = 200 ]          # served: the realpath() fence is in use
  run hcurl "http://127.0.0.1:$SERVER_PORT/leak.txt"
  refute_output --partial "TOP-SECRET"
}

# as_nobody - the command line prefix that runs a program as user nobody
# (empty when the tests do not run as root), after opening the path to
# the test's folder to others; skips the test where that is not possible
as_nobody() {
  AS_NOBODY=()
  [ "$(id -u)" = 0 ] || return 0
  [ -z "$LAB_WRAP" ] || skip "LAB_WRAP would wrap setpriv, not the server"
  command -v setpriv >/dev/null || skip "setpriv is not installed"
  local d=$BATS_TEST_TMPDIR
  while [ "$d" != "$(dirname "$BATS_RUN_TMPDIR")" ] && [ "$d" != / ]; do
    chmod o+x "$d"; d=$(dirname "$d")
  done
  AS_NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  "${AS_NOBODY[@]}" test -x "$LAB/$L/server" || skip "user nobody cannot run $LAB/$L/server"
}

@test "a root that may be searched but not listed (mode 0311) serves its files, with both fences" {
  make_root
  as_nobody
  chmod 0311 "$ROOT"
  for opts in "" --no-openat2; do
    # shellcheck disable=SC2086  # opts is one option or none
    start_server_cmd "${AS_NOBODY[@]}" "$LAB/$L/server" -p 0 -r "$ROOT" $opts
    [ "$(code /index.html)" = 200 ]
    [ "$(code /sub/)" = 200 ]
    stop_server
  done
}

@test "a folder that may be entered but not listed (mode 0711): /d/ serves its index.html, /d redirects" {
  make_root
  as_nobody
  mkdir "$ROOT/d"
  printf '<!DOCTYPE html><title>d</title>in the folder d\n' >"$ROOT/d/index.html"
  printf 'nobody may read this\n' >"$ROOT/d/private.txt"
  chmod 0000 "$ROOT/d/private.txt"
  chmod 0711 "$ROOT/d"
  for opts in "" --no-openat2; do
    # shellcheck disable=SC2086  # opts is one option or none
    start_server_cmd "${AS_NOBODY[@]}" "$LAB/$L/server" -p 0 -r "$ROOT" $opts
    run hcurl "http://127.0.0.1:$SERVER_PORT/d/"
    assert_output --partial "in the folder d"
    run hcurl -i "http://127.0.0.1:$SERVER_PORT/d"
    assert_output --partial "301 Moved Permanently"
    assert_output --partial $'Location: /d/\r'
    # search permission opens the folder, never a file that may not be read
    [ "$(code /d/private.txt)" = 403 ]
    stop_server
  done
}

@test "the last response before a close arrives, also when more bytes came after the last read" {
  # The server closes after a response to Connection: close, or after an
  # error it answers with a close; a pipelining client may have sent its
  # next request meanwhile. close() with unread bytes sends a reset, and
  # a reset throws away whatever the server's kernel still held back
  # (MSG_MORE): the response must have left before. strace delays each
  # sendto() so that the next request surely arrives before it.
  command -v strace >/dev/null || skip "strace is not installed (apt-get install strace)"
  [ -z "$LAB_WRAP" ] || skip "LAB_WRAP would wrap strace, not the server"
  delay=(strace -f -qq -o /dev/null -e trace=sendto -e inject=sendto:delay_enter=500000)
  "${delay[@]}" true 2>/dev/null || skip "strace cannot trace or inject delays here"
  start_server_cmd "${delay[@]}" "$LAB/$L/server" -p 0
  for first in 'GET /style.css HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' \
               'GET /%%zz HTTP/1.1\r\nHost: t\r\n\r\n'; do
    open_conn
    printf "$first" >&"$CONN"
    case $first in
      *style*) want="200 OK" line='"GET /style.css HTTP/1.1" 200' ;;
      *)       want="400 Bad Request" line='"GET /%zz HTTP/1.1" 400' ;;
    esac
    wait_for_line "$SERVER_ERR" "$line"    # logged before its sendto()
    printf 'GET / HTTP/1.1\r\nHost: t\r\n\r\n' >&"$CONN"
    run read_to_eof "$CONN"                # ends with a reset: no assert_success
    assert_output --partial "HTTP/1.1 $want"
    exec {CONN}<&-
  done
}

@test "folders: /sub redirects to /sub/, which serves its index.html; a FIFO is refused" {
  make_root
  mkfifo "$ROOT/pipe"
  start_server $L -r "$ROOT"
  run hcurl -i "http://127.0.0.1:$SERVER_PORT/sub"
  assert_output --partial "301 Moved Permanently"
  assert_output --partial "Location: /sub/"
  run hcurl "http://127.0.0.1:$SERVER_PORT/sub/"
  assert_output --partial "in the sub folder"
  [ "$(code /sub/?q=1)" = 200 ]
  # a target that normalises to the root redirects to "/", never to "//"
  # (a network-path reference: "//host/" would name another server)
  for path in /. /sub/.. /sub/%2e%2e; do
    run hcurl -i --path-as-is "http://127.0.0.1:$SERVER_PORT$path"
    assert_output --partial "301 Moved Permanently"
    assert_output --partial $'Location: /\r'
  done
  # a file is not a folder: "/index.html/" names nothing
  [ "$(code /index.html/)" = 404 ]
  [ "$(code /sub/index.html/)" = 404 ]
  # opening a FIFO would block a naive server for ever
  [ "$(code /pipe)" = 403 ]
  [ "$(code /)" = 200 ]
}

# --- slow, silent, greedy and many clients ---------------------------------

@test "a silent client and a slow header do not block others, and time out" {
  start_server $L --header-timeout 1 --idle-timeout 2
  exec {silent}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
  exec {slow}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
  printf 'GET / HTTP/1.1\r\nHost: t\r\n' >&$slow        # and never the blank line
  wait_until "$LAB_WAIT" connections_seen 2
  [ "$(code /)" = 200 ]                                 # served meanwhile
  wait_for_line "$SERVER_ERR" 'header timeout'
  wait_for_line "$SERVER_ERR" 'idle timeout'
  run read_to_eof "$silent"                            # the server closed both
  assert_success
  run read_to_eof "$slow"
  assert_success
  exec {silent}>&- {slow}>&-
  [ "$(code /)" = 200 ]
}

@test "a client that never reads a 10 MB answer does not stall the others" {
  make_root
  head -c 10000000 /dev/zero >"$ROOT/big.bin"
  start_server $L -r "$ROOT"
  open_conn
  printf 'GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n' >&$CONN
  # the kernel buffers fill up on both sides: bytes wait in the server's send queue
  wait_until "$LAB_WAIT" server_backlogged
  for i in 1 2 3; do [ "$(code /)" = 200 ]; done
  exec {CONN}>&-
  [ "$(code /style.css)" = 200 ]
}

@test "peers that reset or send garbage cost only their own connection" {
  start_server $L
  run peer reset -s "GET / HTTP/1.1"$'\r\n'
  assert_success
  run peer garbage -n 200000
  assert_success
  run peer flood -n 3000000
  [ "$(code /)" = 200 ]
  kill -0 "$SERVER_PID"
}

@test "a client that half-closes, then leaves without reading a big file: no death by SIGPIPE" {
  command -v socat >/dev/null || skip "socat is not installed (apt-get install socat)"
  make_root
  head -c 20000000 /dev/zero >"$ROOT/big.bin"    # more than both socket buffers hold
  start_server $L -r "$ROOT"
  # socat -u sends the request, half-closes, never reads, and closes 0.5 s
  # later: the reset finds the server's socket in CLOSE_WAIT, and the next
  # sendfile() fails with EPIPE and raises SIGPIPE (ignored by the server)
  printf 'GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n' |
    timeout -k 2 "$CLIENT_TIMEOUT" socat -u - "TCP:127.0.0.1:$SERVER_PORT"
  wait_for_line "$SERVER_ERR" 'client gone while sending' "$LAB_WAIT" "$SERVER_PID"
  [ "$(code /style.css)" = 200 ]
}

@test "hundreds of clients at once: 300 held connections and 200 parallel requests" {
  start_server $L -q
  fifo="$BATS_TEST_TMPDIR/hold.in"
  start_bg_input hold "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 300
  hold=$BG_PID
  exec {feed}>"$fifo"
  wait_for_line "$BG_OUT" '^holding 300$'
  urls=()
  for i in $(seq 200); do urls+=(-o /dev/null "http://127.0.0.1:$SERVER_PORT/?n=$i"); done
  run hcurl --parallel --parallel-max 100 -w '%{http_code}\n' "${urls[@]}"
  assert_success
  [ "$(grep -c '^200$' <<<"$output")" -eq 200 ]
  exec {feed}>&-
  wait_exit "$hold"
}

@test "out of descriptors (EMFILE): it pauses accepting, then serves again" {
  make_root
  start_server_cmd bash -c 'ulimit -n 40; exec "$0" "$@"' "$LAB/$L/server" -p 0 -r "$ROOT"
  fifo="$BATS_TEST_TMPDIR/hold.in"
  start_bg_input hold "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 60
  hold=$BG_PID
  exec {feed}>"$fifo"
  wait_for_line "$BG_OUT" '^holding'
  wait_for_line "$SERVER_ERR" 'accept .*Too many open files'
  exec {feed}>&-                        # the held connections go away...
  wait_exit "$hold"
  [ "$(code /)" = 200 ]                 # ...and service resumes
  [ "$(code /style.css)" = 200 ]
  kill -0 "$SERVER_PID"
}

# --- the parser under fuzzing ----------------------------------------------

@test "every file of the fuzz corpus goes through the parser without a crash" {
  corpus=("$LAB/$L"/fuzz/corpus/*)
  [ "${#corpus[@]}" -ge 20 ]
  run "$TOOLS/12-parse" "${corpus[@]}"
  assert_success
  [ "${#lines[@]}" -eq "${#corpus[@]}" ]
  assert_output --partial "traversal-encoded: complete"
  assert_line --partial "long-line: bad 414"
  assert_line --partial "many-fields: bad 431"
  assert_line --partial "long-method: bad 501"
  assert_line --partial "empty-host: bad 400"
}

# --- the lab's client ------------------------------------------------------

@test "lab client: prints the body, -i adds the head, exit 0 on 2xx and 1 otherwise" {
  start_server $L
  client $L "http://127.0.0.1:$SERVER_PORT/" >"$BATS_TEST_TMPDIR/body"
  cmp "$BATS_TEST_TMPDIR/body" "$WWW/index.html"
  run client $L -i /style.css                  # a bare path: -p gives the port
  assert_success
  assert_line --index 0 $'HTTP/1.1 200 OK\r'
  assert_output --partial "Content-Type: text/css"
  assert_output --partial "background-color"
  run client $L "http://127.0.0.1:$SERVER_PORT/missing"
  assert_failure 1
  assert_output --partial "404"
  run client $L /sub-without-slash-that-does-not-exist
  assert_failure 1
  # a fragment (#...) belongs to the browser: it is never sent
  run client $L "http://127.0.0.1:$SERVER_PORT/lessons.html#top"
  assert_success
  wait_for_line "$SERVER_ERR" '"GET /lessons.html HTTP/1.1" 200'
  run grep -c '#top' "$SERVER_ERR"
  assert_output 0
}

@test "lab client: chunked bodies, bodies that end with the connection, interim 1xx answers" {
  command -v socat >/dev/null || skip "socat is not installed (apt-get install socat)"
  printf 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHello\r\n8;ext=1\r\n, chunky\r\n8\r\n world!\n\r\n0\r\nX-Trailer: yes\r\n\r\n' \
    >"$BATS_TEST_TMPDIR/chunked"
  printf 'HTTP/1.0 200 OK\r\n\r\nno length: read to the end\n' >"$BATS_TEST_TMPDIR/eof"
  # interim 1xx answers come before the final one (RFC 9110 sec. 15.2)
  printf 'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\nthe final answer\n' \
    >"$BATS_TEST_TMPDIR/interim"
  for reply in chunked eof interim; do
    start_bg "socat-$reply" socat -d -d TCP-LISTEN:0,bind=127.0.0.1 \
      SYSTEM:"sed -u '/^.\$/q' >/dev/null; cat $BATS_TEST_TMPDIR/$reply"
    wait_for_line "$BG_ERR" 'listening on'
    port=$(grep -o 'listening on .*' "$BG_ERR" | sed 's/.*://')
    timeout 20 "$LAB/$L/client" "http://127.0.0.1:$port/x" >"$BATS_TEST_TMPDIR/got-$reply"
    case $reply in
      chunked) printf 'Hello, chunky world!\n' | cmp - "$BATS_TEST_TMPDIR/got-$reply" ;;
      eof) printf 'no length: read to the end\n' | cmp - "$BATS_TEST_TMPDIR/got-$reply" ;;
      interim) printf 'the final answer\n' | cmp - "$BATS_TEST_TMPDIR/got-$reply" ;;
    esac
  done
}

@test "lab client: a header line that never ends is refused, not buffered without bound" {
  command -v socat >/dev/null || skip "socat is not installed (apt-get install socat)"
  # a server whose answer starts well, then sends one header line for ever
  cat >"$BATS_TEST_TMPDIR/endless.sh" <<'EOF'
sed -u '/^.$/q' >/dev/null
printf 'HTTP/1.1 200 OK\r\nX-Endless: '
yes | tr -d '\n'
EOF
  start_bg socat-endless socat -d -d TCP-LISTEN:0,bind=127.0.0.1 \
    SYSTEM:"sh $BATS_TEST_TMPDIR/endless.sh"
  wait_for_line "$BG_ERR" 'listening on'
  port=$(grep -o 'listening on .*' "$BG_ERR" | sed 's/.*://')
  run timeout -k 2 "$CLIENT_TIMEOUT" "$LAB/$L/client" "http://127.0.0.1:$port/"
  assert_failure 1
  assert_output --partial "refused"
}

@test "lab client: a refused connection is one clear line and exit 1" {
  start_server $L
  port=$SERVER_PORT
  stop_server
  run timeout 10 "$LAB/$L/client" "http://127.0.0.1:$port/"
  assert_failure 1
  assert_output --partial "Connection refused"
}

# --- a real browser --------------------------------------------------------

@test "headless Chromium loads the site: title, stylesheet applied, image decoded; a reload gets 304" {
  command -v chromium >/dev/null ||
    skip "chromium is not installed (apt-get install chromium): no browser test"
  make_root
  cat >"$ROOT/check.html" <<'EOF'
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>check</title></head><body>
<iframe id="site" src="/index.html" width="800" height="600"></iframe>
<pre id="result">not loaded</pre>
<script>
var loads = 0;
document.getElementById('site').addEventListener('load', function () {
  var frame = this, doc = frame.contentDocument, img = doc.getElementById('logo');
  if (++loads === 1) {            /* the reload button: the browser revalidates */
    frame.contentWindow.location.reload();
    return;
  }
  img.decode().then(function () {
    document.getElementById('result').textContent =
      'title=' + doc.title + ';background=' + getComputedStyle(doc.body).backgroundColor +
      ';image=' + img.naturalWidth + 'x' + img.naturalHeight + ';loads=' + loads + ';';
  });
});
</script>
</body></html>
EOF
  start_server $L -r "$ROOT"
  run timeout -k 5 60 chromium --headless --no-sandbox --disable-gpu --disable-quic \
    --no-first-run --disable-background-networking --disable-component-update \
    --disable-sync --user-data-dir="$BATS_TEST_TMPDIR/chromium" \
    --virtual-time-budget=10000 --dump-dom "http://127.0.0.1:$SERVER_PORT/check.html"
  assert_output --partial "title=Lesson 12: HTTP;"
  assert_output --partial "background=rgb(245, 240, 225);"
  assert_output --partial "image=96x96;loads=2;"
  grep -q '"GET /logo.png HTTP/1.1" 200' "$SERVER_ERR"
  grep -q '"GET /style.css HTTP/1.1" 200' "$SERVER_ERR"
  # the reload asked "has it changed?" (If-None-Match), and the answer was 304
  grep -q '"GET /index.html HTTP/1.1" 304' "$SERVER_ERR"
}
