#!/usr/bin/env bats
# Exercise 2 of 12-http/NOTES.md: Cache-Control: max-age. With --max-age
# SECS every 200, 206 and 304 for a file carries "Cache-Control:
# max-age=SECS" (RFC 9111 sec. 5.2.2.1; RFC 9110 sec. 15.4.5 for the
# 304); error answers carry none, and without the option nothing changes.
# Run with: make exercise L=12 N=2

load ../helpers

L=12-http

# hcurl ARGS... - curl under timeout, quiet but showing errors
hcurl() { timeout -k 2 "$CLIENT_TIMEOUT" curl -sS --max-time 20 "$@"; }

# cache_control ARGS... - the Cache-Control line of a response (empty if none)
cache_control() {
  hcurl -D - -o /dev/null "$@" | tr -d '\r' | awk -F': ' 'tolower($1) == "cache-control" { print $2 }'
}

@test "exercise 2: --max-age 60 puts Cache-Control on GET, HEAD, 206 and 304 for a file" {
  start_server $L --max-age 60
  url="http://127.0.0.1:$SERVER_PORT/style.css"
  [ "$(cache_control "$url")" = "max-age=60" ]
  [ "$(cache_control -I "$url")" = "max-age=60" ]
  [ "$(cache_control -r 0-9 "$url")" = "max-age=60" ]
  etag=$(hcurl -I "$url" | tr -d '\r' | awk -F': ' 'tolower($1) == "etag" { print $2 }')
  run hcurl -D - -o /dev/null -H "If-None-Match: $etag" "$url"
  assert_line --index 0 $'HTTP/1.1 304 Not Modified\r'
  assert_line $'Cache-Control: max-age=60\r'
  [ "$(cache_control "http://127.0.0.1:$SERVER_PORT/")" = "max-age=60" ]
}

@test "exercise 2: no Cache-Control on 404, 412 or 416, nor without the option" {
  start_server $L --max-age 60
  [ -z "$(cache_control "http://127.0.0.1:$SERVER_PORT/nope.html")" ]
  [ -z "$(cache_control -H 'If-Match: "x"' "http://127.0.0.1:$SERVER_PORT/style.css")" ]
  [ -z "$(cache_control -r 99999- "http://127.0.0.1:$SERVER_PORT/style.css")" ]
  start_server $L
  [ -z "$(cache_control "http://127.0.0.1:$SERVER_PORT/style.css")" ]
}

@test "exercise 2: --max-age takes 0 to 31536000; anything else exits 2 with 'bad max age'" {
  for bad in x -1 31536001; do
    run "$LAB/$L/server" -p 0 --max-age "$bad"
    assert_failure 2
    assert_output --partial "bad max age"
  done
  start_server $L --max-age 0
  [ "$(cache_control "http://127.0.0.1:$SERVER_PORT/style.css")" = "max-age=0" ]
}
