#!/usr/bin/env bats
# Exercise 13 of 08-locks-queues/NOTES.md: a REFUND request that gives a
# ticket back, "REFUND" -> "REFUNDED <n left>". It is a read-modify-write
# of the same count as BUY, so it takes the same exclusive lock and waits
# the same simulated delay; above 1000000000 tickets it answers
# "ERROR too many tickets".
# Run with: make exercise L=08 N=13

load ../helpers

L=08-locks-queues
load office

# tickets_left - the ticket_num in the data file
tickets_left() { sed -n 's/.*"ticket_num": *\([0-9]*\).*/\1/p' "$DATA"; }

# writers_waiting - how many processes wait for the exclusive lock on
# $DATA.lock, from /proc/locks (a waiter's line has "->" before its type)
writers_waiting() {
  local inode
  inode=$(stat -c %i "$DATA.lock")
  grep -cE -- "-> +POSIX +ADVISORY +WRITE .*:$inode " /proc/locks || true
}

# refund_waits_or_not FD - true once a process waits for the lock, or the
# refund has answered on FD, or a second buyer has read the count (then the
# REFUND did not wait for the lock): the test goes on at once and says which
refund_waits_or_not() {
  [ "$(writers_waiting)" -ge 1 ] || read -r -t 0 -u "$1" ||
    [ "$(grep -c 'read ticket_num' "$SERVER_ERR")" -ge 2 ]
}

# woken REGEX - SIGUSR1 to every buyer (ends a simulated delay), true once
# the server's log matches REGEX; wait_until repeats it, so a signal that
# came just before a buyer began its delay (and was forgotten) is sent again
woken() { kill -USR1 -- "-$SERVER_PID"; grep -Eq -- "$1" "$SERVER_ERR"; }

@test "exercise 13: REFUND gives a ticket back: REFUNDED 1 after a sellout; \\r\\n accepted" {
  office -t 0 --delay 0
  open_buyer; fd=$BUYER
  printf 'REFUND\nBUY\nBUY\nREFUND\r\nSEARCH\n' >&$fd
  for want in "REFUNDED 1" "OK 0" "SOLD OUT" "REFUNDED 1" "TICKETS 1"; do
    run reply_on "$fd"
    assert_output "$want"
  done
  exec {fd}>&-
  run cat "$DATA"
  assert_output '{"ticket_num": 1}'
}

@test "exercise 13: a REFUND during a sale waits for the lock, then counts from what the sale left" {
  office -t 5 --delay 600000
  open_buyer; buyer=$BUYER
  printf 'BUY\n' >&$buyer
  wait_for_line "$SERVER_ERR" 'lock taken, read ticket_num=5'
  open_buyer; refunder=$BUYER
  printf 'REFUND\n' >&$refunder
  wait_until "$LAB_WAIT" refund_waits_or_not "$refunder"
  [ "$(grep -c 'read ticket_num' "$SERVER_ERR")" -eq 1 ]   # nobody else read 5
  [ "$(writers_waiting)" -eq 1 ]                           # the REFUND waits
  # End both delays: the sale writes 4, the refund reads 4 and writes 5.
  wait_until "$LAB_WAIT" woken 'wrote ticket_num=5'
  run reply_on "$buyer"
  assert_output "OK 4"
  run reply_on "$refunder"
  assert_output "REFUNDED 5"
  [ "$(tickets_left)" -eq 5 ]
  exec {buyer}>&- {refunder}>&-
}

@test "exercise 13: 20 buyers at once each BUY then REFUND: every sale OK, 20 tickets at the end" {
  office -t 20 --delay 5
  fds=()
  for _ in $(seq 20); do open_buyer; fds+=("$BUYER"); done
  for fd in "${fds[@]}"; do printf 'BUY\nREFUND\n' >&$fd; done
  for fd in "${fds[@]}"; do
    run reply_on "$fd"
    assert_output --regexp '^OK [0-9]+$'
    run reply_on "$fd"
    assert_output --regexp '^REFUNDED [0-9]+$'
    exec {fd}>&-
  done
  [ "$(tickets_left)" -eq 20 ]          # a refund without the lock loses sales
}

@test "exercise 13: REFUND past 1000000000 tickets: ERROR too many tickets, the file unchanged" {
  office -t 1000000000 --delay 0
  open_buyer; fd=$BUYER
  printf 'REFUND\nBUY\nREFUND\n' >&$fd
  for want in "ERROR too many tickets" "OK 999999999" "REFUNDED 1000000000"; do
    run reply_on "$fd"
    assert_output "$want"
  done
  exec {fd}>&-
  [ "$(tickets_left)" -eq 1000000000 ]
}
