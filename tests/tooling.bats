#!/usr/bin/env bats
# tooling: make grade, make handout, make live, L= by number, make bench's
# output folder. Run with `make test-tools` (not part of a lesson's score;
# tests/demos.bats runs beside it).

load helpers
load checkout

# teardown - as every test's, and the tmux server of a live test (its own,
# under BATS_TEST_TMPDIR: never the user's) if a failure left it running
teardown() {
  if [[ ${TMUX_TMPDIR:-} == "$BATS_TEST_TMPDIR"* ]]; then tmux kill-server 2>/dev/null || true; fi
  lab_teardown
}

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

# pane_shows TARGET REGEX - a line of the tmux pane TARGET (wrapped lines
# joined) matches the extended REGEX
pane_shows() { tmux capture-pane -p -J -t "$1" | grep -Eq -- "$2"; }

# no_session NAME - the tmux session NAME has ended
no_session() { ! tmux has-session -t "$1" 2>/dev/null; }

@test "make live, every lesson: used, then stopped with Ctrl-C and Enter in the server pane: nothing left in the tree, in its temporary folder or in tmux" {
  command -v tmux >/dev/null || skip "tmux is not installed (apt-get install tmux)"
  in_checkout_or_skip
  export TMUX_TMPDIR="$BATS_TEST_TMPDIR"          # a tmux server of our own
  export TMPDIR="$BATS_TEST_TMPDIR/live-tmp"      # where live makes its folder
  mkdir -p "$TMPDIR"
  local before d lesson s url
  before=$(tree_state)
  for d in "$LAB"/[0-9][0-9]-*/; do
    lesson=$(basename "$d")
    s="lab-$lesson"
    # without a terminal it starts the session and says how to reach it
    run timeout 30 make -s -C "$LAB" live L="${lesson%%-*}" </dev/null
    assert_success
    assert_output --partial "tmux session '$s' is running"
    # use it as a class would, in the first pane after the server's
    case $lesson in
    08-*)
      wait_until 10 pane_shows "$s:0.1" 'press Enter'
      tmux send-keys -t "$s:0.1" Enter
      wait_until 20 pane_shows "$s:0.1" '^bought 5 of 5$' ;;
    12-*)
      wait_until 10 pane_shows "$s:0.1" 'http://127\.0\.0\.1:[0-9]+/'
      url=$(tmux capture-pane -p -J -t "$s:0.1" | grep -Eo 'http://127\.0\.0\.1:[0-9]+/' | head -n 1)
      tmux send-keys -t "$s:0.1" "./client -i $url | head -n 1" Enter
      wait_until 20 pane_shows "$s:0.1" '^HTTP/1\.1 200 OK' ;;
    *)
      wait_until 10 pane_shows "$s:0.1" 'type lines'
      tmux send-keys -t "$s:0.1" "hello live" Enter
      wait_until 20 pane_shows "$s:0.1" 'HELLO LIVE' ;;
    esac
    tmux send-keys -t "$s:0.0" C-c
    wait_until 10 pane_shows "$s:0.0" 'server stopped: press Enter'
    tmux send-keys -t "$s:0.0" Enter
    wait_until 10 no_session "$s"
    assert_tree_unchanged "$before" "make live L=$lesson"
    run ls -A "$TMPDIR"
    assert_output ""
  done
}

@test "BENCH_QUICK=1 make bench, then make plot: the committed results and charts untouched, the run's in bench/out/" {
  in_checkout_or_skip
  local before
  before=$(tree_state)
  run env BENCH_QUICK=1 timeout -k 5 600 make -s -C "$LAB" bench </dev/null
  assert_success
  assert_output --partial "Wrote bench/out/results.csv and bench/out/results.md"
  assert_tree_unchanged "$before" "BENCH_QUICK=1 make bench"
  # (bench/plot installs gnuplot when it can: a test installs nothing)
  command -v gnuplot >/dev/null || skip "gnuplot is not installed: make plot not tried (apt-get install gnuplot-nox)"
  run timeout 60 make -s -C "$LAB" plot </dev/null
  assert_success
  assert_output --partial "bench/out/designs.svg"
  assert_tree_unchanged "$before" "make plot"
}
