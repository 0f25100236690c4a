#!/usr/bin/env bats
# Exercise 3 of 12-http/NOTES.md: a limit on request bodies. With
# --max-body BYTES a longer body gets "413 Content Too Large" and a close
# (RFC 9110 sec. 15.5.14): at once when Content-Length says so, before
# any of the body is sent; for a chunked body once its chunk sizes add up
# to more. Shorter bodies are skipped and answered as before.
# Run with: make exercise L=12 N=3

load ../helpers

L=12-http

# raw TEXT - send TEXT (printf escapes) with socat, half-close, print the reply
raw() {
  command -v socat >/dev/null || skip "socat is not installed (apt-get install socat)"
  printf "$1" | timeout -k 2 "$CLIENT_TIMEOUT" socat -t "$LAB_WAIT" - "TCP:127.0.0.1:$SERVER_PORT"
}

@test "exercise 3: a Content-Length over --max-body is answered 413 at once, before the body comes" {
  start_server $L --max-body 100
  exec {conn}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
  printf 'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n' >&$conn
  IFS= read -r -t "$LAB_WAIT" status <&$conn
  [ "$status" = $'HTTP/1.1 413 Content Too Large\r' ]
  run timeout -k 2 "$CLIENT_TIMEOUT" cat <&$conn
  assert_output --partial "Connection: close"
  exec {conn}>&-
  body=$(head -c 100 /dev/zero | tr '\0' a)
  run raw "POST / HTTP/1.1\\r\\nHost: t\\r\\nContent-Length: 100\\r\\n\\r\\n${body}GET /style.css HTTP/1.1\\r\\nHost: t\\r\\nConnection: close\\r\\n\\r\\n"
  assert_output --partial "405 Method Not Allowed"
  assert_output --partial "200 OK"
}

@test "exercise 3: a chunked body over --max-body gets 413; one within it is skipped and the next request answered" {
  start_server $L --max-body 100
  c60=$(head -c 60 /dev/zero | tr '\0' b)
  c50=$(head -c 50 /dev/zero | tr '\0' c)
  run raw "GET / HTTP/1.1\\r\\nHost: t\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n3c\\r\\n$c60\\r\\n3c\\r\\n$c60\\r\\n0\\r\\n\\r\\nGET /style.css HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n"
  assert_output --partial "413 Content Too Large"
  refute_output --partial "200 OK"
  run raw "GET / HTTP/1.1\\r\\nHost: t\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n32\\r\\n$c50\\r\\n32\\r\\n$c50\\r\\n0\\r\\n\\r\\nGET /style.css HTTP/1.1\\r\\nHost: t\\r\\nConnection: close\\r\\n\\r\\n"
  [ "$(grep -c 'HTTP/1.1 200 OK' <<<"$output")" -eq 2 ]
  assert_output --partial "Content-Type: text/css"
}

@test "exercise 3: --max-body takes 0 to 1000000000000; anything else exits 2 with 'bad max body'; without it, no limit" {
  for bad in x -1 1000000000001; do
    run "$LAB/$L/server" -p 0 --max-body "$bad"
    assert_failure 2
    assert_output --partial "bad max body"
  done
  start_server $L
  body=$(head -c 200000 /dev/zero | tr '\0' a)
  run raw "GET / HTTP/1.1\\r\\nHost: t\\r\\nContent-Length: 200000\\r\\nConnection: close\\r\\n\\r\\n$body"
  assert_output --partial "200 OK"
}
