#!/usr/bin/env bats
# Exercise 7 of 04-poll/NOTES.md: an idle timeout, `-i SECONDS`, that
# closes a client which has sent nothing for that long. poll()'s timeout
# is the clock: the server sleeps until the nearest deadline, not until
# the next event only.
# Run with: make exercise L=04 N=7

load ../helpers
load idle

L=04-poll

@test "exercise 7: -i 1 closes a silent client, logged 'closed ADDR (0 bytes, idle)'" {
  check_silent_client_closed
}

@test "exercise 7: silence counts from the last bytes received, not from the connection" {
  start_server $L -i 1
  check_talker_outlives_silent
}

@test "exercise 7: -i takes a whole number of seconds; -i 0 or -i x is a usage error (exit 2)" {
  check_idle_option
}
