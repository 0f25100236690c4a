#!/usr/bin/env bats
# Exercise 3 of 12-http/NOTES.md: Range requests. "Range: bytes=FIRST-LAST"
# (or "bytes=FIRST-") gets "206 Partial Content" with Content-Range and
# only those bytes, sent from that offset (sendfile() takes one); a FIRST
# at or past the end gets "416 Range Not Satisfiable" with "Content-Range:
# bytes */SIZE"; every 200 and 206 says "Accept-Ranges: bytes".
# Run with: make exercise L=12 N=3

load ../helpers

L=12-http
WWW="$LAB/$L/www"

# hcurl ARGS... - curl under timeout, quiet but showing errors
hcurl() { timeout -k 2 "$CLIENT_TIMEOUT" curl -sS --max-time 20 "$@"; }

# header NAME FILE - the value of header NAME in a saved response head
header() { tr -d '\r' <"$2" | awk -v n="$(echo "$1" | tr A-Z a-z)" -F': ' \
  'tolower($1) == n { sub(/^[^:]*: /, ""); print; exit }'; }

setup() { HEAD="$BATS_TEST_TMPDIR/head" BODY="$BATS_TEST_TMPDIR/body"; }

# get_range RANGE PATH - GET PATH with "Range: bytes=RANGE"; the status
# code on stdout, the head in $HEAD and the body in $BODY
get_range() {
  hcurl -D "$HEAD" -o "$BODY" -w '%{http_code}' -H "Range: bytes=$1" \
    "http://127.0.0.1:$SERVER_PORT$2"
}

@test "exercise 3: bytes=10-19 of a small file gets 206, Content-Range and those 10 bytes" {
  start_server $L
  size=$(stat -c %s "$WWW/style.css")
  run get_range 10-19 /style.css
  assert_output 206
  run header Content-Range "$HEAD"
  assert_output "bytes 10-19/$size"
  run header Content-Length "$HEAD"
  assert_output 10
  run header Accept-Ranges "$HEAD"
  assert_output bytes
  cmp "$BODY" <(tail -c +11 "$WWW/style.css" | head -c 10)
  wait_for_line "$SERVER_ERR" '"GET /style.css HTTP/1.1" 206'
}

@test "exercise 3: bytes=FIRST- and a LAST past the end both run to the end of the file" {
  start_server $L
  size=$(stat -c %s "$WWW/logo.png")
  for range in 100- "100-$((size + 1000))"; do
    run get_range "$range" /logo.png
    assert_output 206
    run header Content-Range "$HEAD"
    assert_output "bytes 100-$((size - 1))/$size"
    cmp "$BODY" <(tail -c +101 "$WWW/logo.png")
  done
}

@test "exercise 3: a range in the middle of a 10 MB file comes from that offset" {
  ROOT="$BATS_TEST_TMPDIR/root"
  mkdir -p "$ROOT"
  head -c 10000000 /dev/urandom >"$ROOT/big.bin"
  start_server $L -r "$ROOT"
  run get_range 5000000-5999999 /big.bin
  assert_output 206
  run header Content-Range "$HEAD"
  assert_output "bytes 5000000-5999999/10000000"
  cmp "$BODY" <(tail -c +5000001 "$ROOT/big.bin" | head -c 1000000)
  # the whole file still comes whole, with 200 and Accept-Ranges
  run hcurl -D "$HEAD" -o "$BODY" -w '%{http_code}' "http://127.0.0.1:$SERVER_PORT/big.bin"
  assert_output 200
  run header Accept-Ranges "$HEAD"
  assert_output bytes
  cmp "$BODY" "$ROOT/big.bin"
}

@test "exercise 3: a range past the end gets 416 with 'Content-Range: bytes */SIZE'; the connection goes on" {
  start_server $L
  size=$(stat -c %s "$WWW/style.css")
  run get_range "$size-" /style.css
  assert_output 416
  run header Content-Range "$HEAD"
  assert_output "bytes */$size"
  run hcurl -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' \
    -H "Range: bytes=$((size + 5))-$((size + 9))" "http://127.0.0.1:$SERVER_PORT/style.css" \
    "http://127.0.0.1:$SERVER_PORT/style.css"
  assert_output $'416 1\n416 0'
}

@test "exercise 3: a Range it does not take (several ranges, a suffix, other units) gets the whole file" {
  start_server $L
  for range in "0-1,5-6" "-10" "5-2"; do
    run get_range "$range" /style.css
    assert_output 200
    cmp "$BODY" "$WWW/style.css"
  done
  run hcurl -o "$BODY" -w '%{http_code}' -H "Range: pages=1-2" "http://127.0.0.1:$SERVER_PORT/style.css"
  assert_output 200
  cmp "$BODY" "$WWW/style.css"
}
