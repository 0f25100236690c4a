#!/usr/bin/env bats
# Exercise 12 of 08-locks-queues/NOTES.md: a reader-writer lock. SEARCH
# reads the count under a shared lock (fcntl F_RDLCK on FILE.lock), BUY
# under the exclusive one (F_WRLCK): a SEARCH during a sale waits for it and
# answers the count the sale leaves; a SEARCH drops its lock once answered.
# Run with: make exercise L=08 N=12

load ../helpers

L=08-locks-queues
load office

# waiters TYPE - how many processes wait for a TYPE (READ or WRITE) lock on
# $DATA.lock, from /proc/locks (a waiter's line has "->" before its type)
waiters() {
  local inode
  inode=$(stat -c %i "$DATA.lock")
  grep -cE -- "-> +POSIX +ADVISORY +$1 .*:$inode " /proc/locks || true
}

# searcher_waits_or_answered FD - true once a process waits for the lock
# (as a reader or, wrongly, as a writer), or once FD has a reply to read
# (then the SEARCH did not wait): the test goes on at once and says which
searcher_waits_or_answered() {
  [ "$(waiters READ)" -ge 1 ] || [ "$(waiters WRITE)" -ge 1 ] || read -r -t 0 -u "$1"
}

# woken REGEX - SIGUSR1 to every buyer (ends a simulated delay), true once
# the server's log matches REGEX; wait_until repeats it, so a signal that
# came just before a buyer began its delay (and was forgotten) is sent again
woken() { kill -USR1 -- "-$SERVER_PID"; grep -Eq -- "$1" "$SERVER_ERR"; }

# readers_and_writers R W FD... - true when R readers and W writers wait,
# or once one of the FDs has a reply to read (a SEARCH that did not wait)
readers_and_writers() {
  local readers=$1 writers=$2 fd; shift 2
  for fd in "$@"; do read -r -t 0 -u "$fd" && return 0; done
  [ "$(waiters WRITE)" -gt "$writers" ] && return 0      # a SEARCH as a writer
  [ "$(waiters READ)" -eq "$readers" ] && [ "$(waiters WRITE)" -eq "$writers" ]
}

@test "exercise 12: a SEARCH during a sale waits for it (F_RDLCK in /proc/locks), then says TICKETS 4" {
  office -t 5 --delay 600000
  open_buyer; buyer=$BUYER
  printf 'BUY\n' >&$buyer
  # The buyer holds the exclusive lock and sleeps in its simulated delay.
  wait_for_line "$SERVER_ERR" 'lock taken, read ticket_num=5'
  open_buyer; searcher=$BUYER
  printf 'SEARCH\n' >&$searcher
  wait_until "$LAB_WAIT" searcher_waits_or_answered "$searcher"
  if read -r -t 0 -u "$searcher"; then
    echo "# SEARCH answered during the sale: $(reply_on "$searcher") (no read lock?)" >&2
    false
  fi
  [ "$(waiters WRITE)" -eq 0 ]           # F_WRLCK would make searches take turns
  [ "$(waiters READ)" -eq 1 ]
  # End the sale: the buyer writes 4 and unlocks; the SEARCH reads 4, not 5.
  wait_until "$LAB_WAIT" woken 'wrote ticket_num=4'
  run reply_on "$buyer"
  assert_output "OK 4"
  run reply_on "$searcher"
  assert_output "TICKETS 4"
  exec {buyer}>&- {searcher}>&-
}

@test "exercise 12: two SEARCHes wait for a sale as readers, a second BUY as a writer" {
  office -t 5 --delay 600000
  open_buyer; b1=$BUYER
  printf 'BUY\n' >&$b1
  wait_for_line "$SERVER_ERR" 'lock taken, read ticket_num=5'
  open_buyer; s1=$BUYER; open_buyer; s2=$BUYER; open_buyer; b2=$BUYER
  printf 'SEARCH\n' >&$s1; printf 'SEARCH\n' >&$s2; printf 'BUY\n' >&$b2
  wait_until "$LAB_WAIT" readers_and_writers 2 1 "$s1" "$s2"
  [ "$(waiters READ)" -eq 2 ]
  [ "$(waiters WRITE)" -eq 1 ]
  # End both sales (the second one starts once the first has unlocked).
  wait_until "$LAB_WAIT" woken 'wrote ticket_num=3'
  run reply_on "$b1"; assert_output "OK 4"
  run reply_on "$b2"; assert_output "OK 3"
  # Each SEARCH came after the first sale: 4, or 3 if the second came first.
  for s in "$s1" "$s2"; do
    run reply_on "$s"
    assert_output --regexp '^TICKETS [34]$'
  done
  exec {b1}>&- {b2}>&- {s1}>&- {s2}>&-
}

@test "exercise 12: a SEARCH drops its lock: a BUY beside its open connection is served" {
  office -t 5 --delay 0
  open_buyer; searcher=$BUYER
  printf 'SEARCH\n' >&$searcher
  run reply_on "$searcher"
  assert_output "TICKETS 5"
  # The searcher's process lives on (its connection is open): if it still
  # held the read lock, this BUY would wait for ever.
  open_buyer; buyer=$BUYER
  printf 'BUY\nSEARCH\n' >&$buyer
  run reply_on "$buyer"; assert_output "OK 4"
  run reply_on "$buyer"; assert_output "TICKETS 4"
  printf 'SEARCH\n' >&$searcher
  run reply_on "$searcher"
  assert_output "TICKETS 4"
  exec {searcher}>&- {buyer}>&-
}

@test "exercise 12: --no-lock: a SEARCH takes no lock and answers at once" {
  office -t 5 --no-lock --delay 600000
  open_buyer; buyer=$BUYER
  printf 'BUY\n' >&$buyer
  wait_for_line "$SERVER_ERR" 'read ticket_num=5 \(no lock\)'
  open_buyer; searcher=$BUYER
  printf 'SEARCH\n' >&$searcher
  run reply_on "$searcher"
  assert_output "TICKETS 5"
  wait_until "$LAB_WAIT" woken 'wrote ticket_num=4'
  run reply_on "$buyer"
  assert_output "OK 4"
  exec {buyer}>&- {searcher}>&-
}
