#!/usr/bin/env bats
# Exercise 2 of 12-http/NOTES.md: conditional requests. A GET or HEAD with
# If-Modified-Since no earlier than the file's Last-Modified gets "304 Not
# Modified" and no body; an older date, or one that does not parse, the
# file with 200 as before.
# Run with: make exercise L=12 N=2

load ../helpers

L=12-http

# hcurl ARGS... - curl under timeout, quiet but showing errors
hcurl() { timeout -k 2 "$CLIENT_TIMEOUT" curl -sS --max-time 20 "$@"; }

# last_modified PATH - the Last-Modified the server sends for PATH
last_modified() {
  hcurl -I "http://127.0.0.1:$SERVER_PORT$1" | tr -d '\r' |
    awk -F': ' 'tolower($1) == "last-modified" { print $2 }'
}

@test "exercise 2: If-Modified-Since equal to Last-Modified gets 304, no body, and the log says 304" {
  start_server $L
  lm=$(last_modified /style.css)
  [ -n "$lm" ]
  run hcurl -D - -o "$BATS_TEST_TMPDIR/body" -H "If-Modified-Since: $lm" \
    "http://127.0.0.1:$SERVER_PORT/style.css"
  assert_success
  assert_line --regexp $'^HTTP/1\\.1 304 Not Modified\r$'
  assert_line --regexp $'^Last-Modified: '"$lm"$'\r$'
  [ ! -s "$BATS_TEST_TMPDIR/body" ]
  wait_for_line "$SERVER_ERR" '"GET /style.css HTTP/1.1" 304'
  # A date after the file's time is fresh too, and so is HEAD
  run hcurl -I -o /dev/null -w '%{http_code}' -H "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT" \
    "http://127.0.0.1:$SERVER_PORT/style.css"
  assert_output 304
}

@test "exercise 2: an older date or one that does not parse gets the whole file with 200" {
  start_server $L
  for since in "Thu, 01 Jan 1970 00:00:00 GMT" "yesterday" "Fri, 01 Jan 2100 00:00:00 GMT junk"; do
    run hcurl -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' -H "If-Modified-Since: $since" \
      "http://127.0.0.1:$SERVER_PORT/style.css"
    assert_output 200
    cmp "$BATS_TEST_TMPDIR/body" "$LAB/$L/www/style.css"
  done
}

@test "exercise 2: after a 304 the kept-alive connection serves the next request" {
  start_server $L
  lm=$(last_modified /index.html)
  run hcurl -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' -H "If-Modified-Since: $lm" \
    "http://127.0.0.1:$SERVER_PORT/index.html" "http://127.0.0.1:$SERVER_PORT/index.html"
  assert_success
  assert_output $'304 1\n304 0'
  wait_for_line "$SERVER_ERR" 'after 2 requests'
}
