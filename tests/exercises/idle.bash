# idle.bash - shared by the idle-timeout exercises (03's select(), 04's
# poll()). Load after ../helpers, with L set.

# check_silent_client_closed - under -i 1, a silent client is closed and
# logged "closed ADDR (0 bytes, idle)"; the server goes on serving
check_silent_client_closed() {
  start_server $L -i 1
  fifo="$BATS_TEST_TMPDIR/hold.in"
  start_bg_input holder "$fifo" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 1
  exec {hold}>"$fifo"
  wait_for_line "$BG_OUT" '^holding 1$'
  wait_for_line "$SERVER_ERR" 'closed 127\.0\.0\.1:[0-9]+ \(0 bytes, idle\)'
  exec {hold}>&-
  # the server goes on serving after it
  run client $L <<<"still here"
  assert_success
  assert_output "STILL HERE"
  stop_server
  assert_equal "$STOP_STATUS" 0
}

# check_talker_outlives_silent - the silent client is closed for idle, the
# talker never is: silence counts from the last bytes received
check_talker_outlives_silent() {
  # a talker connects first and keeps talking ...
  start_bg_input talker "$BATS_TEST_TMPDIR/talk.in" "$LAB/$L/client" -p "$SERVER_PORT"
  talker=$BG_PID talk_out=$BG_OUT
  exec {talk}>"$BATS_TEST_TMPDIR/talk.in"
  wait_for_line "$SERVER_ERR" 'connection from'
  # ... a silent client comes after it ...
  start_bg_input holder "$BATS_TEST_TMPDIR/hold.in" "$TOOLS/peer" hold -p "$SERVER_PORT" -n 1
  exec {hold}>"$BATS_TEST_TMPDIR/hold.in"
  wait_for_line "$BG_OUT" '^holding 1$'
  # ... and the talker sends a line at a time until the silent one is closed:
  # (a server that counts from the connection closes the talker first)
  i=0
  until grep -q 'idle' "$SERVER_ERR"; do
    i=$((i + 1))
    echo "ping $i" >&$talk
    wait_for_line "$talk_out" "^PING $i\$"
  done
  echo "last" >&$talk
  wait_for_line "$talk_out" '^LAST$'
  exec {talk}>&- {hold}>&-
  wait_exit "$talker"
  assert_equal "$EXIT_STATUS" 0
  run grep -c 'idle' "$SERVER_ERR"
  assert_output 1
}

# check_idle_option - -i takes whole seconds: -i x and -i 0 are usage errors
# (exit 2), and --help lists -i SECONDS
check_idle_option() {
  run "$LAB/$L/server" -i x
  assert_failure 2
  assert_output --partial "Usage:"
  run "$LAB/$L/server" -i 0
  assert_failure 2
  run "$LAB/$L/server" --help
  assert_success
  assert_output --partial "-i SECONDS"
}
