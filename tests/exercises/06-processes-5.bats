#!/usr/bin/env bats
# Exercise 5 of 06-processes/NOTES.md: isolation --shared keeps money in a
# MAP_SHARED | MAP_ANONYMOUS mapping, so that the parent sees the child's
# change: memory that fork() shares instead of copying.
# Run with: make exercise L=06 N=5

load ../helpers

L=06-processes

@test "exercise 5: isolation --shared: the parent sees the child's 666 at the same address" {
  run timeout -k 2 20 "$LAB/$L/isolation" --shared
  assert_success
  assert_line --index 0 --regexp '^parent \(pid [0-9]+\): money = 100 .* before fork$'
  assert_line --index 1 --regexp '^child  \(pid [0-9]+\): money = 666 '
  assert_line --index 2 --regexp '^parent \(pid [0-9]+\): money = 666 .* after the child ended$'
  addr0=$(grep -o '&money = 0x[0-9a-f]*' <<<"${lines[0]}")
  addr1=$(grep -o '&money = 0x[0-9a-f]*' <<<"${lines[1]}")
  addr2=$(grep -o '&money = 0x[0-9a-f]*' <<<"${lines[2]}")
  [ -n "$addr0" ] && [ "$addr0" = "$addr1" ] && [ "$addr1" = "$addr2" ]
}

@test "exercise 5: without --shared the parent's money still stays 100" {
  run timeout -k 2 20 "$LAB/$L/isolation"
  assert_success
  assert_line --index 1 --regexp '^child  \(pid [0-9]+\): money = 666 '
  assert_line --index 2 --regexp '^parent \(pid [0-9]+\): money = 100 .* after the child ended$'
}
