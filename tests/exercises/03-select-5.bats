#!/usr/bin/env bats
# Exercise 5 of 03-select/NOTES.md: an idle timeout, `-i SECONDS`, that
# closes a client which has sent nothing for that long. select()'s timeout
# argument is the clock: each round it is the time left to the nearest
# deadline (or the usual tick, if that is sooner), and after select()
# returns, for an event or a timeout, the server closes whoever is due.
# Run with: make exercise L=03 N=5

load ../helpers
load idle

L=03-select

@test "exercise 5: -i 1 closes a silent client, logged 'closed ADDR (0 bytes, idle)'" {
  check_silent_client_closed
}

@test "exercise 5: silence counts from the last bytes received, not from the connection" {
  # 2 seconds, not 1: the talker must never be the one silent that long
  start_server $L -i 2
  check_talker_outlives_silent
}

@test "exercise 5: -i takes a whole number of seconds; -i 0 or -i x is a usage error (exit 2)" {
  check_idle_option
}
