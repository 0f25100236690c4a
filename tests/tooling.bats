#!/usr/bin/env bats
# tooling: make grade, make handout, make live, L= by number, make bench's
# output folder. Run with `make test-tools` (not part of a lesson's score).

load helpers

# copy_lab DEST - the lab's tracked files, as they are, into DEST
copy_lab() {
  mkdir -p "$1"
  (cd "$LAB" && git ls-files -z | xargs -0 cp --parents -t "$1")
}

@test "make grade: a lesson that does not compile scores 0 with its first error; the others are graded" {
  copy_lab "$BATS_TEST_TMPDIR/alice"
  copy_lab "$BATS_TEST_TMPDIR/bob"
  # bob's 11-udp/server.c loses a semicolon
  sed -i 's/note("stopping");/note("stopping")/' "$BATS_TEST_TMPDIR/bob/11-udp/server.c"
  run timeout 600 make -s -C "$LAB" grade DIR="$BATS_TEST_TMPDIR/alice $BATS_TEST_TMPDIR/bob" L="01 11"
  assert_success
  assert_output --partial "11-udp does not build: 11-udp/server.c"
  assert_output --partial "error: expected"
  assert_output --regexp '\| alice \| ([0-9]+)/\1 \| ([0-9]+)/\2 \|'
  assert_output --regexp '\| bob \| ([0-9]+)/\1 \| 0/[1-9][0-9]* \|'
  [ -f "$LAB/tests/reports/grades/class.csv" ]
  run grep -c '^bob,' "$LAB/tests/reports/grades/class.csv"
  assert_output 1
  [ -f "$LAB/tests/reports/grades/bob/11-udp.tap" ]
}

@test "make grade: a failing test says the server exited, with its status and last lines" {
  copy_lab "$BATS_TEST_TMPDIR/carol"
  # carol's 01 server stops after its first client
  sed -i 's|^        close(conn_fd);$|        close(conn_fd);\n        break;|' "$BATS_TEST_TMPDIR/carol/01-blocking/server.c"
  run timeout 600 make -s -C "$LAB" grade DIR="$BATS_TEST_TMPDIR/carol" L=01
  assert_success
  run cat "$LAB/tests/reports/grades/carol/scoreboard.txt"
  assert_output --partial "exited by itself during the test, with status 0; its stderr ends:"
  assert_output --partial "server: stopping"
}

@test "make handout: TODOs instead of the regions, a clean build, a fresh one-commit repository" {
  out="$BATS_TEST_TMPDIR/handout"
  run make -s -C "$LAB" handout OUT="$out" L="01 11"
  assert_success
  run grep -c 'TODO communication-loop' "$out/01-blocking/server.c"
  assert_output 1
  run grep -c 'LAB-BEGIN' "$out/01-blocking/server.c"
  assert_output 0
  [ ! -e "$out/tests/exercises/01-blocking-7.patch" ]
  [ "$(git -C "$out" rev-list --count HEAD)" -eq 1 ]
  run make -s -C "$out" CFLAGS="-std=c11 -O2 -Wall -Wextra -Wpedantic -Werror" 01-blocking 11-udp
  assert_success
}

@test "L= takes a lesson's number; an unknown one lists the lessons" {
  run make -s -C "$LAB" -n demo L=3
  assert_output --partial "03-select/demo.sh"
  run make -s -C "$LAB" -n demo L=99
  assert_failure
  assert_output --partial "no lesson '99'; the lessons are: 01-blocking"
}

@test "make live: a second start attaches instead of replacing; the session leaves no file behind" {
  command -v tmux >/dev/null || skip "tmux is not installed (apt-get install tmux)"
  export TMUX_TMPDIR="$BATS_TEST_TMPDIR"
  run timeout 30 "$LAB/tests/live" 08-locks-queues </dev/null
  assert_success
  assert_output --partial "tmux session 'lab-08-locks-queues' is running"
  run timeout 30 "$LAB/tests/live" 08-locks-queues </dev/null
  assert_output --partial "is already running"
  tmux kill-server
  run git -C "$LAB" status --porcelain --untracked-files=all -- 08-locks-queues
  assert_output ""
}
