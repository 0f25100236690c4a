# office.bash - shared by the ticket office exercises (08): a server on a
# data file of the test's own, and raw connections to it. Load after
# ../helpers, with L set.

setup() {
  DATA="$BATS_TEST_TMPDIR/tickets.json"
}

# office ARGS... - the ticket server on a data file of this test
office() { start_server $L -f "$DATA" "$@"; }

# open_buyer - a raw connection to the server on a new fd, stored in BUYER
open_buyer() { exec {BUYER}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"; }

# reply_on FD - read one reply line from FD (without \r), print it
reply_on() {
  local line
  read -r -t "$LAB_WAIT" line <&"$1" || return 1
  printf '%s\n' "${line%$'\r'}"
}
