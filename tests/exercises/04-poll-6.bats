#!/usr/bin/env bats
# Exercise 6 of 04-poll/NOTES.md: ask poll() for POLLPRI, read the urgent
# byte a client sends with MSG_OOB (recv(..., MSG_OOB)) and log it as
# "ADDR: urgent byte 'C' (POLLPRI)". POLLPRI is level-triggered like the
# rest: a server that logs it without reading the byte is told again at
# once, and logs it again and again.
# Run with: make exercise L=04 N=6

load ../helpers
load urgent

L=04-poll
URGENT_TAG=POLLPRI

@test "exercise 6: each urgent byte is logged once, as \"ADDR: urgent byte 'C' (POLLPRI)\"" {
  check_each_urgent_byte_once
}
