#!/usr/bin/env bats
# Exercise 11 of 05-selectors/NOTES.md: an idle timeout, --idle SECONDS.
# The event loop's other half is time: the wait gets a timeout (when the
# next sweep is due), and a sweep closes every client that has not been
# ready for SECONDS, logging "PEER idle for SECONDS s: closing it".
# Run with: make exercise L=05 N=11

load ../helpers

L=05-selectors

# peer_of N - the address of the Nth "connection from" line of the server
peer_of() { sed -nE 's/^server: connection from (.*)$/\1/p' "$SERVER_ERR" | sed -n "${1}p"; }

# has_peer N - true once the server has logged N connections
has_peer() { [ -n "$(peer_of "$1")" ]; }

@test "exercise 11: --idle 1 closes a client that sends nothing, and serves on" {
  start_server $L --idle 1
  exec {conn}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
  wait_for_line "$SERVER_ERR" '^server: connection from '
  silent=$(peer_of 1)
  wait_for_line "$SERVER_ERR" "^server: $silent idle for 1 s: closing it\$"
  wait_for_line "$SERVER_ERR" "^server: closed $silent \\(0 bytes\\)\$"
  # The server closed it: our read meets the end of file (status 1), not
  # its own timeout (status > 128).
  status=0
  read -r -t "$LAB_WAIT" line <&$conn || status=$?
  exec {conn}>&-
  [ "$status" -eq 1 ]
  run client $L <<<$'still\nhere'
  assert_success
  assert_output $'STILL\nHERE'
  stop_server
  [ "$STOP_STATUS" -eq 0 ]
}

@test "exercise 11: --idle 2 spares a client that keeps talking, on each backend" {
  for backend in select poll epoll; do
    start_server $L --idle 2 --backend "$backend"
    exec {silent_fd}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    wait_for_line "$SERVER_ERR" '^server: connection from '
    silent=$(peer_of 1)
    exec {talker}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    wait_until "$LAB_WAIT" has_peer 2
    talking=$(peer_of 2)
    # Talk, one line answered at a time, until the silent one is closed.
    i=0 give_up=$((SECONDS + LAB_WAIT))
    until grep -q "^server: $silent idle for 2 s: closing it\$" "$SERVER_ERR"; do
      i=$((i + 1))
      [ "$SECONDS" -lt "$give_up" ]
      printf 'ping %s\n' "$i" >&$talker
      read -r -t "$LAB_WAIT" reply <&$talker
      [ "$reply" = "PING $i" ]
    done
    printf 'last words\n' >&$talker
    read -r -t "$LAB_WAIT" reply <&$talker
    [ "$reply" = "LAST WORDS" ]
    run grep -c "^server: $talking idle" "$SERVER_ERR"
    assert_output 0
    exec {silent_fd}>&- {talker}>&-
    stop_server
    [ "$STOP_STATUS" -eq 0 ]
  done
}

@test "exercise 11: --help lists --idle; --idle 0 or 'soon' exits 2" {
  run "$LAB/$L/server" --help
  assert_success
  assert_output --partial "--idle SECONDS"
  run "$LAB/$L/server" -p 0 --idle 0
  assert_failure 2
  run "$LAB/$L/server" -p 0 --idle soon
  assert_failure 2
}
